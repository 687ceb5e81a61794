"""How well does an SG set find planning in open-language reasoning? Scored on annotated traces.

The evaluation set (``assets/planning-eval/``, its README says how it was
made) holds hand-written reasoning traces whose planning phrases are marked
``⟦tag: text⟧``. :func:`load_traces` reads a file of them; :func:`score`
compares an SG set's planning tokens with the annotation:

* a token is truly planning when it overlaps an annotated span, predicted
  planning when it overlaps an SG occurrence (the rule of planning masks,
  :mod:`training.hierarchy.tokens`); precision and recall are over all tokens of all traces;
* per function: recall over the annotated tokens of that function, and
  precision over the tokens that the set's grams of that function (their
  ``tag``) mark.

The tokenizer is the bundled byte-level BPE one unless another is given, so
the figures need no download; token boundaries of other tokenizers move them
a little.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from training.hierarchy.grams import TAGS, SGSet, normalize_phrase
from training.hierarchy.matching import matcher_for
from training.hierarchy.tokens import spans_to_mask, token_mask

EVAL_DIR = Path(__file__).resolve().parents[2] / "assets" / "planning-eval"
_HEADER = re.compile(r"^### (.*)$")
_MARK = re.compile(r"⟦([a-z]+): ([^⟦⟧]+)⟧")


class EvalSetError(ValueError):
    """A malformed evaluation file; the message names the file, trace and problem."""


@dataclass(frozen=True)
class AnnotatedTrace:
    id: str
    meta: dict
    text: str  # the trace without markup
    spans: tuple[tuple[int, int, str], ...]  # (start, end, tag) of each planning phrase


def parse_trace(marked: str, trace_id: str = "?", meta: dict | None = None) -> AnnotatedTrace:
    """One trace from its marked-up text.

    >>> t = parse_trace("⟦other: Okay, so⟧ x = 2. ⟦deduction: So⟧ y = 4.")
    >>> t.text, t.spans
    ('Okay, so x = 2. So y = 4.', ((0, 8, 'other'), (16, 18, 'deduction')))
    """
    parts, spans, pos, length = [], [], 0, 0
    for m in _MARK.finditer(marked):
        before = marked[pos:m.start()]
        parts.append(before)
        length += len(before)
        tag, inner = m.group(1), m.group(2)
        if tag not in TAGS:
            raise EvalSetError(f"trace {trace_id}: unknown tag {tag!r} (use one of {', '.join(TAGS)})")
        if inner != inner.strip():
            raise EvalSetError(f"trace {trace_id}: span {inner!r} starts or ends with a space")
        spans.append((length, length + len(inner), tag))
        parts.append(inner)
        length += len(inner)
        pos = m.end()
    parts.append(marked[pos:])
    text = "".join(parts)
    if "⟦" in text or "⟧" in text:
        raise EvalSetError(f"trace {trace_id}: a '⟦' or '⟧' that is not part of a ⟦tag: text⟧ mark")
    return AnnotatedTrace(trace_id, meta or {}, text, tuple(spans))


def load_traces(path: str | Path) -> list[AnnotatedTrace]:
    """Every trace of a file in the set's format (header lines ``### key=value ...``)."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise EvalSetError(f"{path}: cannot be read ({err.strerror or err})") from None
    traces: list[AnnotatedTrace] = []
    meta: dict | None = None
    body: list[str] = []

    def close() -> None:
        if meta is not None:
            traces.append(parse_trace("\n".join(body).strip("\n"), meta.get("id", "?"), meta))

    for number, line in enumerate(lines, 1):
        header = _HEADER.match(line)
        if header:
            close()
            try:
                meta = dict(pair.split("=", 1) for pair in header.group(1).split())
            except ValueError:
                raise EvalSetError(f"{path}:{number}: a header is '### key=value ...'") from None
            body = []
        elif meta is None and line.strip():
            raise EvalSetError(f"{path}:{number}: text before the first '### id=...' header")
        else:
            body.append(line)
    close()
    ids = [t.id for t in traces]
    if len(set(ids)) != len(ids):
        raise EvalSetError(f"{path}: duplicate trace ids")
    return traces


