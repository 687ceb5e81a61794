"""The Compare tab's table: each metric per arm with its interval, and HICRA - GRPO paired by seed.

Honest by construction (no gradio here; ``lab.ui.runs_handlers.compare`` shows it):

* one **primary** comparison, named before any data is seen: final held-out
  accuracy. Its paired 95% interval decides "differs" or "no difference
  detected";
* every other row is **secondary**: its paired t test's p-value is
  Holm-adjusted across the secondary rows, and only an adjusted p below 0.05
  is called a difference;
* fewer than two seeds with both arms: "too few seeds to compare", never a
  winner;
* shares (accuracy, pass@k, error shares) are bounded: their intervals are
  cut at [0, 1] and printed as percentages.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from training.hierarchy.stats import Interval, holm, mean_ci, paired_difference, t_test_p

Records = list[dict]


@dataclass(frozen=True)
class Metric:
    label: str
    value: Callable[[Records], float]
    share: bool = False  # a share of samples: bounded in [0, 1], printed as a percentage


PRIMARY = "final held-out accuracy"
ALPHA = 0.05


def _bounded(ci: Interval, share: bool) -> Interval:
    if not share or math.isnan(ci.low):
        return ci
    return Interval(ci.mean, max(0.0, ci.low), min(1.0, ci.high), ci.n)


def fmt_value(ci: Interval, share: bool) -> str:
    """``"62.5% [55.1%, 69.9%] (n=3)"``, or the mean and "(n=1)" alone for one seed; "-" for none."""
    if ci.n == 0 or math.isnan(ci.mean):
        return "-"
    one = (lambda v: f"{100 * v:.1f}%") if share else (lambda v: f"{v:.3g}")
    if ci.n < 2 or math.isnan(ci.low):
        return f"{one(ci.mean)} (n={ci.n})"
    ci = _bounded(ci, share)
    return f"{one(ci.mean)} [{one(ci.low)}, {one(ci.high)}] (n={ci.n})"


def fmt_difference(d: Interval, share: bool) -> str:
    """A paired difference (not cut at bounds: a difference of shares lies in [-1, 1] anyway)."""
    one = (lambda v: f"{100 * v:+.1f} pts") if share else (lambda v: f"{v:+.3g}")
    if d.n < 2 or math.isnan(d.low):
        return f"{one(d.mean)} (n={d.n})"
    return f"{one(d.mean)} [{one(d.low)}, {one(d.high)}] (n={d.n})"


def comparison_table(groups: dict[str, dict[int, Records]], metrics: list[Metric], arm_label=str) -> str:
    """Markdown: one row per metric, one column per arm, and HICRA - GRPO paired by seed when both are there.

    ``metrics`` must contain :data:`PRIMARY`; the others are the secondary family.
    """
    algos = list(groups)
    pair = "grpo" in groups and "hicra" in groups
    header = "| metric | " + " | ".join(f"{arm_label(a)} (seeds: {len(groups[a])})" for a in algos)
    header += " | HICRA - GRPO, paired by seed | verdict |" if pair else " |"
    rows = [header, "|" + "---|" * (len(algos) + 1 + 2 * pair)]
    diffs: dict[str, tuple[Interval, list[float]]] = {}
    if pair:
        for m in metrics:
            g = {s: m.value(r) for s, r in groups["grpo"].items()}
            h = {s: m.value(r) for s, r in groups["hicra"].items()}
            seeds = [s for s in sorted(set(g) & set(h)) if not (math.isnan(g[s]) or math.isnan(h[s]))]
            diffs[m.label] = (paired_difference(g, h), [h[s] - g[s] for s in seeds])
    adjusted = holm({label: t_test_p(values) for label, (_, values) in diffs.items() if label != PRIMARY})
    for m in metrics:
        name = f"**{m.label}** (primary)" if m.label == PRIMARY else m.label
        row = f"| {name} | " + " | ".join(fmt_value(mean_ci([m.value(r) for r in groups[a].values()]), m.share)
                                          for a in algos)
        if pair:
            d, values = diffs[m.label]
            row += f" | {'-' if d.n == 0 else fmt_difference(d, m.share)} | {_verdict(m.label, d, adjusted)} |"
        else:
            row += " |"
        rows.append(row)
    note = ("Each arm: mean across seeds with its 95% t interval (shares cut at 0% and 100%). The primary "
            f"comparison ({PRIMARY}) was named before any data: a difference when its paired 95% interval "
            "excludes 0. The other rows are secondary: their paired t tests are Holm-adjusted across them, and "
            f"only an adjusted p below {ALPHA} counts. With fewer than 2 seeds there is no interval and no "
            "verdict: launch more seeds (Train, 'seeds') to compare.")
    return "\n".join(rows) + "\n\n" + note


def _verdict(label: str, d: Interval, adjusted: dict[str, float]) -> str:
    if d.n < 2 or math.isnan(d.low):
        return "too few seeds to compare"
    if label == PRIMARY:
        return "differs (interval excludes 0)" if d.excludes_zero else "no difference detected"
    p = adjusted.get(label, float("nan"))
    if math.isnan(p):
        return "no difference detected"
    return f"differs (Holm p = {p:.2g})" if p < ALPHA else f"no difference detected (Holm p = {p:.2g})"
