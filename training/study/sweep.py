"""The study: the two phases and HICRA vs GRPO on the bundled task, in one command.

    python -m training.study --out runs/study --docs docs

1. Mines a Strategic Gram set from worked solutions of training problems
   (``OUT/mined-sg.json``), so one arm can use mined planning phrases.
2. Trains every arm with ``python -m training run`` (``workers`` processes at
   once, each with ``cores / workers`` threads). Arms that share a seed see
   the same prompts and sampling random numbers (see ``training.arms``), so
   differences are paired by seed. Finished arms are kept, interrupted ones
   resumed: rerunning the command continues a sweep.
3. Writes the report, ``DOCS/study.md``, with its figures and numbers in
   ``DOCS/study/`` (see :mod:`training.study.report`; the numbers come from
   :mod:`training.study.analysis`, the figures from :mod:`training.study.figures`).

The arms: GRPO and HICRA on ``seeds``; the ablations (high-entropy-only and
placebo amplification) and HICRA with other planning-phrase sources (mined,
a generic preset) on ``ablation_seeds``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from training.runs import RunDir

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Arm:
    """One training run of the study."""

    group: str  # the row it belongs to in the report, e.g. "hicra-mined"
    algo: str
    sg_set: str  # "ground-truth", a preset name, or "mined" (the study's mined set)
    seed: int

    @property
    def name(self) -> str:
        return f"{self.group}-s{self.seed}"


# group -> (label, algo, SG source); the first two are the main comparison
GROUPS: dict[str, tuple[str, str, str]] = {
    "grpo": ("GRPO", "grpo", "ground-truth"),
    "hicra": ("HICRA (alpha 0.2, ground-truth planning phrases)", "hicra", "ground-truth"),
    "hicra-entropy": ("High-entropy-only amplification", "hicra-entropy", "ground-truth"),
    "hicra-placebo": ("Placebo (random tokens, as many as planning)", "hicra-placebo", "ground-truth"),
    "hicra-mined": ("HICRA, mined planning phrases", "hicra", "mined"),
    "hicra-generic": ("HICRA, generic preset (math-compact)", "hicra", "math-compact"),
}
MAIN = ("grpo", "hicra")
ABLATIONS = ("hicra-entropy", "hicra-placebo", "hicra-mined", "hicra-generic")


@dataclass(frozen=True)
class StudyConfig:
    out: str = field(default="runs/study", metadata={"help": "where the runs go"})
    docs: str = field(default="docs", metadata={"help": "the report: DOCS/study.md and DOCS/study/*.png"})
    preset: str = field(default="tiny-cpu", metadata={"help": "the training preset every arm starts from"})
    seeds: str = field(default="0,1,2,3,4", metadata={"help": "seeds of GRPO and HICRA"})
    ablation_seeds: str = field(default="0,1,2", metadata={"help": "seeds of the ablations and SG sources"})
    groups: str = field(default=",".join(GROUPS), metadata={"help": "arm groups to run"})
    steps: int = field(default=150, metadata={"help": "optimizer steps per arm"})
    eval_every: int = field(default=25, metadata={"help": "held-out evaluation every N steps"})
    eval_n: int = field(default=100, metadata={"help": "held-out problems per evaluation (x4 samples)"})
    threshold: float = field(default=0.6, metadata={"help": "held-out accuracy for 'steps to reach'"})
    workers: int = field(default=2, metadata={"help": "runs at once"})
    mine_solutions: int = field(default=4000, metadata={"help": "worked solutions the mined SG set comes from"})

    def seed_list(self, which: str) -> list[int]:
        text = getattr(self, which)
        try:
            seeds = [int(s) for s in text.split(",") if s.strip()]
        except ValueError:
            raise ValueError(f"--{which.replace('_', '-')}: comma-separated whole numbers, got {text!r}") from None
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"--{which.replace('_', '-')}: a seed appears twice in {text!r}")
        return seeds

    def group_list(self) -> list[str]:
        groups = [g.strip() for g in self.groups.split(",") if g.strip()]
        unknown = [g for g in groups if g not in GROUPS]
        if unknown:
            raise ValueError(f"unknown group(s) {', '.join(unknown)}; known: {', '.join(GROUPS)}")
        return groups

    def arms(self) -> list[Arm]:
        """Main arms first (seed by seed), then the ablations seed by seed: a sweep cut short
        still has complete pairs."""
        groups = self.group_list()
        for name in ("steps", "eval_every", "eval_n", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be at least 1")
        seeds = self.seed_list("seeds")
        if not seeds:
            raise ValueError("--seeds: at least one seed")
        arms = [Arm(g, GROUPS[g][1], GROUPS[g][2], s) for s in seeds for g in MAIN if g in groups]
        arms += [Arm(g, GROUPS[g][1], GROUPS[g][2], s)
                 for s in self.seed_list("ablation_seeds") for g in ABLATIONS if g in groups]
        return arms


# ------------------------------------------------------------------ mining


def mined_sg_path(cfg: StudyConfig) -> Path:
    return Path(cfg.out) / "mined-sg.json"


def mine_sg_set(cfg: StudyConfig, log=print) -> Path:
    """Mine planning phrases from correct worked solutions of training problems (seed 0)."""
    import random

    from lab.grams import save_sg_set
    from lab.mine import MineConfig, mine
    from training.tasks import multiply

    path = mined_sg_path(cfg)
    if path.exists():
        return path
    rng = random.Random(0)
    problems = multiply.problems("train")
    traces = [multiply.write_trace(rng.choice(problems), rng) for _ in range(cfg.mine_solutions)]
    texts = [t.text for t in traces if t.correct]
    result = mine(texts, MineConfig(seed=0), name="study-mined")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_sg_set(result.sg_set, path)
    log(f"mined {len(result.sg_set.grams)} Strategic Grams from {len(texts)} correct solutions -> {path}")
    return path


# ----------------------------------------------------------------- training


def arm_command(cfg: StudyConfig, arm: Arm, threads: int, resume: bool) -> list[str]:
    sg = str(mined_sg_path(cfg).resolve()) if arm.sg_set == "mined" else arm.sg_set
    cmd = [sys.executable, "-m", "training", "run", "--preset", cfg.preset, "--algo", arm.algo, "--sg-set", sg,
           "--seed", str(arm.seed), "--steps", str(cfg.steps), "--eval-every", str(cfg.eval_every),
           "--eval-n", str(cfg.eval_n), "--checkpoint-every", str(min(50, cfg.steps)),
           "--threads", str(threads), "--out", str(Path(cfg.out) / arm.name)]
    return cmd + (["--resume"] if resume else [])


def arm_state(cfg: StudyConfig, arm: Arm) -> str:
    """'done', 'partial' (has a checkpoint to resume from) or 'new'."""
    run = RunDir(Path(cfg.out) / arm.name, readonly=True)
    status = run.status() if run.path.exists() else {}
    if status.get("state") == "finished" and status.get("step") == cfg.steps:
        return "done"
    return "partial" if run.path.exists() and run.latest_checkpoint() is not None else "new"


def run_arms(cfg: StudyConfig, log=print) -> None:
    """Train every arm not yet done."""
    arms = [a for a in cfg.arms() if arm_state(cfg, a) != "done"]
    if not arms:
        return
    threads = max(1, (os.cpu_count() or 1) // max(1, cfg.workers))
    logs = Path(cfg.out) / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    def one(arm: Arm) -> tuple[Arm, int]:
        state = arm_state(cfg, arm)
        cmd = arm_command(cfg, arm, threads, resume=state == "partial")
        started = time.time()
        with open(logs / f"{arm.name}.log", "a") as fh:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode
        log(f"{arm.name}: {'finished' if rc == 0 else f'FAILED (exit {rc}, see {logs / arm.name}.log)'} "
            f"in {time.time() - started:.0f} s")
        return arm, rc

    log(f"training {len(arms)} arm(s), {cfg.workers} at once, {threads} thread(s) each")
    with ThreadPoolExecutor(max_workers=cfg.workers) as pool:
        results = list(pool.map(one, arms))
    failed = [a.name for a, rc in results if rc != 0]
    if failed:
        raise RuntimeError(f"arm(s) failed: {', '.join(failed)}; rerun the command to resume them")


def record_runtime(cfg: StudyConfig, seconds: float) -> dict:
    """Add this call's time (mining and training) to ``OUT/study.json`` (a sweep may take several calls)."""
    path = Path(cfg.out) / "study.json"
    info = json.loads(path.read_text()) if path.exists() else {"train_seconds": 0.0}
    info["train_seconds"] = info.get("train_seconds", 0.0) + seconds
    info.update(cores=os.cpu_count(), workers=cfg.workers, config=asdict(cfg))
    path.write_text(json.dumps(info, indent=2) + "\n")
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.study", description=__doc__.split("\n\n")[0])
    for name, f in StudyConfig.__dataclass_fields__.items():
        ap.add_argument("--" + name.replace("_", "-"), dest=name, type=type(f.default), default=f.default,
                        help=f"{f.metadata['help']} (default {f.default!r})")
    ap.add_argument("--report-only", action="store_true", help="only rewrite the report from the runs in --out")
    args = ap.parse_args(argv)
    cfg = StudyConfig(**{k: getattr(args, k) for k in StudyConfig.__dataclass_fields__})
    try:
        arms = cfg.arms()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.report_only and any(arm_state(cfg, a) != "done" for a in arms):
        Path(cfg.out).mkdir(parents=True, exist_ok=True)
        t0 = time.time()
        try:
            if any(a.sg_set == "mined" for a in arms):
                mine_sg_set(cfg)
            run_arms(cfg)
        except RuntimeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        finally:
            record_runtime(cfg, time.time() - t0)
    from training.study.report import write_report

    try:
        path = write_report(cfg)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"report: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
