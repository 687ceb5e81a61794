"""Across-seed statistics for comparisons: means, 95% intervals, paired differences.

With n seeds the interval is the t interval, mean +- t(0.975, n-1) * sd / sqrt(n)
(sample sd). One seed gives no interval (``nan`` half-width): a single run
cannot say how much its curve would move with another seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from statistics import NormalDist
from typing import Sequence


@dataclass(frozen=True)
class Interval:
    mean: float
    low: float
    high: float
    n: int

    @property
    def excludes_zero(self) -> bool:
        return self.n > 1 and (self.low > 0 or self.high < 0)

    def __str__(self) -> str:
        if self.n < 2 or math.isnan(self.low):
            return f"{self.mean:+.3f} (n={self.n}, no interval)"
        return f"{self.mean:+.3f} [{self.low:+.3f}, {self.high:+.3f}] (n={self.n})"


@lru_cache(maxsize=256)  # charts ask for the same few quantiles at every point
def t_quantile(df: int, q: float = 0.975) -> float:
    from scipy.stats import t

    return float(t.ppf(q, df))


def mean_ci(values: Sequence[float], level: float = 0.95) -> Interval:
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    n = len(vals)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    mean = sum(vals) / n
    if n == 1:
        return Interval(mean, float("nan"), float("nan"), 1)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    half = t_quantile(n - 1, 0.5 + level / 2) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, n)


def paired_difference(a: dict[int, float], b: dict[int, float], level: float = 0.95) -> Interval:
    """Mean of ``b[seed] - a[seed]`` over the seeds both have, with its interval.

    Arms that share a seed saw the same prompts and random numbers, so the
    per-seed difference removes that shared noise.
    """
    seeds = sorted(set(a) & set(b))
    return mean_ci([b[s] - a[s] for s in seeds], level)


def t_test_p(values: Sequence[float]) -> float:
    """Two-sided p-value of a one-sample t test of mean zero (for paired differences: the paired t test);
    nan with fewer than two values.

    >>> round(t_test_p([1.0, 2.0, 3.0]), 4)  # t = 2 / (1 / sqrt(3)) = 3.46 on 2 df
    0.0742
    >>> t_test_p([0.5, 0.5])  # no spread: a zero-width interval that excludes zero
    0.0
    """
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    n = len(vals)
    if n < 2:
        return float("nan")
    mean, spread = sum(vals) / n, sd(vals)
    if spread == 0:
        return 1.0 if mean == 0 else 0.0
    from scipy.stats import t

    return float(2 * t.sf(abs(mean) / (spread / math.sqrt(n)), n - 1))


def holm(pvalues: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjustment for a family of tests (controls the chance of any false positive at the
    level); nan p-values are left out of the family and stay nan.

    >>> holm({"a": 0.01, "b": 0.04, "c": 0.03})  # sorted 0.01, 0.03, 0.04: x3, x2, x1, kept monotone
    {'a': 0.03, 'b': 0.06, 'c': 0.06}
    """
    ranked = sorted((v, k) for k, v in pvalues.items() if not math.isnan(v))
    out = {k: float("nan") for k in pvalues}
    running = 0.0
    for i, (v, k) in enumerate(ranked):
        running = max(running, min(1.0, v * (len(ranked) - i)))
        out[k] = round(running, 12)
    return out


def minimum_detectable_effect(sd: float, n: int, level: float = 0.95, power: float = 0.8) -> float:
    """Smallest true mean difference a paired t test on ``n`` seeds detects with ``power``.

    ``(t(1 - (1 - level) / 2, n - 1) + t(power, n - 1)) * sd / sqrt(n)``, the usual
    approximation for a two-sided test; ``sd`` is the sd of the per-seed differences.

    >>> round(minimum_detectable_effect(1.75, 5), 2)
    2.91
    >>> round(minimum_detectable_effect(1.75, 10), 2)
    1.74
    """
    if n < 2 or math.isnan(sd):
        return float("nan")
    return (t_quantile(n - 1, 0.5 + level / 2) + t_quantile(n - 1, power)) * sd / math.sqrt(n)


