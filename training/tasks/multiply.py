"""The bundled task: two-digit multiplication by decomposition.

A problem is ``a * b`` with two-digit factors (no multiples of ten). A worked
solution picks a *plan* (the strategic part) and carries it out in
arithmetic steps (the execution part)::

    Q: 47 * 28 = ?
    A: Let's round the second number up: 28 = 30 - 2. 47 * 30 = 1410.
    47 * 2 = 94. 1410 - 94 = 1316. So the answer is 1316.

Plans (``STRATEGIES``): split a factor into tens + units, round a factor up
to the next multiple of ten and subtract, either on the second factor or,
after swapping, on the first; or halve the first factor and double the
second (sound only when the first is even and the second below 50).

The base policy that writes the pretraining traces (:class:`BasePolicy`)
is built so that RL has something to learn at both levels:

* execution: products by 7, 8 and 9 are *hard*: half the time the carry is
  dropped (one consistent wrong value), other steps slip rarely;
* strategy: the plan is chosen without looking at the problem, although
  which plan avoids hard products depends on the digits, and "halve" is a
  dead end on most problems (then the trace gives up, or rarely backtracks
  and tries another plan);
* verification ("let's double-check" a product with single-digit facts) and
  backtracking exist in the repertoire and raise accuracy, but are rare.

Every trace records the character span and function of each planning
phrase, so SG detection and mining can be scored exactly. The paraphrases in
``PHRASES`` give 29 distinct planning phrases across 5 functions.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

# ------------------------------------------------------------------ phrases
# Each planning move has paraphrases; the base policy picks one uniformly.
PHRASES: dict[str, tuple[str, tuple[str, ...]]] = {
    # move: (function tag, paraphrases)
    "split": ("branching", ("Let's split the second number", "Let's break the second number into tens and ones",
                            "We can write the second number as tens plus ones")),
    "round": ("branching", ("Let's round the second number up", "We can round the second number up",
                            "It is easier to round the second number up")),
    "swap": ("branching", ("Let's swap the two numbers", "It is easier the other way around")),
    "halve": ("branching", ("Let's halve the first number and double the second",
                            "We can halve one number and double the other")),
    "odd": ("backtracking", ("but it is odd", "but that is not a whole number")),
    "too_big": ("backtracking", ("but that is too big", "but that has three digits")),
    "backtrack": ("backtracking", ("This does not work, let's try a different approach.",
                                   "That fails, so let's try another way.",
                                   "Let's go back and use another plan.")),
    "give_up": ("other", ("I am not sure how to finish.", "This is too hard to finish.")),
    "verify": ("verification", ("Let's double-check", "Let's verify this", "To be sure, let's check")),
    "verify_ok": ("verification", ("Yes, that is right.", "Good, it matches.")),
    "verify_fix": ("verification", ("That is not right, so", "Wait, that is wrong, so")),
    "answer": ("deduction", ("So the answer is", "Therefore the answer is", "This gives the answer")),
}

STRATEGIES = ("split", "round", "swap_split", "swap_round", "halve")
HARD_DIGITS = frozenset({7, 8, 9})
ANSWER_RE = re.compile(r"answer(?: is)? (-?\d+)")
_STEP_RE = re.compile(r"(\d+) ([*+-]) (\d+) = (\d+)")
_DECOMP_RE = re.compile(r"(\d+) = (\d+) ([+-]) (\d+)")


@dataclass(frozen=True)
class Problem:
    a: int
    b: int

    @property
    def answer(self) -> int:
        return self.a * self.b

    @property
    def prompt(self) -> str:
        return f"Q: {self.a} * {self.b} = ?\nA:"


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    move: str
    tag: str


@dataclass(frozen=True)
class Trace:
    """A worked solution: the response text (after the prompt) and its labels."""

    problem: Problem
    text: str
    spans: tuple[Span, ...]  # ground-truth planning phrases, in order
    strategy: str  # the first plan tried
    correct: bool


@dataclass
class _Builder:
    parts: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    length: int = 0

    def say(self, text: str) -> None:
        self.parts.append(text)
        self.length += len(text)

    def plan(self, move: str, text: str, tag: str | None = None) -> None:
        self.spans.append(Span(self.length, self.length + len(text), move, tag or PHRASES[move][0]))
        self.say(text)

    def text(self) -> str:
        return "".join(self.parts)


# --------------------------------------------------------------- splits


def is_eval_pair(a: int, b: int) -> bool:
    """True for the held-out pairs (about 20%); ``a * b`` and ``b * a`` go together."""
    lo, hi = min(a, b), max(a, b)
    digest = hashlib.sha256(f"{lo}*{hi}".encode()).digest()
    return digest[0] < 52  # 52 / 256 = 20.3%


def all_factors() -> list[int]:
    return [n for n in range(12, 99) if n % 10]


def problems(split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
    """Problems of a split (``"train"`` or ``"eval"``), shuffled with ``seed``.

    ``n=None`` gives the whole split; the eval split is fixed and disjoint
    from train (as unordered pairs).
    """
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    want_eval = split == "eval"
    pool = [Problem(a, b) for a in all_factors() for b in all_factors() if is_eval_pair(a, b) == want_eval]
    random.Random(seed).shuffle(pool)
    return pool if n is None else pool[:n]


# ---------------------------------------------------------- the base policy


@dataclass(frozen=True)
class BasePolicy:
    """How the pretraining traces are written (see the module docstring)."""

    strategy_weights: tuple[float, ...] = (0.40, 0.20, 0.13, 0.09, 0.18)  # order of STRATEGIES
    hard_error: float = 0.5  # P(carry dropped) in a product by 7, 8 or 9
    slip: float = 0.03  # P(a random one-digit slip) in any other step
    verify: float = 0.06  # P(double-check a product)
    backtrack: float = 0.25  # P(try another plan after a dead end)


def _drop_carry(x: int, d: int) -> int:
    """``x * d`` written without carrying from the units into the tens."""
    units = (x % 10) * d
    high = (x // 10) * d
    return high * 10 + units % 10


def _slip(value: int, rng: random.Random) -> int:
    digits = str(value)
    i = rng.randrange(len(digits))
    new = rng.choice([c for c in "0123456789" if c != digits[i] and not (i == 0 and c == "0" and len(digits) > 1)])
    return int(digits[:i] + new + digits[i + 1:])


class _Writer:
    def __init__(self, problem: Problem, policy: BasePolicy, rng: random.Random):
        self.p, self.policy, self.rng, self.out = problem, policy, rng, _Builder()

    def phrase(self, move: str) -> str:
        return self.rng.choice(PHRASES[move][1])

    def product(self, x: int, m: int) -> int:
        """Write ``x * m = value`` (m a digit times a power of ten); maybe verify it."""
        d, scale = m, 1
        while d >= 10 and d % 10 == 0:
            d, scale = d // 10, scale * 10
        true = x * m
        value = true
        if d in HARD_DIGITS and self.rng.random() < self.policy.hard_error:
            value = _drop_carry(x, d) * scale
        elif self.rng.random() < self.policy.slip:
            value = _slip(true, self.rng)
        self.out.say(f" {x} * {m} = {value}.")
        if d > 1 and x >= 10 and self.rng.random() < self.policy.verify:
            # Re-derive the product from single-digit facts, which never slip.
            tens, units = (x // 10) * 10, x % 10
            self.out.plan("verify", " " + self.phrase("verify"))
            self.out.say(f": {tens} * {m} = {tens * m}, {units} * {m} = {units * m}, "
                         f"{tens * m} + {units * m} = {true}.")
            if value == true:
                self.out.plan("verify_ok", " " + self.phrase("verify_ok"))
            else:
                self.out.plan("verify_fix", " " + self.phrase("verify_fix"))
                self.out.say(f" {x} * {m} = {true}.")
                value = true
        return value

    def combine(self, x: int, op: str, y: int) -> int:
        true = x + y if op == "+" else x - y
        value = _slip(true, self.rng) if self.rng.random() < self.policy.slip else true
        self.out.say(f" {x} {op} {y} = {value}.")
        return value

    def run(self, strategy: str) -> int | None:
        """Write one plan; returns its result, or None at a dead end."""
        x, y = self.p.a, self.p.b
        if strategy.startswith("swap"):
            self.out.plan("swap", " " + self.phrase("swap"))
            self.out.say(f": {y} * {x}.")
            x, y = y, x
            strategy = strategy[len("swap_"):]
        if strategy == "split":
            tens, units = (y // 10) * 10, y % 10
            self.out.plan("split", " " + self.phrase("split"))
            self.out.say(f": {y} = {tens} + {units}.")
            return self.combine(self.product(x, tens), "+", self.product(x, units))
        if strategy == "round":
            up = (y // 10 + 1) * 10
            self.out.plan("round", " " + self.phrase("round"))
            self.out.say(f": {y} = {up} - {up - y}.")
            return self.combine(self.product(x, up), "-", self.product(x, up - y))
        # halve: sound when x is even and 2y has two digits
        self.out.plan("halve", " " + self.phrase("halve"))
        if x % 2:
            self.out.say(f": {x} / 2,")
            self.out.plan("odd", " " + self.phrase("odd"))
            self.out.say(".")
            return None
        if 2 * y >= 100:
            self.out.say(f": {y} * 2 = {2 * y},")
            self.out.plan("too_big", " " + self.phrase("too_big"))
            self.out.say(".")
            return None
        half, double = x // 2, 2 * y
        self.out.say(f": {half} * {double}.")
        tens, units = (double // 10) * 10, double % 10
        self.out.plan("split", " " + self.phrase("split"))
        self.out.say(f": {double} = {tens} + {units}.")
        return self.combine(self.product(half, tens), "+", self.product(half, units))


def write_trace(problem: Problem, rng: random.Random, policy: BasePolicy = BasePolicy(),
                strategy: str | None = None) -> Trace:
    """One worked solution by the base policy (or with a forced first ``strategy``)."""
    w = _Writer(problem, policy, rng)
    first = strategy or rng.choices(STRATEGIES, weights=policy.strategy_weights)[0]
    result = w.run(first)
    if result is None:
        if rng.random() < policy.backtrack:
            w.out.plan("backtrack", " " + w.phrase("backtrack"))
            others = [s for s in STRATEGIES if s != "halve"]
            result = w.run(rng.choices(others, weights=policy.strategy_weights[:len(others)])[0])
        else:
            w.out.plan("give_up", " " + w.phrase("give_up"))
    if result is not None:
        w.out.plan("answer", " " + w.phrase("answer"))
        w.out.say(f" {result}.")
    return Trace(problem, w.out.text(), tuple(w.out.spans), first, result == problem.answer)


# ------------------------------------------------------- scoring responses


def parse_answer(response: str) -> int | None:
    """The final answer ("... the answer is N"), or None when there is none."""
    found = ANSWER_RE.findall(response)
    return int(found[-1]) if found else None


def reward(problem: Problem, response: str) -> float:
    """1.0 when the last stated answer equals ``a * b``, else 0.0."""
    return 1.0 if parse_answer(response) == problem.answer else 0.0


def statements_false(response: str) -> bool:
    """Is some arithmetic statement of the response false (a product, a sum, a decomposition)?"""
    for x, op, y, z in _STEP_RE.findall(response):
        x, y, z = int(x), int(y), int(z)
        if z != {"*": x * y, "+": x + y, "-": x - y}[op]:
            return True
    for z, x, op, y in _DECOMP_RE.findall(response):
        if int(z) != (int(x) + int(y) if op == "+" else int(x) - int(y)):
            return True
    return False


def classify(problem: Problem, response: str) -> str:
    """``"correct"``, ``"execution"`` or ``"strategy"``, by the plan-fit rule.

    * strategy error: the first plan does not fit the problem (see
      :func:`fits`: unsound, or meeting more products by 7, 8, 9 than another
      plan would), whatever happened next; or the response has no final
      answer (it gave up or hit a dead end) or no recognisable plan; or every
      statement is true and the result is still wrong;
    * execution error: the plan fits and some arithmetic statement is false.

    So a dropped carry in a product the plan did not need is a strategy
    error. :func:`classify_by_statements` is the rule of the first study.
    """
    if reward(problem, response):
        return "correct"
    if parse_answer(response) is None or not fits(problem, plan_of(response)):
        return "strategy"
    return "execution" if statements_false(response) else "strategy"


def classify_by_statements(problem: Problem, response: str) -> str:
    """The first study's rule (``errors_by_statement/*`` in the records).

    * execution error: some arithmetic statement is false (a product, a sum,
      a decomposition such as ``28 = 30 - 2``), whatever the plan;
    * strategy error: the response gave up or hit a dead end without a final
      answer, or every statement is true but the plan does not compute
      ``a * b``.
    """
    if reward(problem, response):
        return "correct"
    if parse_answer(response) is None:
        return "strategy"
    return "execution" if statements_false(response) else "strategy"


# ------------------------------------------------------------- plan fit


def _digit(m: int) -> int:
    while m >= 10 and m % 10 == 0:
        m //= 10
    return m


def plan_products(problem: Problem, plan: str) -> list[tuple[int, int]] | None:
    """The products ``(x, m)`` a plan needs, executed without error; None for a dead end."""
    x, y = problem.a, problem.b
    if plan.startswith("swap"):
        x, y, plan = y, x, plan[len("swap_"):]
    if plan == "halve":
        if x % 2 or 2 * y >= 100:
            return None
        x, y = x // 2, 2 * y
        plan = "split"
    if plan == "split":
        return [(x, (y // 10) * 10), (x, y % 10)]
    up = (y // 10 + 1) * 10
    return [(x, up), (x, up - y)]


def hard_count(problem: Problem, plan: str) -> int | None:
    """Products by 7, 8 or 9 that ``plan`` meets on ``problem`` (None: the plan is a dead end)."""
    products = plan_products(problem, plan)
    return None if products is None else sum(_digit(m) in HARD_DIGITS for _, m in products)


def fits(problem: Problem, plan: str | None) -> bool:
    """Does ``plan`` fit ``problem``: sound, and meeting no more hard products than the best plan?

    The task's strategic lever is choosing a plan that avoids products by 7,
    8 and 9 (93% of training problems have one), so a plan that meets one
    where another plan would not does not fit.

    >>> fits(Problem(47, 28), "round"), fits(Problem(47, 28), "split"), fits(Problem(47, 28), "halve")
    (True, False, False)
    """
    if plan is None or plan not in STRATEGIES:
        return False
    counts = [c for c in (hard_count(problem, s) for s in STRATEGIES) if c is not None]
    mine = hard_count(problem, plan)
    return mine is not None and mine == min(counts)


# --------------------------------------------------- shared measurements


def hard_steps(response: str) -> tuple[int, int]:
    """``(products by 7, 8 or 9 of a number >= 10, how many of them are false)`` in a response."""
    total = wrong = 0
    for x, op, y, z in _STEP_RE.findall(response):
        if op == "*" and int(x) >= 10 and _digit(int(y)) in HARD_DIGITS:
            total += 1
            wrong += int(z) != int(x) * int(y)
    return total, wrong


def decision_spans(response: str) -> list[tuple[int, int]]:
    """Character spans of computed results: the digits after ``=`` in each arithmetic statement.

    These are the *decision* positions of execution (a carry kept or
    dropped shows there), unlike copied operands and format tokens.

    >>> decision_spans("Q. 47 * 2 = 94. 1410 - 94 = 1316.")
    [(12, 14), (28, 32)]
    """
    return [m.span(4) for m in _STEP_RE.finditer(response)]


def plan_of(response: str) -> str | None:
    """The first plan a response commits to (one of ``STRATEGIES``), or None."""
    moves = moves_of(response)
    for i, move in enumerate(moves):
        if move in ("split", "round", "halve"):
            return move
        if move == "swap":
            nxt = next((m for m in moves[i + 1:] if m in ("split", "round", "halve")), None)
            return f"swap_{nxt}" if nxt in ("split", "round") else "swap_split"
    return None


def moves_of(response: str) -> list[str]:
    """The planning moves in a response, in order (by their paraphrases)."""
    found = []
    for m in _MOVE_RE.finditer(response):
        found.append(_MOVE_OF[m.group(0).lower()])
    return found


_MOVE_OF = {p.lower(): move for move, (_, ps) in PHRASES.items() for p in ps}
_MOVE_RE = re.compile("|".join(re.escape(p) for p in sorted(_MOVE_OF, key=len, reverse=True)), re.IGNORECASE)
