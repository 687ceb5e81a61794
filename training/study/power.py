"""Study 3's power analysis, from Study 2's committed records: how many seeds a fixed-step comparison needs.

    python -m training.study.power                 # step 50, MDE 1.5 and 2.0 points, Holm over two
    python -m training.study.power --step 50 --mde 1.5,2.0 --family 2

For each regime of Study 2 and each main comparison (HICRA - GRPO, HICRA -
placebo), the paired sd of held-out accuracy at ``step`` (an evaluation
every run has: Study 2 evaluated at steps 0, 50 and 100), its upper one-sided
95% confidence bound from the chi-square distribution,

    sd_upper = sd * sqrt((n - 1) / chi2.ppf(0.05, n - 1)),

and the fewest seeds whose minimum detectable effect at 80% power, two-sided
at ``0.05 / family`` (Holm's first step over the two co-primaries is the
strictest, so planning for it is conservative), is at most each target MDE.

Study 2 evaluated 400 problems x 4 samples; Study 3 evaluates all 485
held-out problems x 8 samples. The binomial bound below says how much of the
sd that can remove, but the plan uses Study 2's sd *as-is* (conservative):
the evaluation's share of the spread is only bounded, not measured.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

from training.hierarchy.stats import minimum_detectable_effect, sd
from training.runs import read_jsonl
from training.study.sweep import REGIMES, Arm, StudyConfig, finished

STUDY2_EVAL = 400 * 4  # held-out samples per evaluation in Study 2
STUDY3_EVAL = 485 * 8  # all held-out problems x 8 samples in Study 3


@dataclass(frozen=True)
class PowerRow:
    regime: str
    comparison: str
    n: int  # paired seeds
    mean: float  # mean paired difference at the step (points; reported, not used by the plan)
    sd: float  # paired sd (points)
    sd_upper: float  # its upper one-sided 95% confidence bound (points)
    accuracy: float  # mean accuracy of the two arms at the step (for the binomial bound)
    seeds: dict  # target MDE -> seeds needed at sd_upper (None: more than `most`)
    seeds_at_sd: dict  # target MDE -> seeds needed at the point sd


def accuracy_at(records: list[dict], step: int) -> float | None:
    """Held-out accuracy (points) of the evaluation at ``step``, or None when the run has none there."""
    for r in records:
        if r.get("kind") == "eval" and r.get("step") == step:
            return 100.0 * r["eval/accuracy"]
    return None


def sd_upper_bound(value: float, n: int, level: float = 0.95) -> float:
    """One-sided upper ``level`` bound of a normal sd from ``n`` values (chi-square, n - 1 df).

    >>> round(sd_upper_bound(1.0, 10), 3)  # sqrt(9 / chi2.ppf(0.05, 9)) = sqrt(9 / 3.325)
    1.645
    """
    from scipy.stats import chi2

    if n < 2 or math.isnan(value):
        return float("nan")
    return value * math.sqrt((n - 1) / chi2.ppf(1 - level, n - 1))


def seeds_needed(sd_value: float, mde: float, alpha: float, power: float = 0.8, most: int = 200) -> int | None:
    """Fewest seeds whose paired-t MDE (two-sided ``alpha``, ``power``) at ``sd_value`` is at most ``mde``.

    >>> seeds_needed(2.0, 2.0, 0.05)  # (t(.975, n-1) + t(.8, n-1)) / sqrt(n) <= 1 first at n = 10
    10
    """
    if math.isnan(sd_value) or mde <= 0:
        return None
    for n in range(2, most + 1):
        if minimum_detectable_effect(sd_value, n, level=1 - alpha, power=power) <= mde:
            return n
    return None


def eval_sd_bound(accuracy: float, samples: int) -> float:
    """Upper bound (points) of one run's evaluation sd from sampling alone: sqrt(p(1 - p) / samples).

    Per-problem success rates p_i vary, and mean p_i(1 - p_i) <= p(1 - p), so this bounds the
    within-problem sampling noise of a fixed problem set from above.
    """
    p = accuracy / 100.0
    return 100.0 * math.sqrt(p * (1 - p) / samples)


def shrunk_sd(paired: float, old: float, new: float) -> float:
    """The least a paired sd could become when each run's evaluation sd falls from at most ``old`` to at most
    ``new`` (both arms' evaluations independent): the evaluation's share, at most ``min(sd^2, 2 old^2)``, scales
    by ``(new / old)^2``; the rest stays.

    >>> round(shrunk_sd(2.0, 1.0, 0.5), 3)  # 4 - 2 = 2 stays; 2 * 0.25 = 0.5 comes back
    1.581
    """
    share = min(paired ** 2, 2 * old ** 2)
    return math.sqrt(paired ** 2 - share + share * (new / old) ** 2)


def mde_at(sd_value: float, n: int, alpha: float) -> float:
    """The paired-t MDE (points) at 80% power, two-sided ``alpha``, with ``n`` seeds."""
    return minimum_detectable_effect(sd_value, n, level=1 - alpha)


def power_table(step: int = 50, mdes: tuple[float, ...] = (1.5, 2.0), family: int = 2,
                cfg: StudyConfig | None = None) -> list[PowerRow]:
    """One row per regime and main comparison, from Study 2's committed records."""
    cfg = cfg or StudyConfig()
    alpha = 0.05 / family
    rows = []
    for regime in REGIMES:
        acc: dict[str, dict[int, float]] = {}
        for group in ("grpo", "hicra", "placebo"):
            for seed in range(0, cfg.max_seeds):
                folder = cfg.records(Arm(regime, group, seed))
                if finished(folder, cfg.steps):
                    value = accuracy_at(read_jsonl(folder / "metrics.jsonl"), step)
                    if value is not None:
                        acc.setdefault(group, {})[seed] = value
        for other in ("grpo", "placebo"):
            seeds = sorted(set(acc.get("hicra", {})) & set(acc.get(other, {})))
            if len(seeds) < 2:
                continue
            diffs = [acc["hicra"][s] - acc[other][s] for s in seeds]
            spread = sd(diffs)
            upper = sd_upper_bound(spread, len(seeds))
            mean_acc = sum(acc["hicra"][s] + acc[other][s] for s in seeds) / (2 * len(seeds))
            rows.append(PowerRow(regime, f"hicra-{other}", len(seeds), sum(diffs) / len(diffs), spread, upper,
                                 mean_acc, {m: seeds_needed(upper, m, alpha) for m in mdes},
                                 {m: seeds_needed(spread, m, alpha) for m in mdes}))
    return rows


def render(rows: list[PowerRow], step: int, mdes: tuple[float, ...], family: int, planned: int = 0) -> str:
    alpha = 0.05 / family
    lines = [f"Study 2 records, held-out accuracy at step {step}; paired by seed; two-sided alpha {alpha:g} "
             f"(Holm's first step over {family}), 80% power; sd_upper: one-sided 95% chi-square bound.", "",
             "| regime | comparison | n | mean diff | paired sd | sd upper 95% | "
             + " | ".join(f"seeds for MDE {m:g} (sd / sd upper)" for m in mdes) + " |",
             "|---|---|---|---|---|---|" + "---|" * len(mdes)]
    for r in rows:
        cells = " | ".join(f"{r.seeds_at_sd[m]} / {r.seeds[m]}" for m in mdes)
        lines.append(f"| {r.regime} | {r.comparison} | {r.n} | {r.mean:+.2f} | {r.sd:.2f} | {r.sd_upper:.2f} | "
                     f"{cells} |")
    lines += ["", "Evaluation noise (binomial upper bound per run; paired: x sqrt(2)):"]
    for r in rows:
        old, new = eval_sd_bound(r.accuracy, STUDY2_EVAL), eval_sd_bound(r.accuracy, STUDY3_EVAL)
        lines.append(f"- {r.regime} {r.comparison}: accuracy {r.accuracy:.1f}; eval sd <= {old:.2f} points at "
                     f"400x4, <= {new:.2f} at 485x8; the paired sd could shrink to no less than "
                     f"{shrunk_sd(r.sd, old, new):.2f} (not used: the plan takes the sd as-is)")
    if planned:
        lines += ["", f"MDE with {planned} seeds (point sd / sd upper):"]
        lines += [f"- {r.regime} {r.comparison}: {mde_at(r.sd, planned, alpha):.2f} / "
                  f"{mde_at(r.sd_upper, planned, alpha):.2f} points" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.study.power", description=__doc__.split("\n\n")[0])
    ap.add_argument("--step", type=int, default=50, help="the evaluation step compared")
    ap.add_argument("--mde", default="1.5,2.0", help="target minimum detectable effects (points, comma-separated)")
    ap.add_argument("--family", type=int, default=2, help="co-primary comparisons (Holm): alpha 0.05 / family")
    ap.add_argument("--planned", type=int, default=0, help="also print the MDE with this many seeds (0: no)")
    args = ap.parse_args(argv)
    try:
        mdes = tuple(float(x) for x in args.mde.split(",") if x.strip())
    except ValueError:
        print(f"error: --mde takes comma-separated numbers, got {args.mde!r}")
        return 2
    if args.family < 1 or not mdes or min(mdes) <= 0:
        print("error: --family must be at least 1 and every --mde above 0")
        return 2
    rows = power_table(args.step, mdes, args.family)
    if not rows:
        print(f"error: no Study 2 records with an evaluation at step {args.step} in docs/study/runs/")
        return 2
    print(render(rows, args.step, mdes, args.family, args.planned))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
