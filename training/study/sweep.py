"""Study 2: a powered test of HICRA, of its placebo control, and of the paper's boundary condition.

    python -m training.study                   # trains what is missing (resumable), writes docs/study.md
    python -m training.study --report-only     # redraws the page and figures from the committed records
    python -m training.study --workers 2 --max-runs 10

The arms (:data:`GROUPS`), per task regime (``training/tasks/shortcut.py``):

* main, in every regime, on ``seeds`` (10 by default, for a minimum
  detectable effect near 2 points): GRPO, HICRA (alpha 0.2, the regime's
  ground-truth planning phrases), and the placebo (random spans with the
  planning mask's token budget);
* extras, in the planning-bound regime only, on ``extra_seeds``: the
  entropy-only arm with the same budget, the released-code rule, and HICRA
  at alpha 0.1, 0.5 and 1.0.

The top-up (:func:`top_up`): once a regime's main arms have records on all
the main seeds (the pilot), the paired sd of each main comparison's final
accuracy over those seeds sets how many seeds a minimum detectable effect
of ``target_mde`` needs; the regime's main arms get the seeds that are
missing, up to ``max_seeds``. The rule reads the pilot's sd only, never its
mean difference, and the pilot's seeds only, so the plan does not move as
the top-up runs land.

Arms that share a seed see the same prompts and sampling random numbers
(:mod:`training.arms`), and every evaluation uses the same fixed seed on the
same ``eval_n`` held-out problems, so differences are paired by seed. The
runs go in the order of :meth:`StudyConfig.arms` (the main comparison in
the planning-bound regime first, then the boundary condition's regimes,
then the extras), ``workers`` at a time, each with ``cores / workers``
threads. When a run finishes, its compact records (config, status and
metrics; no checkpoints) are copied to ``DOCS/study/runs/<regime>/<arm>/``:
commit them, and a fresh clone continues the sweep where it stopped and
redraws the report with ``--report-only``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from training.hierarchy.stats import sd as sample_sd
from training.hierarchy.stats import seeds_for_effect
from training.runs import RunDir, read_jsonl

ROOT = Path(__file__).resolve().parents[2]
REGIMES = ("multiply-planning", "multiply-intermediate", "multiply-execution")
PRESET_OF = {"multiply-planning": "tiny-planning", "multiply-intermediate": "tiny-intermediate",
             "multiply-execution": "tiny-execution"}
HARD_ERROR = {"multiply-planning": 0.0, "multiply-intermediate": 0.15, "multiply-execution": 0.5}


def reliability(regime: str) -> float:
    """Sort key: the most reliable execution (lowest hard-product error) first; unknown regimes last."""
    return HARD_ERROR.get(regime, float("inf"))


@dataclass(frozen=True)
class Group:
    label: str
    algo: str
    alpha: float = 0.2
    main: bool = False  # in every regime on the main seeds; else planning-bound only, on the extra seeds


GROUPS: dict[str, Group] = {
    "grpo": Group("GRPO", "grpo", main=True),
    "hicra": Group("HICRA (alpha 0.2)", "hicra", main=True),
    "placebo": Group("Placebo (random spans, planning budget)", "hicra-placebo", main=True),
    "entropy": Group("Entropy-only (top-entropy tokens, planning budget)", "hicra-entropy-matched"),
    "released": Group("Released-code rule (planning or high-entropy, correct and long)", "hicra-released"),
    "alpha-0.1": Group("HICRA alpha 0.1", "hicra", 0.1),
    "alpha-0.5": Group("HICRA alpha 0.5", "hicra", 0.5),
    "alpha-1.0": Group("HICRA alpha 1.0", "hicra", 1.0),
}


@dataclass(frozen=True)
class Arm:
    regime: str
    group: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.group}-s{self.seed}"


@dataclass(frozen=True)
class StudyConfig:
    out: str = field(default="runs/study", metadata={"help": "where the runs train (checkpoints; not committed)"})
    docs: str = field(default="docs", metadata={"help": "the report DOCS/study.md; figures, results and compact "
                                                      "records in DOCS/study/"})
    regimes: str = field(default=",".join(REGIMES), metadata={"help": "task regimes (comma-separated)"})
    seeds: str = field(default="0,1,2,3,4,5,6,7,8,9", metadata={"help": "seeds of the main arms"})
    extra_seeds: str = field(default="0,1,2,3,4", metadata={"help": "seeds of the planning-bound extras"})
    groups: str = field(default=",".join(GROUPS), metadata={"help": "arm groups to run"})
    steps: int = field(default=100, metadata={"help": "optimizer steps per run"})
    eval_every: int = field(default=50, metadata={"help": "held-out evaluation every N steps (and at the end)"})
    eval_n: int = field(default=400, metadata={"help": "held-out problems per evaluation (T=0.6)"})
    eval_samples: int = field(default=4, metadata={"help": "samples per held-out problem"})
    eval_seed: int = field(default=0, metadata={"help": "the evaluations' fixed sampling seed"})
    threshold: float = field(default=0.1, metadata={"help": "'steps to reach': held-out accuracy this much above "
                                                            "the run's step-0 accuracy"})
    target_mde: float = field(default=2.0, metadata={"help": "the main comparisons' target minimum detectable "
                                                             "effect (points, 80% power)"})
    max_seeds: int = field(default=16, metadata={"help": "the top-up's cap on a regime's main seeds (0: no "
                                                         "top-up)"})
    workers: int = field(default=2, metadata={"help": "runs at once"})
    max_runs: int = field(default=0, metadata={"help": "train at most this many runs in this call (0: all)"})

    def list_of(self, name: str, cast=int) -> list:
        text = getattr(self, name)
        try:
            items = [cast(s.strip()) for s in text.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--{name.replace('_', '-')}: comma-separated values, got {text!r}") from None
        if len(set(items)) != len(items):
            raise ValueError(f"--{name.replace('_', '-')}: a value appears twice in {text!r}")
        return items

    def arms(self) -> list[Arm]:
        """In priority order: a sweep cut short still holds complete seed pairs of the main comparison."""
        regimes, groups = self.list_of("regimes", str), self.list_of("groups", str)
        unknown = [r for r in regimes if r not in REGIMES] + [g for g in groups if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown regime or group {unknown[0]!r}; regimes: {', '.join(REGIMES)}; groups: "
                             f"{', '.join(GROUPS)}")
        for name in ("steps", "eval_every", "eval_n", "eval_samples", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_seeds < 0 or not self.target_mde > 0:
            raise ValueError("--max-seeds must be 0 (no top-up) or more, and --target-mde above 0")
        main = [g for g in groups if GROUPS[g].main]
        extras = [g for g in groups if not GROUPS[g].main]
        seeds, extra_seeds = self.list_of("seeds"), self.list_of("extra_seeds")
        first = [r for r in regimes if r == "multiply-planning"]
        order = first + [r for r in ("multiply-execution", "multiply-intermediate") if r in regimes]
        arms = [Arm(r, g, s) for r in order for s in seeds for g in main if g != "placebo" or r == "multiply-planning"]
        arms += [Arm("multiply-planning", g, s) for s in extra_seeds for g in extras if "multiply-planning" in regimes]
        arms += [Arm(r, "placebo", s) for r in order if r != "multiply-planning" for s in seeds if "placebo" in main]
        for r in order:
            plan = top_up(self, r)
            arms += [Arm(r, g, s) for s in (plan["added"] if plan else []) for g in main]
        return arms

    @property
    def folder(self) -> Path:
        """The study's folder in the docs (``DOCS/study``): records, figures, results, runtime."""
        return ROOT / self.docs / "study"

    def records(self, arm: Arm) -> Path:
        return self.folder / "runs" / arm.regime / arm.name


