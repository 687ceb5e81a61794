"""A step-clause classifier: is a short label or a short sentence that opens a step a planning clause?

Version 1.1 of the planning detector finds steering clauses by their opener
*shapes* ("Let me <verb>", "I should <verb>"). What it misses most in
genuine traces has no such opener: markdown labels that name a move
(Qwen3.5's ``2.  **Formulate Equations:**``, ``*Self-Correction:*``) and
short whole-sentence moves ("Is the math correct?", "This converges
quickly."). Which of those steer is a matter of words *and* shape, so
version 1.2 learns it: at each step start, a candidate unit is read
(:func:`candidates`: a label of 1-8 words closed by a colon, or a sentence
of 1-7 words), described by cheap features (:func:`features`: its first
words, last word, length, the markdown around it, its closing punctuation)
and scored by a logistic model trained on the annotated genuine traces
(``bench/train_step_classifier.py`` writes :data:`WEIGHTS_FILE` bit for
bit). A unit whose probability reaches the model's threshold is marked
whole: the label's words, or the sentence less its final punctuation
(annotation rules 2 and 5, ``assets/planning-eval/genuine/ANNOTATION.md``).

Pure and deterministic: one regex scan for candidates, a dict lookup per
feature; the model is a JSON file of feature weights, loaded once. Training
(:func:`fit`) is full-batch Newton iterations with an L2 penalty, numpy
only, no randomness.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

WEIGHTS_FILE = Path(__file__).resolve().parent / "step_classifier.json"

# The unit after a step start (text lowercased, as the detector scans it). A label: 1-8 words, an optional
# parenthesis, optional closing emphasis, a colon ("**formulate equations:**", "*option 1 (too brief):*").
# A sentence: 1-7 words ending at . ? or ! ("is the math correct?").
_WORD = r"[a-z][a-z0-9'/&-]*+"  # possessive quantifiers: a unit that fails, fails without backtracking
UNIT = (r"(?:(?P<label>" + _WORD + r"(?:[ \t]+[a-z0-9][a-z0-9'/&-]*+){0,7}+)"
        r"(?=[ \t]*(?:\([^)\n]{0,40}\)[ \t]*)?(?:\*{1,2}|_{1,2})?[ \t]*:)"
        r"|(?P<sent>" + _WORD + r"(?:,?[ \t]+[a-z0-9][a-z0-9'-]*+){0,6}+)(?=[ \t]*[.?!](?:[\s*_\"')]|$)))")
_FIRST_PERSON = frozenset("i i'm i'll i've i'd me my we we're we'll let's us our".split())


@dataclass(frozen=True)
class Unit:
    """A candidate unit: its character span in the text, its kind and the step-start markup before it."""

    start: int
    end: int
    kind: str  # "label" or "sent"
    words: tuple[str, ...]  # lowercased
    pre: str  # the step start's boundary and markup ("\n\n2.  **")
    close: str  # the character after the unit (":", "?", ".", "!")


def candidates_of(matches) -> list[Unit]:
    """The units among a detector scan's matches (those with a ``label`` or ``sent`` group; the scan is
    of the lowercased text with a leading ``"\\n"``, so offsets are shifted back by one)."""
    out = []
    for m in matches:
        kind = "label" if m.group("label") is not None else "sent" if m.group("sent") is not None else None
        if kind is None:
            continue
        s, e = m.span(kind)
        text = m.string
        rest = text[e:e + 60].lstrip(" \t")
        if kind == "label":
            rest = _PAREN.sub("", rest).lstrip("*_ \t")
        words = tuple(_WORDS.findall(m.group(kind).lower()))
        out.append(Unit(s - 1, e - 1, kind, words, m.group("pre"), rest[:1]))
    return out


_PAREN = re.compile(r"^\([^)\n]*\)[ \t]*")
_WORDS = re.compile(r"[a-z0-9][a-z0-9'/&-]*")
_TAG_WORDS = {"check": "verification", "verify": "verification", "verification": "verification",
              "self-correction": "verification", "sanity": "verification", "double-check": "verification",
              "option": "branching", "scenario": "branching", "hypothesis": "branching", "alternative": "branching",
              "idea": "branching", "case": "branching", "conclusion": "deduction", "result": "deduction",
              "final": "deduction", "summary": "deduction"}


def tag_of(u: Unit) -> str:
    """A marked unit's function, for Inspect and the per-function figures: from its first word, a question
    is a check, else ``other``."""
    return _TAG_WORDS.get(u.words[0], "verification" if u.close == "?" else "other")


def features(u: Unit) -> list[str]:
    """Cheap, named features of a unit: words at the start and end, length, markup, punctuation.

    >>> features(Unit(0, 9, "label", ("define", "variables"), "\\n\\n3.  **", ":"))[:5]
    ['k=label', 'w1=define', 'w12=define variables', 'wl=variables', 'n=2']
    """
    w, k = u.words, u.kind
    shape = _shape(u.pre)
    n = len(w)
    out = [f"k={k}", f"w1={w[0]}", f"w12={' '.join(w[:2])}", f"wl={w[-1]}", f"n={min(n, 6)}",
           f"s={shape}", f"ks={k}{shape}", f"c={u.close}", f"kc={k}{u.close}", f"x3={w[0][-3:]}",
           f"kw1={k}{w[0]}"]
    if n > 1:
        out.append(f"w2={w[1]}")
    if any(x in _FIRST_PERSON for x in w):
        out.append("fp")
    if any(ch.isdigit() for x in w for ch in x):
        out.append("digit")
    if n >= 3:
        out.append(f"w123={' '.join(w[:3])}")
    return out


_NUMBERED = re.compile(r"\d[.)]")
_BULLET = re.compile(r"(?:^|\s)[-+\u2022*](?=[ \t])")
_EMPHASIS = re.compile(r"[*_]$")


@lru_cache(maxsize=4096)
def _shape(pre: str) -> str:
    """The markup of a step start: new line or not, heading, numbered, bullet, bold or italic ("nln**")."""
    return ("nl" if "\n" in pre or pre.startswith("\x00") else "in") + \
        ("#" if "#" in pre else "") + ("n" if _NUMBERED.search(pre) else "") + \
        ("b" if _BULLET.search(pre) else "") + \
        ("**" if "**" in pre or "__" in pre else "*" if _EMPHASIS.search(pre) else "")


@dataclass(frozen=True)
class StepClassifier:
    """A logistic model over :func:`features`: ``p = sigmoid(bias + sum of the unit's feature weights)``."""

    bias: float
    weights: dict  # feature name -> weight
    threshold: float  # a unit is marked when p >= threshold

    def probability(self, u: Unit) -> float:
        z = self.bias + sum(self.weights.get(f, 0.0) for f in features(u))
        return 1.0 / (1.0 + math.exp(-z))

    def marked(self, units: list[Unit]) -> list[Unit]:
        # p >= t  <=>  z >= logit(t): no exp per unit
        limit = math.log(self.threshold / (1.0 - self.threshold))
        w, b = self.weights, self.bias
        return [u for u in units if b + sum(w.get(f, 0.0) for f in features(u)) >= limit]

    def to_json(self) -> str:
        return json.dumps({"schema": "hicra-lab/step-classifier", "version": 1,
                           "command": "python bench/train_step_classifier.py",
                           "bias": self.bias, "threshold": self.threshold,
                           "weights": dict(sorted(self.weights.items()))}, indent=1) + "\n"


def load(path: str | Path = WEIGHTS_FILE) -> StepClassifier:
    """The shipped model (or another file written by ``bench/train_step_classifier.py``)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("schema") != "hicra-lab/step-classifier":
        raise ValueError(f"{path}: not a step-classifier file (schema hicra-lab/step-classifier)")
    return StepClassifier(float(data["bias"]), {k: float(v) for k, v in data["weights"].items()},
                          float(data["threshold"]))


def fit(units: list[Unit], labels: list[int], threshold: float, l2: float = 1.0, min_count: int = 2,
        iterations: int = 10) -> StepClassifier:
    """Logistic regression by Newton's method with an L2 penalty (not on the bias); deterministic.

    Features seen fewer than ``min_count`` times are dropped. Weights are rounded to 6 decimals so the
    JSON file is reproduced bit for bit.
    """
    rows = [features(u) for u in units]
    counts: dict[str, int] = {}
    for r in rows:
        for f in set(r):
            counts[f] = counts.get(f, 0) + 1
    names = sorted(f for f, c in counts.items() if c >= min_count)
    index = {f: i + 1 for i, f in enumerate(names)}  # column 0: the bias
    x = np.zeros((len(rows), len(names) + 1))  # (N, F+1)
    x[:, 0] = 1.0
    for i, r in enumerate(rows):
        for f in r:
            if f in index:
                x[i, index[f]] = 1.0
    y = np.asarray(labels, dtype=np.float64)  # (N,)
    penalty = np.full(len(names) + 1, l2)
    penalty[0] = 0.0
    w = np.zeros(len(names) + 1)
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + penalty * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        w = w - np.linalg.solve(hess, grad)
    w = np.round(w, 6)
    return StepClassifier(float(w[0]), {f: float(w[index[f]]) for f in names if w[index[f]] != 0.0},
                          threshold)
