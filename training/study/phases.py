"""The paper's two phases under plain GRPO, per task regime: do they show, and in which order?

    python -m training.study.phases                      # trains what is missing, writes docs/phases.md
    python -m training.study.phases --report-only        # redraws the page and figure from the records
    python -m training.study.phases --tasks multiply-planning --seeds 0,1,2,3,4 --steps 150

For each task regime: GRPO on its bundled model, several seeds, the regime's
preset otherwise (``tiny-planning`` ...). Every run's compact records
(config, status, metrics: no checkpoints) are copied to
``docs/phases/runs/<task>/<arm>/`` when it finishes, so the page redraws on a
fresh clone and a rerun trains only what is missing (an interrupted run
resumes from its checkpoint in ``runs/phases``).

Named before running (primary outcomes, one per phase):

* phase 2: the change of the semantic entropy of planning phrases (bits,
  mean of the last ``EDGE`` steps minus the first ``EDGE``), with held-out
  accuracy (last evaluation minus the first) rising beside it;
* phase 1: the change of the token entropy at execution *decision*
  positions (the digits of computed results), same edges.

Secondary: the cluster-level semantic entropy, the fitted-plan share, the
verification rate, the error rate of the hard step, and the order of the
phases: per seed, the step at which each smoothed curve is halfway from its
start to its end, and the difference (phase 2 minus phase 1). Every figure
comes with its 95% t interval across seeds; a sentence is printed only when
its interval supports it.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from training.hierarchy.stats import Interval, mean_ci
from training.runs import read_jsonl
from training.study import phases_reanalysis as reanalysis

ROOT = Path(__file__).resolve().parents[2]
EDGE = 15  # steps averaged at the start and at the end of a curve
SMOOTH = 10  # trailing moving average for the halfway step and the figure
PRESET_OF = {"multiply": "tiny-cpu", "multiply-planning": "tiny-planning",
             "multiply-intermediate": "tiny-intermediate", "multiply-execution": "tiny-execution"}
OUTCOMES = {  # key -> (label, source, expected direction)
    "semantic": ("semantic entropy of planning phrases (bits)", "semantic/entropy_bits", +1),
    "semantic_cluster": ("cluster-level semantic entropy (bits)", "semantic/cluster_bits", +1),
    "decision": ("token entropy at execution decision positions (nats)", "entropy/decision", -1),
    "execution": ("token entropy of all execution tokens (nats)", "entropy/execution", -1),
    "fitted": ("share of first plans that fit the problem", "plan/fitted", +1),
    "verify": ("share of responses that check their result", "plan/verify", +1),
}


@dataclass(frozen=True)
class PhasesConfig:
    tasks: tuple[str, ...] = ("multiply-planning", "multiply-intermediate", "multiply-execution")
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    steps: int = 150
    eval_every: int = 25
    eval_n: int = 200
    out: str = "runs/phases"
    docs: str = "docs"

    def records_dir(self, task: str) -> Path:
        return ROOT / self.docs / "phases" / "runs" / task


# ------------------------------------------------------------------ training


def train_missing(cfg: PhasesConfig) -> None:
    """Train (or resume) every arm without finished records, then copy its compact records."""
    for task in cfg.tasks:
        missing = [s for s in cfg.seeds if not _finished(cfg.records_dir(task) / f"grpo-s{s}", cfg.steps)]
        if not missing:
            continue
        out = Path(cfg.out) / task
        cmd = [sys.executable, "-m", "training", "compare", "--preset", PRESET_OF[task], "--algos", "grpo",
               "--seeds", ",".join(map(str, missing)), "--steps", str(cfg.steps), "--eval-every",
               str(cfg.eval_every), "--eval-n", str(cfg.eval_n), "--out", str(out)]
        if any((out / f"grpo-s{s}" / "checkpoints").exists() for s in missing):
            cmd.append("--resume")
        print(" ".join(cmd), flush=True)
        subprocess.run(cmd, cwd=ROOT, check=True)
        for s in missing:
            keep_records(out / f"grpo-s{s}", cfg.records_dir(task) / f"grpo-s{s}")


def keep_records(run: Path, dest: Path) -> None:
    """Copy a run's config, status and metrics (no checkpoints, no samples) to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "status.json", "metrics.jsonl"):
        if (run / name).exists():
            shutil.copyfile(run / name, dest / name)


