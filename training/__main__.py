"""Command line.

    python -m training run --preset tiny-cpu --algo hicra --steps 200 --seed 0 --out runs/NAME [--resume]
    python -m training compare --algos grpo,hicra --seeds 0,1,2 --steps 200 --out runs/SWEEP
    python -m training summary runs/NAME
    python -m training eval --model tiny --task multiply --n 500 --samples 4 --temperature 0.6 --json

Bad input never gets as far as loading a model: the config is validated
(``RunConfig.validate``, the device checked against this machine) and the
run folder checked (``check_run_folder``) and created first. A folder that
already holds a run's records is refused unless ``--resume`` continues it
or ``--overwrite`` replaces its records (two runs never mix in one folder).
Every expected failure is one line on stderr: exit code 2 for bad settings,
a model or data set that cannot be loaded, or a run folder the system
refuses (any OSError), and a folder this command made is removed again;
exit code 1 for a run that started and failed (diverged, collapsed, a full
disk, out of memory: its status says "failed" with the same message and
the cause; docs/failures.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import warnings
from pathlib import Path

from training.engine.modeling import ModelLoadError
from training.guard import RunFailed, failure_cause



def _eval(args) -> int:
    from training.config import RunConfig
    from training.evaluate import evaluate
    from training.engine.modeling import load_model
    from training.tasks import default_model, get_task

    flags = {"eval_n": "--n", "eval_samples": "--samples", "eval_temperature": "--temperature"}
    try:  # the same ranges as a run's evaluation settings, checked before the model loads
        RunConfig(model=args.model, task=args.task, eval_n=args.n, eval_samples=args.samples,
                  eval_temperature=args.temperature, max_new_tokens=args.max_new_tokens, seed=args.seed).validate()
    except ValueError as err:
        field = str(err).split(" ", 1)[0]
        print(f"error: {flags.get(field, '--' + field.replace('_', '-'))} {str(err).split(' ', 1)[1]}",
              file=sys.stderr)
        return 2
    try:
        check_device(args.device or "")
        task = get_task(args.task)
        lm = load_model(default_model(args.model, args.task), device=args.device)
    except (ModelLoadError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    figures, _ = evaluate(lm, task, n=args.n, samples=args.samples, temperature=args.temperature,
                          seed=args.seed, max_new_tokens=args.max_new_tokens)
    if figures["n"] < args.n:  # a held-out split smaller than --n (a task regime's has 485 problems)
        print(f"note: {task.name}'s held-out split has {figures['n']} problems: evaluated all {figures['n']}, "
              f"not --n {args.n}", file=sys.stderr)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>22}: {value}")
    return 0


def _config(args):
    """The preset (or --config file), with the flags the user gave on top."""
    from dataclasses import fields, replace
    from pathlib import Path

    from training.config import RunConfig, preset

    overrides = {f.name: getattr(args, f.name) for f in fields(RunConfig)
                 if getattr(args, f.name, None) is not None}
    if getattr(args, "config", None):
        try:
            base = RunConfig.from_json(json.loads(Path(args.config).read_text()))
        except (OSError, json.JSONDecodeError, TypeError) as err:
            raise ValueError(f"{args.config}: not a usable config file ({err})") from None
        return replace(base, **overrides).validate()
    return preset(args.preset, **overrides)


def check_device(device: str) -> None:
    """A ValueError unless ``device`` names a device this machine has (empty: the GPU if any, else the CPU)."""
    from training.config import DEVICE_RE

    if not isinstance(device, str) or not DEVICE_RE.match(device):
        raise ValueError(f"device must be empty (a GPU if there is one), cpu, cuda or cuda:N, got {device!r:.40}")
    kind, _, index = device.partition(":")
    if kind in ("", "cpu"):
        return
    import torch

    backend = getattr(torch, kind, None)
    if kind == "mps":
        count = int(torch.backends.mps.is_available())
    else:
        count = backend.device_count() if backend is not None and backend.is_available() else 0
    if count == 0:
        raise ValueError(f"device {device}: this machine has no {kind} device (use cpu, or leave --device empty)")
    if index and int(index) >= count:
        raise ValueError(f"device {device}: this machine has {count} {kind} device{'s' if count > 1 else ''} "
                         f"({kind}:0 to {kind}:{count - 1})")


def _run_folder(out: str, resume: bool, overwrite: bool, arms: list[str] = ()) -> bool:
    """Check and create the run folder before any model loads; True when this command made it.

    A folder with a run's records needs ``resume`` (continue it) or
    ``overwrite`` (remove its records first: metrics, samples, checkpoints,
    status and the arms' folders; other files stay). A run still running
    there is refused either way. A ValueError or OSError says why not.
    """
    from training.jobs import _alive
    from training.runs import RunDir, check_run_folder, has_records, remove_records

    path = check_run_folder(out)
    made = not path.exists()
    if resume and overwrite:
        raise ValueError("--resume continues the run in --out and --overwrite replaces it: give one")
    if not made:
        if not path.is_dir():
            raise ValueError(f"--out {out}: exists and is not a folder")
        status = RunDir(path).status()
        pid = status.get("pid")
        if status.get("state") == "running" and pid != os.getpid() and _alive(pid):  # the job manager's: this one
            raise ValueError(f"--out {out}: a run is running there now (pid {status['pid']}); stop it first")
        if has_records(path) and not resume and not overwrite:
            raise ValueError(f"--out {out} already holds a run's records: add --resume to continue it, "
                             "--overwrite to replace it, or pick another folder")
        if overwrite:
            remove_records(path, arms)
    RunDir(path).create()
    return made


def _unmake(out: str, made: bool) -> None:
    """Remove a folder this command made when the run failed before writing any record."""
    from training.runs import has_records

    path = Path(out)
    if made and path.is_dir() and not has_records(path):
        shutil.rmtree(path, ignore_errors=True)


def _failed_run(err: BaseException, show, out: str, made: bool) -> int:
    """One line on stderr for a run that failed; exit code 2 before it started, 1 after."""
    show.close()
    if isinstance(err, RunFailed):
        print(f"error: {err}", file=sys.stderr)
        return 1
    if isinstance(err, (ModelLoadError, ValueError)):
        _unmake(out, made)
        print(f"error: {err}", file=sys.stderr)
        return 2
    cause, message = failure_cause(err)
    if cause == "crashed":
        raise err  # a bug: the traceback is what a report needs
    _unmake(out, made)
    print(f"error: {message}", file=sys.stderr)
    return 1


def _run(args) -> int:
    from training.arms import train

    try:
        cfg = _config(args)
        check_device(cfg.device)
        made = _run_folder(args.out, args.resume, args.overwrite)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    show = _Printer(args.out)
    try:
        for record in train(cfg, args.out, resume=args.resume):
            show(record)
    except Exception as err:  # noqa: BLE001 - sorted by _failed_run: a message, or the traceback of a bug
        return _failed_run(err, show, args.out, made)
    show.close()
    return 0


class _Printer:
    """One compact line per step (step x/N, elapsed, ETA), or one progress bar redrawn in place on a terminal;
    evaluations always get a line of their own. The numbers come from the run directory (training.progress)."""

    def __init__(self, out, names: list[str] | None = None):
        from pathlib import Path

        self.out, self.names = Path(out), names
        self.tty = sys.stdout.isatty()
        self.open = False
        self.warned: set = set()  # arms whose planning-coverage warning was printed (once each, on stderr)

    def __call__(self, record: dict, arm: int | None = None) -> None:
        from training.progress import bar, read_progress, record_line

        name = self.names[arm] if self.names and arm is not None else ""
        if record.get("planning/warning") and arm not in self.warned:
            self.close()
            who = f"{name}, " if name else ""
            print(f"warning ({who}step {record['step']}): {record['planning/warning']}", file=sys.stderr, flush=True)
            self.warned.add(arm)
        p = read_progress(self.out)
        line = record_line(record, p, name)
        if self.tty and record.get("kind") == "step":
            sys.stdout.write(f"\r{bar(p.fraction, 24)} {line}"[:max(40, _columns() - 1)] + "\x1b[K")
            self.open = True
        else:
            self.close()
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def close(self) -> None:
        if self.open:
            sys.stdout.write("\n")
            self.open = False


def _columns() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


def _compare(args) -> int:
    import os
    import time

    from training.arms import compare_arms, train_arms
    from training.runs import RunDir

    try:
        cfg = _config(args)
        algos = [a.strip() for a in args.algos.split(",") if a.strip()]
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        arms = compare_arms(cfg, algos, seeds, args.out)
        check_device(cfg.device)
        made = _run_folder(args.out, args.resume, args.overwrite, [out.name for _, out in arms])
        sweep = RunDir(args.out)  # the sweep's own status, for the job manager
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    names = [out.name for _, out in arms]
    print(f"{len(arms)} arms on one base model: {', '.join(names)}", flush=True)
    sweep.set_status("running", pid=os.getpid(), started=time.time(), ended=None, step=0, steps=cfg.steps,
                     arms=names, arm_steps={n: 0 for n in names})
    show = _Printer(args.out, names)
    try:
        for i, record in train_arms(arms, resume=args.resume, sweep=sweep):
            show(record, i)
    except BaseException as err:  # a guard stopped an arm (its message names it; the others ran to their end)
        cause, message = failure_cause(err)
        try:
            sweep.set_status("failed", error=message, cause=cause, ended=time.time())
        except OSError:
            pass  # a full disk: the arms' statuses and the message below say it
        if not isinstance(err, Exception):
            raise
        return _failed_run(err, show, args.out, made)
    show.close()
    states = {RunDir(out).status().get("state") for _, out in arms}
    sweep.set_status("stopped" if "stopped" in states else "finished", ended=time.time(),
                     step=min(RunDir(out).status().get("step", 0) for _, out in arms))
    return 0


def _summary(args) -> int:
    import json
    from pathlib import Path

    from training.runs import RunDir, read_jsonl

    run = RunDir(args.run)
    if not run.metrics.is_file():
        from training.progress import arm_folders

        arms = [a for a in arm_folders(Path(args.run)) if a != Path(args.run)]
        for i, arm in enumerate(arms):  # a sweep (the folder compare writes): each arm in turn
            print("" if i else f"{args.run}: a sweep of {len(arms)} arms")
            _summary(argparse.Namespace(run=str(arm)))
        if arms:
            return 0
        print(f"error: {args.run}: no metrics.jsonl (not a run directory?)", file=sys.stderr)
        return 2
    records = read_jsonl(run.metrics)  # torn or corrupt lines are skipped with a warning
    status = run.status()
    try:
        cfg = json.loads((Path(args.run) / "config.json").read_text())
    except (OSError, ValueError):
        cfg = {}
    cfg = cfg if isinstance(cfg, dict) else {}
    start = _num(status.get("started")) or next((t for r in records if (t := _num(r.get("time")))), 0.0)
    print(f"{args.run}: {cfg.get('algo', '?')} on {cfg.get('model', '?')}, state {status.get('state', '?')}, "
          f"step {status.get('step', '?')}")
    if status.get("error"):
        print(f"  {status.get('cause', 'failed')}: {status['error']}")
    print(f"{'step':>5} {'minutes':>8} {'held-out acc':>13} {'pass@k':>7} {'exec err':>9} {'strat err':>10}")
    skipped = 0
    for r in records:
        if r.get("kind") != "eval":
            continue
        step, when = r.get("step"), _num(r.get("time"))
        acc, pass_k = _num(r.get("eval/accuracy")), _num(r.get("eval/pass_at_k"))
        if not isinstance(step, int) or when is None or acc is None or pass_k is None:
            skipped += 1
            continue
        print(f"{step:5d} {(when - start) / 60:8.1f} {acc:13.3f} {pass_k:7.3f} "
              f"{str(r.get('eval/errors/execution', '-')):>9} {str(r.get('eval/errors/strategy', '-')):>10}")
    if skipped:
        print(f"({skipped} evaluation record{'s' if skipped > 1 else ''} without a step, time, accuracy or pass@k "
              "skipped)", file=sys.stderr)
    return 0


def _num(value) -> float | None:
    """A finite number, or None (a record written by hand, or damaged)."""
    import math

    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else None


def _add_config_flags(parser, skip: tuple[str, ...] = ()) -> None:
    from dataclasses import MISSING, fields

    from training.config import RunConfig, range_text

    for f in fields(RunConfig):
        if f.name in skip:
            continue
        kind = type(f.default) if f.default is not MISSING else str
        flag = "--" + f.name.replace("_", "-")
        if kind is bool:
            parser.add_argument(flag, dest=f.name, action=argparse.BooleanOptionalAction, default=None,
                                help=(f.metadata.get("help") or "").replace("%", "%%"))
        else:
            lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
            span = f"; {range_text(lo, hi)}" if hi is not None else ""
            parser.add_argument(flag, dest=f.name, type=kind, default=None, choices=f.metadata.get("choices"),
                                help=f"{f.metadata.get('help')} (default {f.default!r}{span})".replace("%", "%%"))


def _preset_flag(parser) -> None:
    from training.config import PRESET_HELP, PRESETS

    # argparse formats help strings with %: a preset's "15%-carry-error" must reach it as "%%"
    listing = "; ".join(f"{name}: {PRESET_HELP.get(name, '')}" for name in PRESETS).replace("%", "%%")
    parser.add_argument("--preset", default="tiny-cpu", choices=list(PRESETS), metavar="NAME",
                        help=f"named configuration, one of {listing} (default tiny-cpu); flags override its fields")


def main(argv=None) -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)  # library deprecation notices, not ours
    ap = argparse.ArgumentParser(prog="python -m training", description="HICRA Lab engine")
    sub = ap.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train one LoRA GRPO / HICRA run",
                         usage="python -m training run --out DIR [--preset NAME] [--resume] [FLAGS]  (--help lists them)")
    _preset_flag(run)
    run.add_argument("--out", required=True, help="run directory")
    run.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    run.add_argument("--overwrite", action="store_true", help="replace the run already in --out (its metrics, "
                                                              "samples and checkpoints are deleted first)")
    run.add_argument("--config", default=None, help="a config.json to start from instead of the preset")
    _add_config_flags(run)
    run.set_defaults(func=_run)
    cmp = sub.add_parser("compare", help="fair A/B: algorithms x seeds on one base model, interleaved",
                         usage="python -m training compare --out DIR [--algos A,B] [--seeds 0,1,2] [FLAGS]  "
                               "(--help lists them)")
    _preset_flag(cmp)
    cmp.add_argument("--algos", default="grpo,hicra", help="comma-separated algorithms")
    cmp.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    cmp.add_argument("--out", required=True, help="sweep directory; each arm writes OUT/<algo>-s<seed>")
    cmp.add_argument("--resume", action="store_true", help="continue every arm from its last checkpoint")
    cmp.add_argument("--overwrite", action="store_true", help="replace the sweep already in --out (its arms' "
                                                              "records and checkpoints are deleted first)")
    cmp.add_argument("--config", default=None, help="a config.json to start from instead of the preset")
    _add_config_flags(cmp, skip=("algo", "seed"))
    cmp.set_defaults(func=_compare)
    sm = sub.add_parser("summary", help="held-out accuracy over a run, with elapsed minutes")
    sm.add_argument("run", help="run directory")
    sm.set_defaults(func=_summary)
    ev = sub.add_parser("eval", help="evaluate a model on a task's held-out split")
    ev.add_argument("--model", default="tiny", help="'tiny' (the bundled model of the task's regime), a local "
                                                    "folder or a hub name")
    ev.add_argument("--task", default="multiply", help="task: multiply, multiply-planning, multiply-intermediate, "
                                                       "multiply-execution, gsm8k, math or jsonl:PATH")
    ev.add_argument("--n", type=int, default=500, help="held-out problems")
    ev.add_argument("--samples", type=int, default=4, help="samples per problem (avg@k, pass@k)")
    ev.add_argument("--temperature", type=float, default=0.6, help="sampling temperature (0 = greedy)")
    ev.add_argument("--seed", type=int, default=0, help="sampling seed")
    ev.add_argument("--max-new-tokens", type=int, default=160, help="response length limit")
    ev.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: GPU if any)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.set_defaults(func=_eval)
    args = ap.parse_args(argv)
    try:
        return args.func(args)
    except OSError as err:  # a run folder the system refuses (permissions, a full disk, a file in the way)
        where = f" ({err.filename})" if err.filename else ""
        print(f"error: {err.strerror or err}{where}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
