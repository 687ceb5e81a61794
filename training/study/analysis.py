"""The study's numbers, computed from the arms' ``metrics.jsonl``; nothing typed in by hand.

Statistics: across-seed means with 95% t intervals (:mod:`lab.stats`);
differences between two arms are paired by seed (arms with the same seed saw
the same prompts and sampling random numbers).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lab.stats import Interval, mean_ci, paired_difference
from training.runs import read_jsonl
from training.study.sweep import StudyConfig, arm_state

SMOOTH = 10  # steps in the moving average of per-step curves
EDGE = 15  # steps averaged at the start and at the end of a curve


# ------------------------------------------------------------------ loading


def load_runs(cfg: StudyConfig) -> dict[str, dict[int, list[dict]]]:
    """group -> seed -> records, for the arms that finished all their steps."""
    runs: dict[str, dict[int, list[dict]]] = {}
    for arm in cfg.arms():
        if arm_state(cfg, arm) == "done":
            runs.setdefault(arm.group, {})[arm.seed] = read_jsonl(Path(cfg.out) / arm.name / "metrics.jsonl")
    return runs


def step_curve(records: list[dict], key: str, steps: int) -> np.ndarray:
    """(steps,) the per-step values of ``key`` (nan where missing)."""
    out = np.full(steps, np.nan)
    for r in records:
        if r.get("kind") == "step" and r.get(key) is not None and r["step"] < steps:
            out[r["step"]] = r[key]
    return out


def eval_curve(records: list[dict], key: str) -> dict[int, float]:
    """eval step -> value; error counts become shares of the samples."""
    out = {}
    for r in records:
        if r.get("kind") != "eval":
            continue
        if key.startswith("eval/errors/"):
            total = sum(v for k, v in r.items() if k.startswith("eval/errors/"))
            out[r["step"]] = r.get(key, 0) / total if total else float("nan")
        elif r.get(key) is not None:
            out[r["step"]] = r[key]
    return out


def moving_average(y: np.ndarray, window: int = SMOOTH) -> np.ndarray:
    """Trailing mean over up to ``window`` steps, ignoring nans."""
    out = np.full_like(y, np.nan, dtype=float)
    for i in range(len(y)):
        chunk = y[max(0, i - window + 1):i + 1]
        chunk = chunk[~np.isnan(chunk)]
        if len(chunk):
            out[i] = chunk.mean()
    return out


def band(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% t interval across seeds, point by point."""
    stack = np.vstack(curves)
    cis = [mean_ci(list(stack[:, j])) for j in range(stack.shape[1])]
    mean = np.array([c.mean for c in cis])
    low = np.array([c.low if c.n > 1 else c.mean for c in cis])
    high = np.array([c.high if c.n > 1 else c.mean for c in cis])
    return mean, low, high


