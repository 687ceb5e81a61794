"""The engine: tasks, the GRPO / HICRA loop, runs and jobs, the CLI (``python -m training``), the studies.

``__version__`` is the lab's version (CHANGELOG.md): the app's footer shows it and every run's
``config.json`` records it as ``lab_version``.
"""

__version__ = "0.2.0"