def eval_split(name: str) -> list[AnnotatedTrace]:
    """``"dev"`` or ``"held-out"`` of the shipped set."""
    if name not in ("dev", "held-out"):
        raise ValueError("the evaluation set's halves are 'dev' and 'held-out'")
    return load_traces(EVAL_DIR / f"{name}.txt")


@dataclass
class Counts:
    """Token counts: recall over ``found + missed``, precision over ``marked_in + marked_out``.

    For all tokens, ``found == marked_in`` (true positives). By function,
    recall counts the annotated tokens of the function that any gram marks,
    precision the tokens that the function's own grams mark.
    """

    found: int = 0  # annotated tokens that are marked
    missed: int = 0  # annotated tokens that are not
    marked_in: int = 0  # marked tokens inside an annotated span (of any function)
    marked_out: int = 0  # marked tokens outside every annotated span

    @property
    def precision(self) -> float:
        total = self.marked_in + self.marked_out
        return self.marked_in / total if total else float("nan")

    @property
    def recall(self) -> float:
        total = self.found + self.missed
        return self.found / total if total else float("nan")


@dataclass
class Score:
    """Token-level figures of one SG set (or detector) on a list of traces.

    ``touched``: annotated phrases with at least one marked token;
    ``covered``: those with every token marked.
    """

    all: Counts = field(default_factory=Counts)
    by_tag: dict[str, Counts] = field(default_factory=lambda: {t: Counts() for t in TAGS})
    tokens: int = 0
    phrases: int = 0
    touched: int = 0
    covered: int = 0


def tagged_spans_of(sg) -> Callable[[str], list[tuple[int, int, str]]]:
    """``text -> [(start, end, tag)]`` for an SG set (its grams' tags) or a detector (``tagged_spans``)."""
    if hasattr(sg, "tagged_spans"):
        return sg.tagged_spans
    matcher, tag_of = matcher_for(sg), sg.tag_of()
    return lambda text: [(s, e, tag_of.get(g, "other")) for s, e, g in matcher.occurrences(text)]


def score(sg, traces: list[AnnotatedTrace], tokenizer) -> Score:
    """Token-level precision and recall of ``sg`` against the annotation of ``traces``.

    ``sg``: an :class:`SGSet` or a detector
    (:class:`training.hierarchy.detector.PlanningDetector`).
    ``tokenizer`` is a ``tokenizers.Tokenizer`` (the bundled one:
    ``lab.analysis.bundled_tokenizer()``).
    """
    tok = tokenizer
    matcher = matcher_for(sg)
    tagged = tagged_spans_of(sg)
    out = Score()
    for trace in traces:
        _, offsets, pred = token_mask(trace.text, tok, matcher)
        true = spans_to_mask([(s, e) for s, e, _ in trace.spans], offsets)
        out.tokens += len(true)
        _add(out.all, pred, true, pred, true)
        for s, e, _ in trace.spans:
            inside = spans_to_mask([(s, e)], offsets)
            out.phrases += 1
            out.touched += bool((pred & inside).any())
            out.covered += bool(inside.any() and (pred | ~inside).all())
        occurrences = tagged(trace.text)
        for tag in TAGS:
            true_tag = spans_to_mask([(s, e) for s, e, t in trace.spans if t == tag], offsets)
            pred_tag = spans_to_mask(_merge([(s, e) for s, e, g in occurrences if g == tag]), offsets)
            _add(out.by_tag[tag], pred, true_tag, pred_tag, true)
    return out


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[list[int]] = []
    for s, e in sorted(spans):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def _add(c: Counts, pred: np.ndarray, true: np.ndarray, marked: np.ndarray, planning: np.ndarray) -> None:
    c.found += int((pred & true).sum())
    c.missed += int((~pred & true).sum())
    c.marked_in += int((marked & planning).sum())
    c.marked_out += int((marked & ~planning).sum())