def _finished(folder: Path, steps: int) -> bool:
    try:
        status = json.loads((folder / "status.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return status.get("state") == "finished" and status.get("step", 0) >= steps


# ------------------------------------------------------------------ analysis


def curve(records: list[dict], key: str) -> np.ndarray:
    """(steps,) per-step values of ``key``, nan where missing."""
    steps = [r for r in records if r.get("kind") == "step"]
    out = np.full(len(steps), np.nan)
    for r in steps:
        if r.get(key) is not None and r["step"] < len(out):
            out[r["step"]] = r[key]
    return out


def edge_change(y: np.ndarray, edge: int = EDGE) -> float:
    """Mean of the last ``edge`` values minus the mean of the first ``edge`` (nans ignored)."""
    if len(y) < 2 * edge or np.all(np.isnan(y[:edge])) or np.all(np.isnan(y[-edge:])):
        return float("nan")
    return float(np.nanmean(y[-edge:]) - np.nanmean(y[:edge]))


def smoothed(y: np.ndarray, window: int = SMOOTH) -> np.ndarray:
    out = np.full(len(y), np.nan)
    for i in range(len(y)):
        piece = y[max(0, i - window + 1):i + 1]
        if not np.all(np.isnan(piece)):
            out[i] = np.nanmean(piece)
    return out


def halfway_step(y: np.ndarray, edge: int = EDGE) -> float:
    """First step at which the smoothed curve is halfway from its start to its end level.

    >>> halfway_step(np.array([0.0] * 20 + [1.0] * 20), edge=5)
    24.0
    """
    start, end = np.nanmean(y[:edge]), np.nanmean(y[-edge:])
    if not np.isfinite(start) or not np.isfinite(end) or start == end:
        return float("nan")
    mid, s = (start + end) / 2, smoothed(y)
    crossed = np.where((s - mid) * np.sign(end - start) >= 0)[0]
    return float(crossed[0]) if len(crossed) else float("nan")


MIN_PEAK = 0.05  # bits: the smallest transient rise the page reports (the max of noisy windows is never 0)


def window_means(y: np.ndarray, edge: int = EDGE) -> np.ndarray:
    """Means over every ``edge`` consecutive steps (nan where a window has no values)."""
    return np.array([np.nanmean(y[i:i + edge]) if not np.all(np.isnan(y[i:i + edge])) else np.nan
                     for i in range(max(0, len(y) - edge + 1))])


def peak_rise(runs_curves: list[np.ndarray], edge: int = EDGE) -> tuple[list[float], float]:
    """A transient the start-to-end change cannot see (exploratory). The peak window is the one where the
    mean curve across seeds is highest; each seed's rise is its mean there minus its first ``edge`` steps.
    Returns ``(per-seed rises, the window's middle step)``.

    >>> peak_rise([np.array([0.0] * 10 + [2.0] * 10 + [0.0] * 10)] * 2, edge=5)
    ([2.0, 2.0], 12.0)
    """
    usable = [y for y in runs_curves if len(y) >= 2 * edge and not np.all(np.isnan(y[:edge]))]
    if not usable:
        return [], float("nan")
    n = min(len(y) for y in usable)
    means = np.array([window_means(y[:n], edge) for y in usable])
    best = int(np.nanargmax(np.nanmean(means, axis=0)))
    return [float(m[best] - np.nanmean(y[:edge])) for m, y in zip(means, usable)], float(best + edge // 2)


def evals(records: list[dict], key: str) -> list[float]:
    return [r[key] for r in records if r.get("kind") == "eval" and r.get(key) is not None]


def analyse(runs: dict[int, list[dict]]) -> dict:
    """Per-outcome intervals across seeds for one regime (``seed -> records``)."""
    out: dict = {"seeds": sorted(runs), "outcomes": {}}
    for name, (label, key, _) in OUTCOMES.items():
        changes = {s: edge_change(curve(r, key)) for s, r in runs.items()}
        starts = {s: float(np.nanmean(curve(r, key)[:EDGE])) if len(curve(r, key)) else float("nan")
                  for s, r in runs.items()}
        out["outcomes"][name] = {"label": label, "change": asdict(mean_ci(list(changes.values()))),
                                 "start": asdict(mean_ci(list(starts.values()))), "per_seed": changes}
    acc = {s: (evals(r, "eval/accuracy")[-1] - evals(r, "eval/accuracy")[0]) if len(evals(r, "eval/accuracy")) > 1
           else float("nan") for s, r in runs.items()}
    out["accuracy"] = {"change": asdict(mean_ci(list(acc.values()))), "per_seed": acc,
                       "first": asdict(mean_ci([evals(r, "eval/accuracy")[0] for r in runs.values()
                                                if evals(r, "eval/accuracy")])),
                       "last": asdict(mean_ci([evals(r, "eval/accuracy")[-1] for r in runs.values()
                                               if evals(r, "eval/accuracy")]))}
    hard = {s: (evals(r, "eval/exec/hard_error")[-1] - evals(r, "eval/exec/hard_error")[0])
            if len(evals(r, "eval/exec/hard_error")) > 1 else float("nan") for s, r in runs.items()}
    out["hard_error"] = {"change": asdict(mean_ci(list(hard.values())))}
    order = {s: halfway_step(curve(r, "semantic/entropy_bits")) - halfway_step(curve(r, "entropy/decision"))
             for s, r in runs.items()}
    out["order"] = {"difference": asdict(mean_ci(list(order.values()))), "per_seed": order}
    rises, at = peak_rise([curve(r, "semantic/entropy_bits") for r in runs.values()])
    out["semantic_peak"] = {"rise": asdict(mean_ci(rises)), "step": at}
    return out


# ------------------------------------------------------------------ the page


def _iv(d: dict, digits: int = 3) -> str:
    if d["n"] < 2 or math.isnan(d["low"]):
        return f"{d['mean']:+.{digits}f} (n={d['n']}, no interval)"
    return f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"


def _sign(d: dict) -> int:
    """+1 / -1 when the interval lies above / below zero, else 0."""
    iv = Interval(d["mean"], d["low"], d["high"], d["n"])
    return 0 if not iv.excludes_zero else (1 if iv.low > 0 else -1)


def verdicts(a: dict) -> list[str]:
    """The page's sentences for one regime; each one only when its numbers support it."""
    o, acc = a["outcomes"], a["accuracy"]["change"]
    sem, dec = o["semantic"]["change"], o["decision"]["change"]
    n = len(a["seeds"])
    lines = []
    if _sign(sem) > 0 and _sign(acc) > 0:
        lines.append(f"**Phase 2 shows.** The semantic entropy of planning phrases rises by {_iv(sem)} bits "
                     f"while held-out accuracy rises by {_iv(acc)} ({n} seeds, 95% intervals).")
    elif _sign(sem) < 0:
        lines.append(f"**Phase 2 does not show.** The semantic entropy of planning phrases falls: its change is "
                     f"{_iv(sem)} bits (held-out accuracy changes by {_iv(acc)}).")
    else:
        lines.append(f"**Phase 2 is not resolved.** The semantic entropy of planning phrases changes by "
                     f"{_iv(sem)} bits and held-out accuracy by {_iv(acc)}: an interval includes zero.")
    if _sign(dec) < 0:
        lines.append(f"**Phase 1 shows.** The token entropy at execution decision positions falls by "
                     f"{_iv(dec)} nats.")
    else:
        lines.append(f"**Phase 1 does not show.** The token entropy at execution decision positions changes by "
                     f"{_iv(dec)} nats.")
    peak = a.get("semantic_peak")
    if peak and _sign(peak["rise"]) > 0 and peak["rise"]["low"] >= MIN_PEAK and _sign(sem) <= 0:
        lines.append(f"*Exploratory (not named before running):* on the way, the semantic entropy rises to a peak "
                     f"{_iv(peak['rise'])} bits above its start (the {EDGE} steps around step {peak['step']:.0f}, "
                     f"where the mean across seeds is highest) before it falls back.")
    order = a["order"]["difference"]
    if _sign(sem) > 0 and _sign(dec) < 0:
        if _sign(order) > 0:
            lines.append(f"**In the paper's order.** The decision-position entropy is halfway down "
                         f"{_iv(order, 1)} steps before the semantic entropy is halfway up.")
        elif _sign(order) < 0:
            lines.append(f"**Not in the paper's order.** The semantic entropy is halfway up {_iv(order, 1)} "
                         f"steps (negative: before) relative to the decision-position entropy halfway down.")
        else:
            lines.append(f"**Order not resolved.** Halfway steps differ by {_iv(order, 1)} steps (semantic "
                         f"minus decision); the interval includes zero.")
    return lines


def samples_per_step(run: Path) -> int:
    """Responses per training step (prompts x group), from the run's config (the defaults when it has none)."""
    from training.config import RunConfig

    path = run / "config.json"
    conf = json.loads(path.read_text()) if path.exists() else {}
    d = RunConfig()
    return conf.get("prompts_per_step", d.prompts_per_step) * conf.get("group_size", d.group_size)


def write_page(cfg: PhasesConfig) -> Path:
    from training.tasks import REGIME_LABELS

    results, figures = {}, []
    for task in PRESET_OF:  # every regime with records, whichever --tasks this call trained
        runs = {int(p.name.split("-s")[1]): read_jsonl(p / "metrics.jsonl")
                for p in sorted(cfg.records_dir(task).glob("grpo-s*")) if _finished(p, cfg.steps)}
        if runs:
            results[task] = analyse(runs)
            results[task]["reanalysis"] = reanalysis.analyse(runs, samples_per_step(cfg.records_dir(task)
                                                                                   / f"grpo-s{min(runs)}"))
            figures.append(draw(task, runs, ROOT / cfg.docs / "phases" / f"{task}.png"))
    docs = ROOT / cfg.docs
    (docs / "phases").mkdir(parents=True, exist_ok=True)
    (docs / "phases" / "results.json").write_text(json.dumps({"config": asdict(cfg), "results": results},
                                                             indent=2) + "\n")
    lines = ["# The two phases under GRPO, per task regime", "",
             "Generated by `python -m training.study.phases` from the records in `docs/phases/runs/`; every "
             "number is computed by `training/study/phases.py`, with 95% t intervals across seeds.", "",
             f"Setting: GRPO on each regime's bundled model and preset, {cfg.steps} steps, held-out evaluation "
             f"every {cfg.eval_every} steps on {cfg.eval_n} problems x 4 samples (T=0.6). A change is the mean of "
             f"the last {EDGE} steps minus the mean of the first {EDGE}. Named before running: phase 2 is the "
             "change of the semantic entropy of planning phrases (with held-out accuracy beside it), phase 1 the "
             "change of the token entropy at execution decision positions; the rest is secondary. An exploratory line "
             f"(a transient peak of the semantic entropy) appears only when its interval's lower end is at least "
             f"{MIN_PEAK} bits.", "",
             "**Re-analysis** (below each regime's table): the measures above cannot pass on this task (the "
             "decision-position entropy tracks the shift in plan mix; the gram-level entropy carries paraphrase "
             "noise and the answer template). `docs/study3-plan.md` names, after these runs were seen, measures the "
             "task lets move, each shown beside its ceiling: phase 1 as the execution-error share and the "
             "execution-token entropy after the plan switch, phase 2 as the plan-choice entropy (paraphrases "
             "merged, the answer template excluded); see `training/study/phases_reanalysis.py`.", ""]
    for task, a in results.items():
        lines += [f"## `{task}` ({REGIME_LABELS.get(task, task)}, seeds {', '.join(map(str, a['seeds']))})", ""]
        lines += verdicts(a) + ["", "| outcome | first steps | change (last - first) |", "|---|---|---|"]
        for name, o in a["outcomes"].items():
            lines.append(f"| {o['label']} | {o['start']['mean']:.3f} | {_iv(o['change'])} |")
        acc = a["accuracy"]
        lines.append(f"| held-out accuracy (first / last evaluation) | {acc['first']['mean']:.3f} | "
                     f"{_iv(acc['change'])} |")
        lines.append(f"| hard-step error rate (held-out, last - first evaluation) | - | "
                     f"{_iv(a['hard_error']['change'])} |")
        lines += [""] + reanalysis.lines(a["reanalysis"])
        lines += [f"![{task}](phases/{task}.png)", ""]
    page = docs / "phases.md"
    page.write_text("\n".join(lines) + "\n")
    if cfg.docs == PhasesConfig().docs:  # the committed study: its README lines too
        from training.study.report import update_readme_summary

        update_readme_summary(ROOT / "docs" / "studies.md", readme_summary(cfg, results), block="phases-summary")
    return page


def readme_summary(cfg: PhasesConfig, results: dict) -> str:
    """The README's lines on the phases study: per regime, the computed verdicts and the figure."""
    from training.tasks import REGIME_LABELS

    if not results:
        return "No records yet: run `python -m training.study.phases`."
    lines = [f"GRPO, {cfg.steps} steps, {cfg.eval_n} held-out problems x 4 samples every {cfg.eval_every} steps "
             f"(computed by `python -m training.study.phases`; the full page with every number is "
             f"[`phases.md`](phases.md)):", ""]
    for task, a in results.items():
        lines += [f"*{REGIME_LABELS.get(task, task)}* (`{task}`, seeds {', '.join(map(str, a['seeds']))}): "
                  + " ".join(verdicts(a)), "", f"![{task}](phases/{task}.png)", ""]
    return "\n".join(lines).rstrip()


def draw(task: str, runs: dict[int, list[dict]], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 3, figsize=(13, 7), constrained_layout=True)
    panels = [("semantic/entropy_bits", "semantic entropy of planning phrases (bits)"),
              ("semantic/cluster_bits", "cluster-level semantic entropy (bits)"),
              ("entropy/decision", "entropy at decision positions (nats)"),
              ("plan/fitted", "first plan fits the problem (share)"),
              ("plan/verify", "checks its result (share)")]
    for ax, (key, title) in zip(axes.flat, panels):
        ys = np.array([smoothed(curve(r, key)) for r in runs.values()])
        x = np.arange(ys.shape[1])
        mean = np.nanmean(ys, axis=0)
        ax.plot(x, mean, color="#1f77b4")
        if len(ys) > 1:
            sd = np.nanstd(ys, axis=0, ddof=1)
            ax.fill_between(x, mean - sd, mean + sd, color="#1f77b4", alpha=0.2, linewidth=0)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
    ax = axes.flat[5]
    for r in runs.values():
        pts = [(e["step"], e["eval/accuracy"]) for e in r if e.get("kind") == "eval"]
        ax.plot(*zip(*pts), color="#2ca02c", alpha=0.5, marker="o", markersize=3)
    ax.set_title("held-out accuracy (one line per seed)", fontsize=10)
    ax.set_xlabel("step")
    fig.suptitle(f"GRPO on {task}: mean and +-1 sd across {len(runs)} seeds ({SMOOTH}-step moving average)")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.study.phases", description=__doc__.split("\n\n")[0])
    d = PhasesConfig()
    ap.add_argument("--tasks", default=",".join(d.tasks), help="task regimes (comma-separated)")
    ap.add_argument("--seeds", default=",".join(map(str, d.seeds)), help="seeds (comma-separated)")
    ap.add_argument("--steps", type=int, default=d.steps, help="GRPO steps per run")
    ap.add_argument("--eval-every", type=int, default=d.eval_every, help="held-out evaluation every N steps")
    ap.add_argument("--eval-n", type=int, default=d.eval_n, help="held-out problems per evaluation")
    ap.add_argument("--out", default=d.out, help="where the runs train (checkpoints; not committed)")
    ap.add_argument("--docs", default=d.docs, help="where the page, figures and compact records go")
    ap.add_argument("--report-only", action="store_true", help="only redraw the page from the records")
    args = ap.parse_args(argv)
    try:
        tasks = tuple(t.strip() for t in args.tasks.split(",") if t.strip())
        unknown = [t for t in tasks if t not in PRESET_OF]
        if unknown:
            raise ValueError(f"unknown task regime {unknown[0]!r}; pick from {', '.join(PRESET_OF)}")
        cfg = PhasesConfig(tasks, tuple(int(s) for s in args.seeds.split(",") if s.strip()), args.steps,
                           args.eval_every, args.eval_n, args.out, args.docs)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.report_only:
        train_missing(cfg)
    print(f"page: {write_page(cfg)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
