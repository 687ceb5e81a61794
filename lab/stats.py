"""Across-seed statistics for comparisons: means, 95% intervals, paired differences.

With n seeds the interval is the t interval, mean +- t(0.975, n-1) * sd / sqrt(n)
(sample sd). One seed gives no interval (``nan`` half-width): a single run
cannot say how much its curve would move with another seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
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
