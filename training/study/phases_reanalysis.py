"""A re-analysis of the phases study's records with phase measures the task lets move, each beside its ceiling.

Named in ``docs/study3-plan.md`` after the phases runs had been seen, so the
page labels this a **re-analysis**, not a test named before running. Per
seed, from the per-step training records:

* the **plan switch**: the first step at which the 10-step mean of the
  fitting-plan share reaches 0.8 (:func:`training.study.posthoc.steps_to_share`);
* **phase 1**, after the switch: the execution-error share (failures whose plan
  fit and some arithmetic statement is false, of the step's samples) and the
  execution-token entropy, the mean of the last ``EDGE`` steps minus the mean
  of the ``EDGE`` steps from the switch. Ceiling (analytic): a share or an
  entropy falls at most to zero, so the largest possible fall is the level
  after the switch;
* **phase 2**, at the cluster level: the plan-choice entropy, in bits, of the
  first-plan shares (the five plans and "none"): paraphrases merge into
  their plan, and the answer template is not a plan, so neither adds noise.
  Change: last ``EDGE`` steps minus the first ``EDGE``. Ceilings: the maximum
  log2(6) bits, and two best policies over the training problems (the
  shortcut exactly where it fits; on the other problems the four general
  plans equally often, or one of them always), each minus the start.
"""

from __future__ import annotations

import math
from dataclasses import asdict

import numpy as np

from training.hierarchy.stats import mean_ci
from training.study.posthoc import steps_to_share

EDGE = 15
PLANS = ("shortcut", "split", "round", "swap_split", "swap_round", "none")


def entropy_bits(shares: list[float]) -> float:
    """Shannon entropy (bits) of shares that sum to about 1 (zeros ignored).

    >>> entropy_bits([0.5, 0.5, 0.0]), round(entropy_bits([0.8, 0.05, 0.05, 0.05, 0.05]), 3)
    (1.0, 1.122)
    """
    return float(-sum(p * math.log2(p) for p in shares if p > 0))


def best_policy_bits() -> dict[str, float]:
    """Plan-choice entropy of the best policies over the training problems (see the module docstring)."""
    from training.tasks.shortcut import problems, same_tens

    train = problems("train")
    s = sum(same_tens(p.a, p.b) for p in train) / len(train)
    return {"uniform_general": entropy_bits([s] + [(1 - s) / 4] * 4), "one_general": entropy_bits([s, 1 - s]),
            "maximum": math.log2(len(PLANS))}


def per_seed(records: list[dict], samples: int) -> dict[str, float]:
    steps = [r for r in records if r.get("kind") == "step"]
    switch = steps_to_share(steps)
    out = {"switch": switch}
    plan_h = np.array([entropy_bits([r.get(f"plan/{p}", 0.0) for p in PLANS]) for r in steps])
    out["plan_entropy_start"] = float(plan_h[:EDGE].mean())
    out["plan_entropy_change"] = float(plan_h[-EDGE:].mean() - plan_h[:EDGE].mean())
    for name, values in (("exec_error", [100 * r.get("errors/execution", np.nan) / samples for r in steps]),
                         ("exec_entropy", [r.get("entropy/execution", np.nan) for r in steps])):
        y = np.array(values, dtype=float)
        if math.isnan(switch) or int(switch) + EDGE > len(y) - EDGE:
            out[f"{name}_after"] = out[f"{name}_change"] = float("nan")
            continue
        after = float(np.nanmean(y[int(switch):int(switch) + EDGE]))
        out[f"{name}_after"] = after
        out[f"{name}_change"] = float(np.nanmean(y[-EDGE:]) - after)
    return out


def analyse(runs: dict[int, list[dict]], samples: int) -> dict:
    """One regime's re-analysis: per-measure intervals across seeds, and the ceilings."""
    per = [per_seed(r, samples) for r in runs.values()]
    stat = {k: asdict(mean_ci([p[k] for p in per])) for k in per[0]} if per else {}
    best = best_policy_bits()
    start = stat.get("plan_entropy_start", {}).get("mean", float("nan"))
    stat["ceilings"] = {"plan_entropy_max": best["maximum"] - start,
                        "plan_entropy_best_uniform": best["uniform_general"] - start,
                        "plan_entropy_best_one": best["one_general"] - start,
                        "exec_error": -stat.get("exec_error_after", {}).get("mean", float("nan")),
                        "exec_entropy": -stat.get("exec_entropy_after", {}).get("mean", float("nan"))}
    return stat


def _iv(d: dict, digits: int = 3) -> str:
    if d["n"] < 2 or math.isnan(d["low"]):
        return f"{d['mean']:+.{digits}f} (n={d['n']}, no interval)"
    return f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"


def lines(a: dict) -> list[str]:
    """The page's table for one regime (no verdict beyond what each interval and ceiling say)."""
    c = a["ceilings"]
    sw = a["switch"]
    out = [f"*Re-analysis (measures named after these runs were seen, in `docs/study3-plan.md`):* plan switch "
           f"(10-step mean of the fitting-plan share first at 0.8) at step {sw['mean']:.1f} "
           f"[{sw['low']:.1f}, {sw['high']:.1f}].", "",
           "| measure | level | change | ceiling of the change |", "|---|---|---|---|",
           f"| phase 1: execution errors, % of samples (after the switch to the last {EDGE} steps) | "
           f"{a['exec_error_after']['mean']:.2f} | {_iv(a['exec_error_change'], 2)} | "
           f"{c['exec_error']:+.2f} (to zero) |",
           f"| phase 1: execution-token entropy, nats (same window) | {a['exec_entropy_after']['mean']:.4f} | "
           f"{_iv(a['exec_entropy_change'], 4)} | {c['exec_entropy']:+.4f} (to zero) |",
           f"| phase 2: plan-choice entropy, bits (last minus first {EDGE} steps) | "
           f"{a['plan_entropy_start']['mean']:.3f} | {_iv(a['plan_entropy_change'])} | "
           f"{c['plan_entropy_max']:+.3f} (maximum); best policy {c['plan_entropy_best_uniform']:+.3f} (general "
           f"plans equally often) or {c['plan_entropy_best_one']:+.3f} (one general plan) |", ""]
    return out
