"""The study's figures (matplotlib, PNG), drawn from the runs and the analysed results."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.study.sweep import GROUPS, StudyConfig
from training.study.analysis import SMOOTH, band, eval_matrix, moving_average, step_curve

COLOURS = {"grpo": "#2563eb", "hicra": "#dc2626", "hicra-entropy": "#9333ea", "hicra-placebo": "#6b7280",
           "hicra-mined": "#ea580c", "hicra-generic": "#16a34a", "planning": "#d97706", "execution": "#2563eb"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.grid": True, "grid.alpha": 0.3})
    return plt


def _plot_band(ax, x, curves, colour, label):
    mean, low, high = band(curves)
    ax.plot(x, mean, color=colour, label=label, lw=1.6)
    if len(curves) > 1:
        ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0)


def _smoothed(by_seed: dict, key: str, steps: int) -> list:
    """Each seed's per-step curve of ``key``, as a moving average."""
    return [moving_average(step_curve(r, key, steps)) for r in by_seed.values()]


def figure_dynamics(cfg: StudyConfig, grpo: dict[int, list[dict]], path: Path) -> None:
    plt = _plt()
    x = np.arange(cfg.steps)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, prefix, title in ((axes[0], "ppl_rel", "Relative perplexity (vs step 0)"),
                              (axes[1], "entropy", "Token entropy (nats)")):
        for role in ("execution", "planning"):
            curves = _smoothed(grpo, f"{prefix}/{role}", cfg.steps)
            _plot_band(ax, x, curves, COLOURS[role], f"{role} tokens")
        ax.set_title(title)
        ax.legend(frameon=False)
    for key, colour, label in (("semantic/entropy_bits", "#dc2626", "planning phrases"),
                               ("semantic/other_conditional_bits", "#6b7280", "other grams (conditional)")):
        curves = _smoothed(grpo, key, cfg.steps)
        _plot_band(axes[2], x, curves, colour, label)
    axes[2].set_title("Semantic entropy (bits)")
    axes[2].legend(frameon=False)
    curves = _smoothed(grpo, "acc/batch", cfg.steps)
    _plot_band(axes[3], x, curves, "#16a34a", "batch accuracy")
    axes[3].set_title("Accuracy and response length")
    twin = axes[3].twinx()
    curves = _smoothed(grpo, "len/mean", cfg.steps)
    _plot_band(twin, x, curves, "#9ca3af", "length (tokens)")
    twin.set_ylabel("tokens", color="#6b7280")
    twin.grid(False)
    lines = axes[3].get_lines() + twin.get_lines()
    axes[3].legend(lines, [ln.get_label() for ln in lines], frameon=False, loc="lower right")
    for ax in axes:
        ax.set_xlabel("step")
    fig.suptitle(f"GRPO on the bundled task: mean of {len(grpo)} seeds, {SMOOTH}-step moving average, "
                 "95% band across seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def figure_accuracy(cfg: StudyConfig, runs, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    for group in ("grpo", "hicra"):
        if group in runs:
            steps, curves = eval_matrix(runs[group], "eval/accuracy")
            _plot_band(axes[0], steps, curves, COLOURS[group], f"{GROUPS[group][0].split(' (')[0]} "
                       f"({len(curves)} seeds)")
    axes[0].axhline(cfg.threshold, color="#9ca3af", ls=":", lw=1)
    axes[0].set_title(f"Held-out accuracy ({cfg.eval_n} problems), mean and 95% interval")
    axes[0].set_xlabel("step")
    axes[0].legend(frameon=False, loc="lower right")
    if "hicra" in runs:
        seeds = sorted(set(runs["grpo"]) & set(runs["hicra"]))
        steps, g = eval_matrix({s: runs["grpo"][s] for s in seeds}, "eval/accuracy")
        _, h = eval_matrix({s: runs["hicra"][s] for s in seeds}, "eval/accuracy")
        _plot_band(axes[1], steps, [b - a for a, b in zip(g, h)], "#111827", "HICRA - GRPO (paired by seed)")
        axes[1].axhline(0, color="#9ca3af", lw=1)
        axes[1].set_title("Paired difference, 95% interval")
        axes[1].set_xlabel("step")
        axes[1].legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def figure_semantic_errors(cfg: StudyConfig, runs, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    x = np.arange(cfg.steps)
    for group in ("grpo", "hicra"):
        if group not in runs:
            continue
        label = GROUPS[group][0].split(" (")[0]
        curves = _smoothed(runs[group], "semantic/entropy_bits", cfg.steps)
        _plot_band(axes[0], x, curves, COLOURS[group], label)
        for ax, kind in ((axes[1], "strategy"), (axes[2], "execution")):
            steps, curves = eval_matrix(runs[group], f"eval/errors/{kind}")
            _plot_band(ax, steps, curves, COLOURS[group], label)
    axes[0].set_title("Semantic entropy of planning phrases (bits)")
    axes[1].set_title("Held-out strategy errors (share of samples)")
    axes[2].set_title("Held-out execution errors (share of samples)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def figure_ablations(results: dict, path: Path) -> None:
    plt = _plt()
    groups = [g for g in GROUPS if g in results["groups"] and g != "grpo"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(groups) + 1.2))
    for i, g in enumerate(groups):
        d = results["groups"][g]["final_minus_grpo"]
        if d["n"] < 2:
            continue
        ax.errorbar(100 * d["mean"], i, xerr=[[100 * (d["mean"] - d["low"])], [100 * (d["high"] - d["mean"])]],
                    fmt="o", color=COLOURS[g], capsize=3)
    ax.axvline(0, color="#9ca3af", lw=1)
    ax.set_yticks(range(len(groups)), [f"{GROUPS[g][0]} (n={results['groups'][g]['final_minus_grpo']['n']})"
                                       for g in groups])
    ax.invert_yaxis()
    ax.set_xlabel("final held-out accuracy minus GRPO's, points (paired by seed), 95% interval")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
