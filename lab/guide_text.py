"""The Guide's words on the bundled example run, computed from its records (no number typed in by hand).

:func:`phases_text` reads one GRPO run's ``metrics.jsonl`` records and
describes its two phases as the paper frames them; every direction
("falls", "rises") follows the numbers, so another run gets other words.
It is one run: the text says what happened in it, not what always happens.
"""

from __future__ import annotations

import numpy as np

EDGE = 15  # steps averaged at each end of a per-step curve


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _move(a: float, b: float, digits: int, unit: str = "") -> str:
    if f"{a:.{digits}f}" == f"{b:.{digits}f}":
        return f"stays at {a:.{digits}f}{unit}"
    return f"{'falls' if b < a else 'rises'} from {a:.{digits}f} to {b:.{digits}f}{unit}"


def phases_text(records: list[dict]) -> str | None:
    """Markdown for the Guide's two phases, from one run's records (None when they lack what it needs)."""
    steps = [r for r in records if r.get("kind") == "step"]
    evals = [r for r in records if r.get("kind") == "eval"]
    if len(steps) < 2 * EDGE or len(evals) < 2:
        return None
    first, last = steps[:EDGE], steps[-EDGE:]
    middle_at = min(100, len(steps) // 2)
    middle = steps[max(0, middle_at - EDGE):middle_at]
    ex = (_mean(first, "entropy/execution"), _mean(last, "entropy/execution"))
    pl = (_mean(first, "entropy/planning"), _mean(middle, "entropy/planning"), _mean(last, "entropy/planning"))
    sem = (_mean(first, "semantic/entropy_bits"), _mean(last, "semantic/entropy_bits"))
    if any(np.isnan(v) for v in (*ex, *pl, *sem)):
        return None
    e0, e1 = evals[0], evals[-1]
    samples = sum(v for k, v in e0.items() if k.startswith("eval/errors/"))
    acc = (e0["eval/accuracy"], e1["eval/accuracy"])
    phase1 = (f"1. *Procedural consolidation.* In the paper, execution tokens become reliable first. Here their "
              f"token entropy (teal) {_move(*ex, 3, ' nats')} (mean of the first and last {EDGE} steps), while "
              f"the planning tokens' entropy (amber) {_move(pl[0], pl[1], 3)} over the first {middle_at} "
              f"steps and ends at {pl[2]:.3f}.")
    strategy = ""
    if "eval/errors/strategy" in e0 and "eval/errors/strategy" in e1:
        strategy = (f"; strategy errors go from {e0['eval/errors/strategy']} to {e1['eval/errors/strategy']} in "
                    f"{samples} held-out samples")
    expected = "as the paper sees it" if sem[1] > sem[0] else "where the paper sees it rise"
    phase2 = (f"2. *Strategic exploration.* Held-out accuracy {_move(*acc, 3)} (steps {e0['step']} to "
              f"{e1['step']}){strategy}. The semantic entropy of planning phrases {_move(*sem, 1, ' bits')}, "
              f"{expected}; the lab shows it as it is.")
    return phase1 + "\n" + phase2
