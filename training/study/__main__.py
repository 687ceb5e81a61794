"""``python -m training.study``: see :mod:`training.study.cli`."""

import sys

from training.study.cli import main

sys.exit(main())
