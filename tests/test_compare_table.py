"""The Compare table: one primary comparison, Holm across the rest, no verdict from one seed, shares in bounds."""

from lab.compare_table import PRIMARY, Metric, comparison_table, fmt_value
from training.hierarchy.stats import Interval


def recs(acc: float, other: float) -> list[dict]:
    return [{"kind": "eval", "step": 10, "eval/accuracy": acc, "x": other}]


METRICS = [Metric(PRIMARY, lambda r: r[-1]["eval/accuracy"], share=True), Metric("other", lambda r: r[-1]["x"])]


def row(table: str, start: str) -> str:
    return next(line for line in table.splitlines() if line.startswith(start))


def test_one_seed_is_too_few_to_compare_never_a_winner():
    table = comparison_table({"grpo": {0: recs(0.4, 1)}, "hicra": {0: recs(0.45, 2)}}, METRICS)
    assert "too few seeds to compare" in row(table, f"| **{PRIMARY}**")
    assert "45.0% (n=1)" in table and "+5.0 pts (n=1)" in table and "differs" not in table


def test_the_primary_decides_by_its_interval_and_secondaries_by_holm():
    # HICRA is 10 points above GRPO on every one of 3 seeds (sd 0: the interval excludes 0); "other" differs
    # by 1, 2, 3 (p = 0.074 on 2 df): not a difference, even before correction
    grpo = {s: recs(0.5 + 0.01 * s, 0) for s in range(3)}
    hicra = {s: recs(0.6 + 0.01 * s, s + 1) for s in range(3)}
    table = comparison_table({"grpo": grpo, "hicra": hicra}, METRICS)
    assert "differs (interval excludes 0)" in row(table, f"| **{PRIMARY}**")
    assert "no difference detected (Holm p = 0.074)" in row(table, "| other")
    assert "Holm-adjusted" in table and "named before any data" in table


def test_a_share_s_interval_stays_within_0_and_100_percent():
    # accuracy 0.0, 1.0, 1.0 across seeds: mean 66.7%, the t interval runs from -76% to 210%; printed cut
    text = fmt_value(Interval(2 / 3, -0.768, 2.101, 3), share=True)
    assert text == "66.7% [0.0%, 100.0%] (n=3)"
    assert fmt_value(Interval(0.25, 0.2, 0.3, 2), share=False) == "0.25 [0.2, 0.3] (n=2)"
    assert fmt_value(Interval(float("nan"), float("nan"), float("nan"), 0), share=True) == "-"
