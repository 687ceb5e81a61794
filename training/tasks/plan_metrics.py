"""Plan-level figures of a batch of responses: what the task knows about plans, measured.

For every step and every evaluation (keys without the ``eval/`` prefix):

* ``plan/<name>``: share of responses whose first plan is ``<name>``
  (``plan/none``: no recognisable plan);
* ``plan/fitted``: share whose first plan fits the problem (the task's rule:
  :func:`training.tasks.multiply.fits`, :func:`training.tasks.shortcut.fits`);
* ``plan/verify`` and ``plan/backtrack``: share of responses that check a
  result, and that revise or abandon a plan;
* ``exec/hard_error``: of the products by 7, 8 or 9 (of a number of two
  digits or more) written in the responses, the share that is false: the
  error rate of the hard step itself (NaN when there is none);
  ``exec/hard_steps``: how many there were.
"""

from __future__ import annotations

from training.tasks import Plans
from training.tasks.multiply import hard_steps


def plan_figures(plans: Plans, problems: list, texts: list[str]) -> dict[str, float]:
    """Figures over paired ``problems[i]`` / ``texts[i]``.

    >>> from training.tasks import get_task
    >>> from training.tasks.multiply import Problem
    >>> task = get_task("multiply")
    >>> texts = [" Let's round the second number up: 28 = 30 - 2. 47 * 30 = 1410. 47 * 2 = 94.",
    ...          " Let's split the second number: 28 = 20 + 8. 47 * 20 = 940. 47 * 8 = 326."]
    >>> f = plan_figures(task.plans, [Problem(47, 28)] * 2, texts)
    >>> f["plan/round"], f["plan/split"], f["plan/fitted"], f["exec/hard_error"], f["exec/hard_steps"]
    (0.5, 0.5, 0.5, 1.0, 1)
    """
    n = max(len(texts), 1)
    chosen = [plans.plan_of(t) for t in texts]
    out = {f"plan/{s}": sum(c == s for c in chosen) / n for s in plans.strategies}
    out["plan/none"] = sum(c is None for c in chosen) / n
    out["plan/fitted"] = sum(plans.fits(p, c) for p, c in zip(problems, chosen)) / n
    moves = [set(plans.moves_of(t)) for t in texts]
    out["plan/verify"] = sum(bool(m & set(plans.verify_moves)) for m in moves) / n
    out["plan/backtrack"] = sum(bool(m & set(plans.backtrack_moves)) for m in moves) / n
    total = wrong = 0
    for t in texts:
        k, w = hard_steps(t)
        total, wrong = total + k, wrong + w
    out["exec/hard_error"] = wrong / total if total else float("nan")
    out["exec/hard_steps"] = total
    return out
