"""Study 2's figures (matplotlib, PNG), drawn from the records and the analysis; nothing else."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from training.study.analysis import PRIMARY
from training.study.sweep import GROUPS, HARD_ERROR, reliability

COLOURS = {"grpo": "#1f77b4", "hicra": "#d62728", "placebo": "#7f7f7f", "entropy": "#9467bd",
           "released": "#8c564b", "alpha-0.1": "#ff9896", "alpha-0.5": "#e377c2", "alpha-1.0": "#bcbd22"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def accuracy_curves(runs: dict, path: Path, smooth: int = 10) -> Path:
    """Per regime: held-out accuracy at its evaluations (top), and the training accuracy at every step, a
    ``smooth``-step running mean (bottom; the held-out curve has few points, this one shows the window where
    arms differ). Mean across seeds of every group, with a +-1 sd band."""
    plt = _plt()
    regimes = sorted(runs, key=reliability)
    fig, axes = plt.subplots(2, max(1, len(regimes)), figsize=(4.6 * max(1, len(regimes)), 7.0),
                             squeeze=False, constrained_layout=True)
    for col, regime in enumerate(regimes):
        for group, seeds in runs[regime].items():
            name = f"{GROUPS[group].label if group in GROUPS else group} (n={len(seeds)})"
            held = [dict((r["step"], r["eval/accuracy"]) for r in recs if r.get("kind") == "eval")
                    for recs in seeds.values()]
            train = [dict((r["step"], r["acc/batch"]) for r in recs if r.get("kind") == "step"
                          and r.get("acc/batch") is not None) for recs in seeds.values()]
            for ax, curves, window in ((axes[0][col], held, 1), (axes[1][col], train, smooth)):
                steps = sorted({s for c in curves for s in c})
                if not steps:
                    continue
                ys = np.array([[c.get(s, np.nan) for s in steps] for c in curves], dtype=float)
                if window > 1 and len(steps) >= window:  # trailing running mean per seed
                    kernel = np.ones(window) / window
                    ys = np.array([np.convolve(y, kernel, mode="valid") for y in ys])
                    steps = steps[window - 1:]
                mean = np.nanmean(ys, axis=0)
                ax.plot(steps, mean, marker="o" if window == 1 else None, markersize=3, color=COLOURS.get(group),
                        label=name, linewidth=1.2)
                if len(curves) > 1:
                    band = np.nanstd(ys, axis=0, ddof=1)
                    ax.fill_between(steps, mean - band, mean + band, color=COLOURS.get(group), alpha=0.12,
                                    linewidth=0)
        title = f"{regime} (hard-product error {HARD_ERROR[regime]})" if regime in HARD_ERROR else regime
        axes[0][col].set_title(title, fontsize=10)
        axes[0][col].set_ylabel("held-out accuracy")
        axes[1][col].set_ylabel(f"training accuracy ({smooth}-step mean)")
        axes[1][col].set_xlabel("step")
        axes[0][col].legend(fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def boundary(res: dict, path: Path) -> Path:
    """HICRA - GRPO (final accuracy, points) against the regime's hard-product error, with 95% intervals."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.8), constrained_layout=True)
    per = res.get("boundary", {}).get("per_regime", {})
    for regime, iv in per.items():
        x = HARD_ERROR[regime]
        err = None if math.isnan(iv["low"]) else [[iv["mean"] - iv["low"]], [iv["high"] - iv["mean"]]]
        ax.errorbar([x], [iv["mean"]], yerr=err, fmt="o", color=COLOURS["hicra"], capsize=4)
        ax.annotate(f"{regime} (n={iv['n']})", (x, iv["mean"]), textcoords="offset points", xytext=(6, 6), fontsize=7)
    ax.axhline(0, color="#999999", linewidth=0.8)
    slope = res.get("boundary", {}).get("slope")
    if slope and not math.isnan(slope["mean"]) and per:
        xs = np.array([0.0, 0.5])
        mean_y = np.mean([iv["mean"] for iv in per.values()])
        mean_x = np.mean([HARD_ERROR[r] for r in per])
        ax.plot(xs, mean_y + slope["mean"] * (xs - mean_x), color=COLOURS["hicra"], linestyle="--", linewidth=1)
    ax.set_xlabel("hard-product error of the regime's base policy")
    ax.set_ylabel("HICRA - GRPO, final accuracy (points)")
    ax.set_title("The boundary condition as a trend", fontsize=10)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def alpha_sweep(res: dict, path: Path) -> Path | None:
    """Planning-bound regime: HICRA at each alpha minus GRPO, final accuracy, with 95% intervals."""
    comps = res.get("regimes", {}).get("multiply-planning", {}).get("comparisons", {})
    pts = [(0.2, comps.get("hicra-grpo"))] + [(float(g.split("-")[1]), comps.get(f"{g}-grpo"))
                                               for g in ("alpha-0.1", "alpha-0.5", "alpha-1.0")]
    pts = [(a, c[PRIMARY]["difference"]) for a, c in pts if c]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.6), constrained_layout=True)
    for a, iv in sorted(pts):
        err = None if math.isnan(iv["low"]) else [[iv["mean"] - iv["low"]], [iv["high"] - iv["mean"]]]
        ax.errorbar([a], [iv["mean"]], yerr=err, fmt="o", color=COLOURS["hicra"], capsize=4)
        ax.annotate(f"n={iv['n']}", (a, iv["mean"]), textcoords="offset points", xytext=(6, 4), fontsize=7)
    ax.axhline(0, color="#999999", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("alpha")
    ax.set_ylabel("HICRA - GRPO, final accuracy (points)")
    ax.set_title("multiply-planning: the alpha sweep", fontsize=10)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