def seeds_for_effect(sd: float, effect: float, level: float = 0.95, power: float = 0.8,
                     most: int = 1000) -> int | None:
    """Fewest seeds whose :func:`minimum_detectable_effect` at this ``sd`` is at most ``effect`` (None when
    ``sd`` is unknown or more than ``most`` would be needed).

    >>> seeds_for_effect(1.75, 2.0)
    9
    >>> seeds_for_effect(0.0, 2.0)
    2
    """
    if math.isnan(sd) or effect <= 0:
        return None
    for n in range(2, most + 1):
        if minimum_detectable_effect(sd, n, level, power) <= effect:
            return n
    return None


def wilson(successes: float, n: int, level: float = 0.95) -> Interval:
    """A proportion with its Wilson score interval, which stays inside [0, 1] (one run's accuracy over its
    evaluated samples; samples of one problem are not independent, so it is a little too narrow there).

    >>> w = wilson(36, 80)
    >>> round(w.mean, 3), round(w.low, 3), round(w.high, 3), w.n
    (0.45, 0.346, 0.559, 80)
    >>> round(wilson(0, 10).low, 6), round(wilson(10, 10).high, 6)  # never below 0 or above 1
    (0.0, 1.0)
    """
    if n <= 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half), n)


def sd(values: Sequence[float]) -> float:
    vals = [float(v) for v in values if v is not None and not math.isnan(v)]
    if len(vals) < 2:
        return float("nan")
    m = sum(vals) / len(vals)
    return math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1))


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Interval:
    """Mean of ``a`` minus mean of ``b`` (independent samples), Welch's t interval.

    The difference in differences of two regimes: ``a`` and ``b`` are their
    per-seed paired differences, and the regimes' runs share nothing.

    >>> iv = welch_difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    >>> round(iv.mean, 3), round(iv.low, 3), round(iv.high, 3)
    (2.0, -0.484, 4.484)
    """
    a = [float(v) for v in a if v is not None and not math.isnan(v)]
    b = [float(v) for v in b if v is not None and not math.isnan(v)]
    if len(a) < 2 or len(b) < 2:
        m = (sum(a) / len(a) if a else float("nan")) - (sum(b) / len(b) if b else float("nan"))
        return Interval(m, float("nan"), float("nan"), min(len(a), len(b)))
    va, vb = sd(a) ** 2 / len(a), sd(b) ** 2 / len(b)
    mean = sum(a) / len(a) - sum(b) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return Interval(mean, mean, mean, min(len(a), len(b)))
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_quantile_float(df, 0.5 + level / 2) * se
    return Interval(mean, mean - half, mean + half, min(len(a), len(b)))


def slope_ci(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> Interval:
    """Least-squares slope of ``y`` on ``x`` with its t interval (n - 2 degrees of freedom).

    >>> iv = slope_ci([0, 0, 1, 1], [0.0, 1.0, 2.0, 3.0])
    >>> round(iv.mean, 3), round(iv.low, 3), round(iv.high, 3)
    (2.0, -1.042, 5.042)
    """
    pts = [(float(a), float(b)) for a, b in zip(x, y) if b is not None and not math.isnan(b)]
    n = len(pts)
    if n < 3:
        return Interval(float("nan"), float("nan"), float("nan"), n)
    mx, my = sum(p[0] for p in pts) / n, sum(p[1] for p in pts) / n
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    if sxx == 0:
        return Interval(float("nan"), float("nan"), float("nan"), n)
    slope = sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx
    resid = sum((p[1] - my - slope * (p[0] - mx)) ** 2 for p in pts)
    se = math.sqrt(resid / (n - 2) / sxx)
    half = t_quantile(n - 2, 0.5 + level / 2) * se
    return Interval(slope, slope - half, slope + half, n)


def t_quantile_float(df: float, q: float = 0.975) -> float:
    """The t quantile for a non-integer number of degrees of freedom (Welch)."""
    from scipy.stats import t

    return float(t.ppf(q, df))
