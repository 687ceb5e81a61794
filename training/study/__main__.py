"""``python -m training.study``: see :mod:`training.study.sweep`."""

import sys

from training.study.sweep import main

sys.exit(main())
