"""Study 2's numbers, computed from the runs' compact records; nothing typed in by hand.

Outcomes of one run (:func:`outcomes`): the primary, **final held-out
accuracy** (the last evaluation), named before running; the secondary ones,
area under the accuracy curve (mean of the evaluations, trapezoid over
steps), steps to reach ``threshold`` above the run's step-0 accuracy
(held-out, and on the training accuracy's ``WINDOW``-step mean), final
pass@k, final fitted-plan share, and the semantic entropy of planning phrases (gram and cluster level, last ``EDGE`` steps).

Comparisons are paired by seed (:func:`training.hierarchy.stats.paired_difference`), with
the paired sd and the minimum detectable effect at 80% power for the seeds
run, and the paired t test's p-value, adjusted by Holm's method across the
main comparisons (:data:`MAIN` in every regime); the boundary condition is
the difference in differences between regimes (Welch interval) and the
slope of HICRA - GRPO on the regime's hard-product error (t interval).
Secondary comparisons are exploratory: no correction for their number, and
the report says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np

from training.hierarchy.stats import (holm, mean_ci, minimum_detectable_effect, paired_difference, sd, slope_ci, t_test_p,
                       welch_difference)
from training.runs import read_jsonl
from training.study.sweep import GROUPS, HARD_ERROR, Arm, StudyConfig, finished

EDGE = 15  # steps averaged at the end of a per-step curve
WINDOW = 10  # steps in the running mean of training accuracy ("steps_to_train")
PRIMARY = "final_accuracy"
MAIN = ("hicra-grpo", "hicra-placebo")  # the main comparisons: one family for Holm's correction
SECONDARY = ("auc", "steps_to", "steps_to_train", "pass_at_k", "fitted", "semantic", "semantic_cluster")
ADDED_LATER = {  # secondary outcomes added after runs had been seen, with the reason (the page says so)
    "steps_to_train": "added after the first 26 runs, in which every run had reached the held-out threshold by its "
                      "first evaluation after step 0, so that measure cannot tell the arms apart",
}
LABELS = {
    "final_accuracy": "final held-out accuracy",
    "auc": "area under the held-out accuracy curve (mean accuracy over the run)",
    "steps_to": "steps to reach step-0 accuracy + threshold",
    "steps_to_train": f"steps until the {WINDOW}-step mean of training accuracy reaches its first window's mean "
                      "+ threshold",
    "pass_at_k": "final held-out pass@4",
    "fitted": "final share of first plans that fit the problem",
    "semantic": "semantic entropy of planning phrases, last steps (bits)",
    "semantic_cluster": "cluster-level semantic entropy, last steps (bits)",
}
POINTS = {"final_accuracy", "auc", "pass_at_k", "fitted"}  # shares, reported in percentage points


def load(cfg: StudyConfig) -> dict[str, dict[str, dict[int, list[dict]]]]:
    """regime -> group -> seed -> records, for every finished run whose records are in the docs."""
    out: dict = {}
    for arm in cfg.arms():
        folder = cfg.records(arm)
        if finished(folder, cfg.steps):
            out.setdefault(arm.regime, {}).setdefault(arm.group, {})[arm.seed] = read_jsonl(folder / "metrics.jsonl")
    return out


def outcomes(records: list[dict], threshold: float) -> dict[str, float]:
    evals = [r for r in records if r.get("kind") == "eval"]
    steps = [r for r in records if r.get("kind") == "step"]
    acc = [(r["step"], r["eval/accuracy"]) for r in evals]
    out = {k: float("nan") for k in (PRIMARY, *SECONDARY)}
    if acc:
        out["final_accuracy"] = acc[-1][1]
        xs, ys = zip(*acc)
        out["auc"] = float(np.trapezoid(ys, xs) / (xs[-1] - xs[0])) if xs[-1] > xs[0] else ys[0]
        reached = [s for s, a in acc if a >= acc[0][1] + threshold]
        out["steps_to"] = float(reached[0]) if reached else float("nan")
        out["pass_at_k"] = evals[-1].get("eval/pass_at_k", float("nan"))
        out["fitted"] = evals[-1].get("eval/plan/fitted", float("nan"))
    out["steps_to_train"] = steps_to_train(steps, threshold)
    for key, source in (("semantic", "semantic/entropy_bits"), ("semantic_cluster", "semantic/cluster_bits")):
        vals = [r[source] for r in steps[-EDGE:] if r.get(source) is not None]
        out[key] = float(np.mean(vals)) if vals else float("nan")
    return out


def steps_to_train(steps: list[dict], threshold: float) -> float:
    """The last step of the first ``WINDOW``-step window whose mean training accuracy (``acc/batch``) is at
    least the first window's mean + ``threshold``; nan when none is, or the run is shorter than a window."""
    rows = [r for r in steps if r.get("acc/batch") is not None]
    acc = np.array([r["acc/batch"] for r in rows], dtype=float)
    if len(acc) < WINDOW:
        return float("nan")
    means = np.convolve(acc, np.ones(WINDOW) / WINDOW, mode="valid")  # [len(acc) - WINDOW + 1]
    hits = np.flatnonzero(means >= means[0] + threshold)
    return float(rows[hits[0] + WINDOW - 1]["step"]) if len(hits) else float("nan")