def final_accuracy(folder: Path, steps: int) -> float | None:
    """A finished run's last held-out accuracy, in points, from its compact records (None if not finished)."""
    if not finished(folder, steps):
        return None
    evals = [r for r in read_jsonl(folder / "metrics.jsonl") if r.get("kind") == "eval"]
    return 100.0 * evals[-1]["eval/accuracy"] if evals else None


def top_up(cfg: StudyConfig, regime: str) -> dict | None:
    """The seeds a regime's main arms need beyond the pilot (the main seeds) for a minimum detectable effect of
    ``target_mde`` at the pilot's paired sd; None until every main arm has records on every pilot seed, or when
    ``max_seeds`` is 0.

    Returns ``{"pilot": n, "sd": {comparison: sd}, "needed": n, "added": [seed, ...]}``: ``needed`` is the
    most any main comparison needs (None when one needs more than ``max_seeds``), and ``added`` the seeds after
    the pilot's largest, up to ``max_seeds`` seeds in all.
    """
    groups = [g for g in cfg.list_of("groups", str) if g in GROUPS and GROUPS[g].main]
    pilot = cfg.list_of("seeds")
    if not cfg.max_seeds or "hicra" not in groups or len(pilot) < 2:
        return None
    acc = {g: {s: final_accuracy(cfg.records(Arm(regime, g, s)), cfg.steps) for s in pilot} for g in groups}
    if any(v is None for per_seed in acc.values() for v in per_seed.values()):
        return None
    sds = {f"hicra-{g}": sample_sd([acc["hicra"][s] - acc[g][s] for s in pilot]) for g in groups if g != "hicra"}
    counts = [seeds_for_effect(v, cfg.target_mde, most=cfg.max_seeds) for v in sds.values()]
    needed = None if None in counts else max(counts, default=len(pilot))
    total = min(cfg.max_seeds, max(len(pilot), needed or cfg.max_seeds))
    added = list(range(max(pilot) + 1, max(pilot) + 1 + total - len(pilot)))
    return {"pilot": len(pilot), "sd": sds, "needed": needed, "added": added}


# ----------------------------------------------------------------- training


