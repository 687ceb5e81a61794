"""Study 3: HICRA at a fixed step budget, as pre-registered in ``docs/study3-plan.md``.

    python -m training.study.study3                  # trains what is missing (resumable), writes docs/study3.md
    python -m training.study.study3 --report-only    # redraws the page from the committed records
    python -m training.study.study3 --max-runs 8     # at most 8 runs in this call (two complete seeds)

204 runs (4 arms x 51 seeds, 50 steps each; about 3.5-4 minutes a run on
2 cores, 12-14 run-hours): run it in as many calls as it takes, and commit
``docs/study3/runs/`` after each (a fresh clone resumes where the records
stop; an interrupted run resumes from its checkpoint in ``runs/study3``).
The design lives in :mod:`training.study.study3_analysis`, the page in
:mod:`training.study.study3_report`; the training is Study 2's
(:func:`training.study.sweep.run_arms`).
"""

from __future__ import annotations

from training.study.cli import main as study_main
from training.study.study3_analysis import Study3Config
from training.study.study3_report import write_report


def main(argv=None) -> int:
    return study_main(argv, config=Study3Config, report=write_report, prog="python -m training.study.study3",
                      about=__doc__)


if __name__ == "__main__":
    raise SystemExit(main())
