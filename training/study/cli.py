"""``python -m training.study``: train what the sweep is missing, then write the report.

The sweep (:mod:`training.study.sweep`) and the report
(:mod:`training.study.report`) meet here, so neither imports the other's
caller: sweep -> analysis -> figures -> report, one way.
"""

from __future__ import annotations

import argparse
import sys

from training.study import sweep
from training.study.report import write_report
from training.study.sweep import StudyConfig, run_arms


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.study", description=sweep.__doc__.split("\n\n")[0])
    for name, f in StudyConfig.__dataclass_fields__.items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(f.default), default=f.default,
                        help=f.metadata.get("help", "").replace("%", "%%"))
    ap.add_argument("--report-only", action="store_true", help="only redraw the page and figures from the records")
    args = ap.parse_args(argv)
    cfg = StudyConfig(**{k: v for k, v in vars(args).items() if k != "report_only"})
    try:
        cfg.arms()
        if not args.report_only:
            run_arms(cfg)
        path = write_report(cfg)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