def edge_width(steps: int) -> int:
    """Steps averaged at each end of a curve: ``EDGE``, or a quarter of a short run."""
    return max(1, min(EDGE, steps // 4))


def edges(y: np.ndarray) -> tuple[float, float]:
    """Mean of the first and of the last :func:`edge_width` steps."""
    width = edge_width(len(y))
    return float(np.nanmean(y[:width])), float(np.nanmean(y[-width:]))


def iv(interval: Interval) -> dict:
    return {"mean": interval.mean, "low": interval.low, "high": interval.high, "n": interval.n}


def eval_matrix(by_seed: dict[int, list[dict]], key: str) -> tuple[list[int], list[np.ndarray]]:
    """The eval steps every seed has, and one (steps,) array of ``key`` per seed."""
    curves = [eval_curve(r, key) for r in by_seed.values()]
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    return steps, [np.array([c[s] for s in steps]) for c in curves]



# ------------------------------------------------------------------ analysis


def phases(grpo: dict[int, list[dict]], steps: int) -> dict:
    """The paper's two phases, read off the GRPO arms."""
    out: dict = {"seeds": sorted(grpo)}
    for key in ("ppl_rel/execution", "ppl_rel/planning", "ppl/execution", "ppl/planning",
                "entropy/execution", "entropy/planning",
                "semantic/entropy_bits", "semantic/other_conditional_bits", "acc/batch", "len/mean"):
        per_seed = {s: edges(step_curve(r, key, steps)) for s, r in grpo.items()}
        start = {s: v[0] for s, v in per_seed.items()}
        end = {s: v[1] for s, v in per_seed.items()}
        out[key] = {"start": iv(mean_ci(list(start.values()))), "end": iv(mean_ci(list(end.values()))),
                    "change": iv(paired_difference(start, end))}
    # Held-out error types over training (mean over seeds): which kind of error goes first?
    for kind in ("strategy", "execution"):
        steps_seen, curves = eval_matrix(grpo, f"eval/errors/{kind}")
        out[f"errors/{kind}"] = dict(zip(map(str, steps_seen), np.mean(curves, 0).tolist()))
    # Does semantic entropy move with accuracy? Correlation of the smoothed per-seed curves.
    rs = []
    for r in grpo.values():
        a = moving_average(step_curve(r, "acc/batch", steps))
        b = moving_average(step_curve(r, "semantic/entropy_bits", steps))
        ok = ~np.isnan(a) & ~np.isnan(b)
        if ok.sum() > 2 and np.std(a[ok]) > 0 and np.std(b[ok]) > 0:
            rs.append(float(np.corrcoef(a[ok], b[ok])[0, 1]))
    out["semantic_accuracy_r"] = iv(mean_ci(rs))
    return out


def steps_to(curve: dict[int, float], threshold: float) -> int | None:
    reached = [s for s in sorted(curve) if curve[s] >= threshold]
    return reached[0] if reached else None


def held_out(records: list[dict], threshold: float) -> dict:
    """One run's held-out figures: final accuracy, mean after step 0, steps to ``threshold``,
    and the final error shares and planning ratio."""
    acc = eval_curve(records, "eval/accuracy")
    last = max(acc)
    return {"final": acc[last], "mean_after": float(np.mean([v for s, v in acc.items() if s > 0])),
            "reach": steps_to(acc, threshold),
            "strategy": eval_curve(records, "eval/errors/strategy")[last],
            "execution": eval_curve(records, "eval/errors/execution")[last],
            "planning": eval_curve(records, "eval/planning_ratio").get(last, float("nan"))}


def group_summary(runs: dict[int, list[dict]], grpo: dict[int, list[dict]], threshold: float) -> dict:
    """Held-out figures of one group, and its differences from GRPO on the seeds both have."""
    own = {seed: held_out(records, threshold) for seed, records in runs.items()}
    base = {seed: held_out(records, threshold) for seed, records in grpo.items()}

    def by_seed(figures: dict[int, dict], key: str) -> dict[int, float]:
        return {seed: f[key] for seed, f in figures.items()}

    final, reach = by_seed(own, "final"), by_seed(own, "reach")
    both = [s for s in reach if reach[s] is not None and base.get(s, {}).get("reach") is not None]
    return {
        "seeds": sorted(runs),
        "final_accuracy": iv(mean_ci(list(final.values()))),
        "final_accuracy_by_seed": final,
        "mean_accuracy_after_0": iv(mean_ci(list(by_seed(own, "mean_after").values()))),
        "final_minus_grpo": iv(paired_difference(by_seed(base, "final"), final)),
        "mean_after_0_minus_grpo": iv(paired_difference(by_seed(base, "mean_after"), by_seed(own, "mean_after"))),
        "steps_to_threshold": {str(s): v for s, v in reach.items()},
        "reached": sum(v is not None for v in reach.values()),
        "steps_to_threshold_mean": iv(mean_ci([v for v in reach.values() if v is not None])),
        "steps_minus_grpo": iv(paired_difference({s: base[s]["reach"] for s in both}, {s: reach[s] for s in both})),
        "final_strategy_errors": iv(mean_ci(list(by_seed(own, "strategy").values()))),
        "final_execution_errors": iv(mean_ci(list(by_seed(own, "execution").values()))),
        "final_planning_ratio": iv(mean_ci(list(by_seed(own, "planning").values()))),
    }


def analyse(cfg: StudyConfig, runs: dict[str, dict[int, list[dict]]]) -> dict:
    if "grpo" not in runs:
        raise ValueError(f"no finished GRPO arm in {cfg.out}: run the study first")
    results: dict = {"config": asdict(cfg), "phases": phases(runs["grpo"], cfg.steps), "groups": {}}
    for group, by_seed in runs.items():
        results["groups"][group] = group_summary(by_seed, runs["grpo"], cfg.threshold)
    if "hicra" in runs:
        sem = {}
        for group in ("grpo", "hicra"):
            sem[group] = {s: edges(step_curve(r, "semantic/entropy_bits", cfg.steps))[1] for s, r in runs[group].items()}
        results["semantic_end_hicra_minus_grpo"] = iv(paired_difference(sem["grpo"], sem["hicra"]))
    # Has GRPO settled? Held-out accuracy gain over the last third of the run.
    late = {}
    for seed, records in runs["grpo"].items():
        acc = eval_curve(records, "eval/accuracy")
        points = sorted(acc)
        start = [s for s in points if s >= cfg.steps * 2 // 3][0]
        late[seed] = (acc[points[-1]] - acc[start], start)
    results["late_from"] = min(v[1] for v in late.values())
    results["late_gain_grpo"] = iv(mean_ci([v[0] for v in late.values()]))
    info = Path(cfg.out) / "study.json"
    results["runtime"] = json.loads(info.read_text()) if info.exists() else {}
    return results
