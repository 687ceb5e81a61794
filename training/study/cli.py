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


def main(argv=None, config=StudyConfig, report=write_report, prog: str = "python -m training.study",
         about: str | None = None) -> int:
    """Parse the flags of ``config``'s fields, train what is missing (unless ``--report-only``), then ``report``.

    Study 3 (:mod:`training.study.study3`) calls this with its own config and report writer.
    """
    ap = argparse.ArgumentParser(prog=prog, description=(about or sweep.__doc__).split("\n\n")[0])
    for name, f in config.__dataclass_fields__.items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(f.default), default=f.default,
                        help=f.metadata.get("help", "").replace("%", "%%"))
    ap.add_argument("--report-only", action="store_true", help="only redraw the page and figures from the records")
    ap.add_argument("--dry-run", action="store_true", help="list what would train (and the first command); train "
                                                          "nothing, write nothing")
    args = ap.parse_args(argv)
    cfg = config(**{k: v for k, v in vars(args).items() if k not in ("report_only", "dry_run")})
    try:
        cfg.arms()
        if args.dry_run:
            print(dry_run(cfg))
            return 0
        if not args.report_only:
            run_arms(cfg)
        path = report(cfg)
    except (ValueError, RuntimeError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


def dry_run(cfg: StudyConfig) -> str:
    """What a call would train: the arms by state, and the first command it would run."""
    arms = cfg.arms()
    states = [sweep.arm_state(cfg, a) for a in arms]
    todo = [a for a, s in zip(arms, states) if s != "done"]
    if cfg.max_runs:
        todo = todo[:cfg.max_runs]
    lines = [f"{len(arms)} planned runs: {states.count('done')} with records, {states.count('partial')} to resume, "
             f"{states.count('new')} new; this call would train {len(todo)}."]
    if todo:
        threads = max(1, (sweep.os.cpu_count() or 1) // max(1, cfg.workers))
        cmd = sweep.arm_command(cfg, todo[0], threads, resume=sweep.arm_state(cfg, todo[0]) == "partial")
        lines.append("first: python " + " ".join(cmd[1:]))
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
