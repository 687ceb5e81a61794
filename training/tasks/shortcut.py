"""The task regimes: two-digit multiplication where the *choice* of plan decides.

The legacy task (:mod:`training.tasks.multiply`) is execution-bound: its
hard products fail half the time, so most failures are arithmetic, and its
dead-end plan adds phrases that can only vanish as the policy improves. This
family keeps the format (``Q: a * b = ?``) and changes what the base policy
gets wrong, so that the paper's second phase and its boundary condition can
show (see the README, "Task regimes"):

* **A shortcut that silently fails where it does not apply.** The
  *same-tens trick* ``a * b = (a + y) * 10T + x * y`` (``a = 10T + x``,
  ``b = 10T + y``) is exact when both factors have the same tens digit.
  Used on other problems every statement it writes is still true
  arithmetic, but the result is not ``a * b`` (it is off by
  ``10 * a * (T_a - T_b)``). The base policy uses it out of habit on any
  problem (about 70% of its first plans); about 30% of the problems have
  equal tens digits, by construction of the problem set.
* **General plans that always fit** (split a factor, round it up, either
  after swapping the factors), chosen rarely by the base policy. They use
  the same execution primitives as the shortcut (products of a number by a
  digit times ten, sums, differences), but the bundled models run them far
  less reliably than the shortcut where it fits (forced-plan accuracies:
  ``assets/forced-plans.md``, measured by ``python -m training.bundled.forced``).
  So a fitting general plan can still be a worse choice than the shortcut;
  error taxonomy version 2 (:func:`classify_v2`) counts that as planning.
* **A final check** (rare in the base policy): the result is recomputed with
  a general plan, and a mismatch is repaired with the check's value.
* **The base policy's carry errors are the regime's one knob**: a product by
  7, 8 or 9 drops its carry with probability ``hard_error`` (0 in
  ``multiply-planning``, 0.15 in ``multiply-intermediate``, 0.5 in
  ``multiply-execution``), and any other step slips with a small fixed
  probability. Everything else is equal across the regimes, so the boundary
  condition can be tested as a trend. The regimes were first called
  planning-bound, intermediate and execution-heavy; the forced-plan
  accuracies show that even the first is not planning-bound (its model's
  general plans slip), so their labels now name the knob.

A plan *fits* a problem when, executed without error, it computes ``a * b``:
the general plans always fit, the shortcut only on same-tens problems. A
failure after a first plan that did not fit is a *strategy* error whatever
happened next; see :func:`classify`.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

from training.tasks.multiply import (
    HARD_DIGITS, Problem, Trace, _Builder, _drop_carry, _slip, all_factors, is_eval_pair, parse_answer, reward,
    statements_false,
)

PHRASES: dict[str, tuple[str, tuple[str, ...]]] = {
    # move: (function tag, paraphrases)
    "shortcut": ("branching", ("Let's use the same-tens trick", "We can use the shortcut for close numbers",
                               "Let's add the units first")),
    "split": ("branching", ("Let's split the second number", "Let's break the second number into tens and ones",
                            "We can write the second number as tens plus ones")),
    "round": ("branching", ("Let's round the second number up", "We can round the second number up",
                            "It is easier to round the second number up")),
    "swap": ("branching", ("Let's swap the two numbers", "It is easier the other way around")),
    "verify": ("verification", ("Let's double-check another way", "To be sure, let's check it another way",
                                "Let's verify with a second method")),
    "verify_ok": ("verification", ("Yes, that is right.", "Good, both agree.")),
    "verify_fix": ("backtracking", ("That does not match, so let's go back and use the check.",
                                    "Wait, that is wrong, so let's take the second result.")),
    "answer": ("deduction", ("So the answer is", "Therefore the answer is", "This gives the answer")),
}
STRATEGIES = ("shortcut", "split", "round", "swap_split", "swap_round")
GENERAL = ("split", "round", "swap_split", "swap_round")
SAME_TENS_SHARE = 0.30  # of the problem set, by construction


@dataclass(frozen=True)
class Regime:
    """One level of execution reliability; everything else is shared."""

    name: str  # the task name
    label: str  # what the regime is for
    hard_error: float  # P(carry dropped) in a product by 7, 8 or 9


REGIMES = {  # labels name the knob (first called planning-bound, intermediate, execution-heavy)
    "multiply-planning": Regime("multiply-planning", "carry-safe", 0.0),
    "multiply-intermediate": Regime("multiply-intermediate", "15%-carry-error", 0.15),
    "multiply-execution": Regime("multiply-execution", "50%-carry-error", 0.5),
}


@dataclass(frozen=True)
class BasePolicy:
    """How the pretraining traces are written (see the module docstring)."""

    strategy_weights: tuple[float, ...] = (0.80, 0.05, 0.05, 0.05, 0.05)  # order of STRATEGIES
    hard_error: float = 0.0
    slip: float = 0.005  # P(a one-digit slip) in any other step
    verify: float = 0.06  # P(check the result with a general plan)


# ---------------------------------------------------------------- problems


def same_tens(a: int, b: int) -> bool:
    return a // 10 == b // 10


def _kept(a: int, b: int) -> bool:
    """The problem set: every same-tens pair, and a fixed hashed sample of the others."""
    if same_tens(a, b):
        return True
    lo, hi = min(a, b), max(a, b)
    digest = hashlib.sha256(f"shortcut:{lo}*{hi}".encode()).digest()
    return digest[0] < 77  # 77 / 256 = 30% of the other pairs: same-tens pairs are then about 30% of all


def problems(split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
    """Problems of a split, shuffled with ``seed``; eval and train are disjoint as unordered pairs."""
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    want_eval = split == "eval"
    pool = [Problem(a, b) for a in all_factors() for b in all_factors()
            if _kept(a, b) and is_eval_pair(a, b) == want_eval]
    random.Random(seed).shuffle(pool)
    return pool if n is None else pool[:n]


def fits(problem: Problem, plan: str | None) -> bool:
    """Does ``plan``, executed without error, compute ``a * b``?"""
    if plan is None:
        return False
    return plan != "shortcut" or same_tens(problem.a, problem.b)


# ------------------------------------------------------------- the writer


class _Writer:
    def __init__(self, problem: Problem, policy: BasePolicy, rng: random.Random):
        self.p, self.policy, self.rng, self.out = problem, policy, rng, _Builder()

    def phrase(self, move: str) -> str:
        return self.rng.choice(PHRASES[move][1])

    def plan(self, move: str) -> None:
        self.out.plan(move, " " + self.phrase(move), tag=PHRASES[move][0])

    def product(self, x: int, m: int) -> int:
        d = m
        while d >= 10 and d % 10 == 0:
            d //= 10
        true = x * m
        value = true
        if x >= 10 and d in HARD_DIGITS and self.rng.random() < self.policy.hard_error:
            value = _drop_carry(x, d) * (m // d)
        elif x >= 10 and self.rng.random() < self.policy.slip:
            value = _slip(true, self.rng)
        self.out.say(f" {x} * {m} = {value}.")
        return value

    def combine(self, x: int, op: str, y: int) -> int:
        true = x + y if op == "+" else x - y
        value = _slip(true, self.rng) if self.rng.random() < self.policy.slip else true
        self.out.say(f" {x} {op} {y} = {value}.")
        return value

    def run(self, strategy: str) -> int:
        """Write one plan and return its (possibly wrong) result."""
        x, y = self.p.a, self.p.b
        if strategy == "shortcut":
            tens, ux, uy = (x // 10) * 10, x % 10, y % 10
            self.plan("shortcut")
            self.out.say(":")
            head = self.combine(x, "+", uy)
            big = self.product(head, tens)
            small = ux * uy  # a one-digit fact: never slips
            self.out.say(f" {ux} * {uy} = {small}.")
            return self.combine(big, "+", small)
        if strategy.startswith("swap"):
            self.plan("swap")
            self.out.say(f": {y} * {x}.")
            x, y = y, x
            strategy = strategy[len("swap_"):]
        if strategy == "split":
            tens, units = (y // 10) * 10, y % 10
            self.plan("split")
            self.out.say(f": {y} = {tens} + {units}.")
            return self.combine(self.product(x, tens), "+", self.product(x, units))
        up = (y // 10 + 1) * 10
        self.plan("round")
        self.out.say(f": {y} = {up} - {up - y}.")
        return self.combine(self.product(x, up), "-", self.product(x, up - y))


def write_trace(problem: Problem, rng: random.Random, policy: BasePolicy = BasePolicy(),
                strategy: str | None = None, verify: bool | None = None) -> Trace:
    """One worked solution by the base policy (or with a forced first ``strategy`` / check)."""
    w = _Writer(problem, policy, rng)
    first = strategy or rng.choices(STRATEGIES, weights=policy.strategy_weights)[0]
    result = w.run(first)
    if verify if verify is not None else rng.random() < policy.verify:
        w.plan("verify")
        w.out.say(":")
        others = [s for s in GENERAL if s != first]
        check = w.run(rng.choices(others, weights=[policy.strategy_weights[STRATEGIES.index(s)] for s in others])[0])
        if check == result:
            w.plan("verify_ok")
        else:
            w.plan("verify_fix")
            result = check
    w.plan("answer")
    w.out.say(f" {result}.")
    return Trace(problem, w.out.text(), tuple(w.out.spans), first, result == problem.answer)


# ------------------------------------------------------- scoring responses


def classify(problem: Problem, response: str) -> str:
    """``"correct"``, ``"execution"`` or ``"strategy"`` (the plan-fit rule).

    * strategy: the first plan does not fit the problem (the shortcut on a
      problem whose tens digits differ), whatever happened next; or there is
      no final answer, or no recognisable plan; or every statement is true
      and the result is still wrong;
    * execution: the plan fits, and some arithmetic statement is false.
    """
    if reward(problem, response):
        return "correct"
    if parse_answer(response) is None or not fits(problem, plan_of(response)):
        return "strategy"
    return "execution" if statements_false(response) else "strategy"


TAXONOMY_VERSION = 2  # classify_v2; the records' ``errors/*`` keep version 1 (:func:`classify`)


def plan_cost(problem: Problem, plan: str) -> tuple[int, int]:
    """``(products by 7, 8 or 9 of a number >= 10, statements)`` that a fitting ``plan`` writes on ``problem``,
    executed without error: what it risks. The shortcut writes one product and two sums; a general plan two
    products and a sum (after a swap, on swapped factors).

    >>> plan_cost(Problem(47, 48), "shortcut"), plan_cost(Problem(47, 48), "split")
    ((0, 3), (1, 3))
    """
    x, y = problem.a, problem.b
    if plan == "shortcut":
        return (int((x // 10) in HARD_DIGITS), 3)
    if plan.startswith("swap"):
        x, y, plan = y, x, plan[len("swap_"):]
    if plan == "split":
        digits = [y // 10, y % 10]
    else:
        up = (y // 10 + 1) * 10
        digits = [up // 10 if up < 100 else 1, up - y]
    return (sum(d in HARD_DIGITS for d in digits), 3)


def best_plans(problem: Problem) -> tuple[str, ...]:
    """The fitting plans of least cost (:func:`plan_cost`): the shortcut alone where it fits (same tens digit;
    the bundled models run it most reliably, see their cards' forced-plan accuracies), else the general plans
    that meet the fewest hard products."""
    if same_tens(problem.a, problem.b):
        return ("shortcut",)
    costs = {s: plan_cost(problem, s) for s in GENERAL}
    least = min(costs.values())
    return tuple(s for s in GENERAL if costs[s] == least)


def classify_v2(problem: Problem, response: str) -> str:
    """Error taxonomy version 2: version 1 (:func:`classify`), except that a failure after a first plan that
    fits but is worse than the best plan for the problem (:func:`best_plans`) is a strategy (planning) error,
    whatever happened next: choosing the worse plan was the mistake that exposed the slip.

    >>> text = " Let's split the second number: 48 = 40 + 8. 47 * 40 = 1880. 47 * 8 = 366. 1880 + 366 = 2246."
    >>> text += " So the answer is 2246."
    >>> classify(Problem(47, 48), text), classify_v2(Problem(47, 48), text)
    ('execution', 'strategy')
    """
    kind = classify(problem, response)
    if kind == "execution" and plan_of(response) not in best_plans(problem):
        return "strategy"
    return kind


def plan_of(response: str) -> str | None:
    """The first plan a response commits to (one of ``STRATEGIES``), or None."""
    moves = moves_of(response)
    for i, move in enumerate(moves):
        if move in ("shortcut", "split", "round"):
            return move
        if move == "swap":
            nxt = next((m for m in moves[i + 1:] if m in ("split", "round")), None)
            return f"swap_{nxt}" if nxt else None
    return None


def moves_of(response: str) -> list[str]:
    """The planning moves in a response, in order (by their paraphrases)."""
    return [_MOVE_OF[m.group(0).lower()] for m in _MOVE_RE.finditer(response)]


_MOVE_OF = {p.lower(): move for move, (_, ps) in PHRASES.items() for p in ps}
_MOVE_RE = re.compile("|".join(re.escape(p) for p in sorted(_MOVE_OF, key=len, reverse=True)), re.IGNORECASE)