def arm_command(cfg: StudyConfig, arm: Arm, threads: int, resume: bool) -> list[str]:
    """The run's command line: ``--resume`` from its checkpoint, or ``--overwrite`` when a run cut off before its
    first checkpoint left a folder with nothing to resume (the trainer refuses an existing ``--out`` otherwise)."""
    g = GROUPS[arm.group]
    cmd = [sys.executable, "-m", "training", "run", "--preset", PRESET_OF[arm.regime], "--algo", g.algo,
           "--alpha", str(g.alpha), "--seed", str(arm.seed), "--steps", str(cfg.steps),
           "--eval-every", str(cfg.eval_every), "--eval-n", str(cfg.eval_n), "--eval-samples", str(cfg.eval_samples),
           "--eval-seed", str(cfg.eval_seed),
           "--checkpoint-every", str(min(50, cfg.steps)), "--threads", str(threads),
           "--out", str(Path(cfg.out) / arm.regime / arm.name)]
    if resume:
        return cmd + ["--resume"]
    return cmd + (["--overwrite"] if (Path(cfg.out) / arm.regime / arm.name).exists() else [])


def finished(folder: Path, steps: int) -> bool:
    status = RunDir(folder, readonly=True).status() if folder.exists() else {}
    return status.get("state") == "finished" and status.get("step") == steps


def arm_state(cfg: StudyConfig, arm: Arm) -> str:
    """'done' (its compact records are in the docs), 'partial' (a checkpoint to resume from) or 'new'."""
    if finished(cfg.records(arm), cfg.steps):
        return "done"
    run = RunDir(Path(cfg.out) / arm.regime / arm.name, readonly=True)
    return "partial" if run.path.exists() and run.latest_checkpoint() is not None else "new"


def keep_records(run: Path, dest: Path) -> None:
    """A finished run's config, status and metrics (no checkpoints, no samples) into the docs."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "status.json", "metrics.jsonl"):
        shutil.copyfile(run / name, dest / name)


def run_arms(cfg: StudyConfig, log=print) -> int:
    """Train the arms not yet done (at most ``max_runs``), and then the top-up's arms once a pilot completes;
    returns how many finished."""
    trained = 0
    while True:
        arms = [a for a in cfg.arms() if arm_state(cfg, a) != "done"]
        if cfg.max_runs:
            arms = arms[:cfg.max_runs - trained]
        if not arms:
            return trained
        trained += run_batch(cfg, arms, log)
        if not any(arm_state(cfg, a) == "done" for a in arms):
            raise RuntimeError("the runs exited cleanly but none has finished records; see the logs in "
                               f"{Path(cfg.out) / 'logs'}")


def run_batch(cfg: StudyConfig, arms: list[Arm], log=print) -> int:
    """Train ``arms``, ``workers`` at a time; returns how many finished (raises if any failed)."""
    threads = max(1, (os.cpu_count() or 1) // max(1, cfg.workers))
    logs = Path(cfg.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def one(arm: Arm) -> tuple[Arm, int]:
        resumed = arm_state(cfg, arm) == "partial"
        cmd = arm_command(cfg, arm, threads, resume=resumed)
        started = time.time()
        with open(logs / f"{arm.regime}-{arm.name}.log", "a") as fh:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                    p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}).returncode
        run = Path(cfg.out) / arm.regime / arm.name
        if rc == 0 and finished(run, cfg.steps):
            keep_records(run, cfg.records(arm))
            record_runtime(cfg, time.time() - started, resumed)
        log(f"{arm.regime} {arm.name}: {'finished' if rc == 0 else f'FAILED (exit {rc})'} "
            f"in {time.time() - started:.0f} s", flush=True)
        return arm, rc

    log(f"training {len(arms)} run(s), {cfg.workers} at once, {threads} thread(s) each", flush=True)
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        results = list(pool.map(one, arms))
    failed = [f"{a.regime}/{a.name}" for a, rc in results if rc != 0]
    if failed:
        raise RuntimeError(f"run(s) failed: {', '.join(failed)}; rerun the command to resume them")
    return len(results)


_runtime_lock = threading.Lock()


def record_runtime(cfg: StudyConfig, seconds: float, resumed: bool = False) -> None:
    """Add one finished run's wall time to ``runtime.json`` in the study's folder as it finishes (a sweep takes many
    calls, and a call may be cut short): run-hours in all, and how many ran at once. A resumed run's time
    lacks the part before the stop, so it is kept apart and left out of the pace."""
    path = cfg.folder / "runtime.json"
    with _runtime_lock:
        info = json.loads(path.read_text()) if path.exists() else {}
        prefix = "resumed_" if resumed else ""
        info[f"{prefix}run_seconds"] = info.get(f"{prefix}run_seconds", 0.0) + seconds
        info[f"{prefix}runs"] = info.get(f"{prefix}runs", 0) + 1
        info.update(cores=os.cpu_count(), workers=cfg.workers)
        info.pop("train_seconds", None)  # the old, per-call record
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(info, indent=2) + "\n")