def comparison(a: dict[int, list[dict]], b: dict[int, list[dict]], threshold: float) -> dict:
    """``b`` minus ``a``, paired by seed, for every outcome; with the paired sd and the MDE."""
    oa = {s: outcomes(r, threshold) for s, r in a.items()}
    ob = {s: outcomes(r, threshold) for s, r in b.items()}
    out = {}
    for key in (PRIMARY, *SECONDARY):
        scale = 100.0 if key in POINTS else 1.0
        xa = {s: o[key] * scale for s, o in oa.items()}
        xb = {s: o[key] * scale for s, o in ob.items()}
        seeds = sorted(set(xa) & set(xb))
        diffs = [xb[s] - xa[s] for s in seeds]
        values = {v for v in [*xa.values(), *xb.values()] if not math.isnan(v)}
        out[key] = {"difference": asdict(paired_difference(xa, xb)), "sd": sd(diffs),
                    "constant": values.pop() if len(values) == 1 and len(xa) + len(xb) > 2 else None,
                    "mde": minimum_detectable_effect(sd(diffs), len([d for d in diffs if not math.isnan(d)])),
                    "p": t_test_p(diffs),
                    "per_seed": dict(zip(seeds, diffs)),
                    "a": asdict(mean_ci(list(xa.values()))), "b": asdict(mean_ci(list(xb.values())))}
    return out


def analyse(cfg: StudyConfig, runs: dict | None = None) -> dict:
    """Every comparison the report draws on, from ``runs`` (default: the committed records)."""
    runs = load(cfg) if runs is None else runs
    res: dict = {"regimes": {}, "boundary": {}, "counts": {}}
    for regime, groups in runs.items():
        res["counts"][regime] = {g: len(s) for g, s in groups.items()}
        comps = {}
        if "grpo" in groups and "hicra" in groups:
            comps["hicra-grpo"] = comparison(groups["grpo"], groups["hicra"], cfg.threshold)
        if "placebo" in groups and "hicra" in groups:
            comps["hicra-placebo"] = comparison(groups["placebo"], groups["hicra"], cfg.threshold)
        for g in groups:
            if g not in ("grpo", "hicra", "placebo") and "grpo" in groups:
                comps[f"{g}-grpo"] = comparison(groups["grpo"], groups[g], cfg.threshold)
        base = {g: asdict(mean_ci([outcomes(r, cfg.threshold)[PRIMARY] * 100 for r in s.values()]))
                for g, s in groups.items()}
        res["regimes"][regime] = {"comparisons": comps, "final_accuracy": base}
    family = {f"{r}/{name}": v["comparisons"][name][PRIMARY]["p"] for r, v in res["regimes"].items()
              for name in MAIN if name in v["comparisons"]}
    for key, adjusted in holm(family).items():
        regime, name = key.split("/")
        res["regimes"][regime]["comparisons"][name][PRIMARY].update(
            p_holm=adjusted, family=len([p for p in family.values() if not math.isnan(p)]))
    diffs = {r: list(v["comparisons"]["hicra-grpo"][PRIMARY]["per_seed"].values())
             for r, v in res["regimes"].items() if "hicra-grpo" in v["comparisons"]}
    if "multiply-planning" in diffs and "multiply-execution" in diffs:
        res["boundary"]["did"] = asdict(welch_difference(diffs["multiply-planning"], diffs["multiply-execution"]))
        res["boundary"]["did_seeds"] = [len(diffs["multiply-planning"]), len(diffs["multiply-execution"])]
    if len(diffs) >= 2:
        xs = [HARD_ERROR[r] for r, d in diffs.items() for _ in d]
        ys = [v for d in diffs.values() for v in d]
        res["boundary"]["slope"] = asdict(slope_ci(xs, ys))
        res["boundary"]["per_regime"] = {r: asdict(mean_ci(d)) for r, d in diffs.items()}
    return res


def label(group: str) -> str:
    return GROUPS[group].label if group in GROUPS else group


__all__ = ["Arm", "analyse", "comparison", "load", "outcomes", "label", "ADDED_LATER", "LABELS", "MAIN", "PRIMARY",
           "SECONDARY", "WINDOW"]
