"""Find Strategic Grams in text: one compiled regex, linear in the text length.

Matching rules (the paper leaves them open; these are ours, tested):

* case-insensitive, on word boundaries: "note that" matches "Note that" but
  not "denote that" or "note thats";
* any run of whitespace (spaces, tabs, line breaks) between the words of a
  phrase matches, so a phrase broken across lines is still found;
* typographic apostrophes match plain ones (``let’s`` == ``let's``);
* phrases may overlap or nest: :meth:`GramMatcher.spans` returns the merged
  union of every occurrence, :meth:`GramMatcher.occurrences` the
  leftmost-longest, non-overlapping occurrences (what semantic entropy counts);
* a phrase with ``at="step-start"`` (SG set version 2) counts only where a
  step starts (:func:`step_starts`): the start of the text or of a line
  (after indentation, list markers and opening ``**``), after a sentence end
  or a colon and a space, or after ``<think>``. A phrase with
  ``followed_by`` counts only when the next character is one of those (which
  is not part of the match): ``{"phrase": "now", "at": "step-start",
  "followed_by": ","}`` finds the ``Now`` of "Now, add" but not of "We now
  add" or "Now they are".

All phrases are compiled into a single regex shaped as a word trie
(``let(?:'s\\s+(?:try|reconsider)...)``), so at each word start the engine
follows at most one path per phrase prefix: the work per character is
bounded by the longest phrase, not by the number of phrases.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from training.hierarchy.grams import SGSet, StrategicGram, normalize_phrase

_APOS_CLASS = "['\u2019\u2018\u02bc`]"
_END = ""  # trie key that marks the end of a phrase
# Where a step starts: a boundary (text start, line break, the batch separator
# \x00, <think>, or a sentence end / colon with closing marks and a space),
# then indentation, list markers and opening emphasis or quotes.
_STEP = re.compile(
    r"(?:\A|\n|\x00|<think>\s*|(?<=[.!?:])[\"'\u201d\u2019)\]*_]*[ \t]+)"
    r"[ \t]*(?:(?:[-*+>\u2022]|#{1,6}|\d{1,3}[.)])[ \t]+)*(?:\*\*|__|[\"\u201c'(])*")


def step_starts(text: str) -> list[int]:
    """Positions where a step of reasoning starts (see the module docstring).

    >>> text = "Okay, so x = 2. Now, y = 3: so z = 5.\\n- Wait, no"
    >>> [text[i:i + 4] for i in step_starts(text)]
    ['Okay', 'Now,', 'so z', 'Wait']
    """
    return sorted({m.end() for m in _STEP.finditer(text)})


def _unit_regex(ch: str) -> str:
    if ch == " ":
        return r"\s+"
    if ch == "'":
        return _APOS_CLASS
    return re.escape(ch)


def _trie_regex(node: dict) -> str:
    """Regex for the rest of the phrases below ``node`` in a character trie.

    Each branch starts with a distinct character, so the engine rejects a
    wrong branch on its first character; a longer phrase is tried before a
    phrase that ends here, so the match is the longest one at its start.
    """
    branches = []
    for ch in sorted(c for c in node if c != _END):
        branches.append(_unit_regex(ch) + _trie_regex(node[ch]) if node[ch] else _unit_regex(ch))
    if _END in node:
        branches.append(node[_END])  # the end-of-phrase check: word boundary or nothing
    if not branches:
        return ""
    if len(branches) == 1:
        return branches[0]
    return "(?:" + "|".join(branches) + ")"


class GramMatcher:
    """A compiled matcher for one list of phrases.

    >>> m = GramMatcher(["let's check", "check if"])
    >>> m.spans("Let’s  check if x > 2")
    [(0, 15)]
    """

    def __init__(self, phrases: Iterable[str | StrategicGram]):
        specs: dict[str, tuple[str, str]] = {}  # key -> (at, followed_by); the first entry of a key wins
        for p in phrases:
            gram = p if isinstance(p, StrategicGram) else StrategicGram(p)
            key = normalize_phrase(gram.phrase)
            if key:
                specs.setdefault(key, (gram.at, gram.followed_by))
        if not specs:
            raise ValueError("GramMatcher needs at least one non-blank phrase")
        self.phrases: tuple[str, ...] = tuple(sorted(specs))
        free = {k: f for k, (at, f) in specs.items() if at == "anywhere"}
        anchored = {k: f for k, (at, f) in specs.items() if at != "anywhere"}
        # Matching runs on ``text.lower()`` with a case-sensitive pattern (the
        # regex engine's first-character fast path needs plain literals); for
        # the rare text whose length changes under lower(), an IGNORECASE copy.
        self._lower, self._ignorecase = _compile(free)
        self._anchored = _compile(anchored) if anchored else None

    def _prepare(self, text: str) -> tuple[str, re.Pattern | None]:
        lowered = text.lower()
        if len(lowered) == len(text):
            return lowered, self._lower
        return text, self._ignorecase

    def _anchored_matches(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` of step-start phrases, one (the longest) per step start."""
        if self._anchored is None:
            return []
        lowered = text.lower()
        prepared, pattern = (lowered, self._anchored[0]) if len(lowered) == len(text) else \
            (text, self._anchored[1])
        out = []
        for s in step_starts(text):
            m = pattern.match(prepared, s)
            if m is not None and m.end() > s:
                out.append(m.span())
        return out

    def occurrences(self, text: str) -> list[tuple[int, int, str]]:
        """Leftmost-longest non-overlapping occurrences as ``(start, end, phrase)``.

        ``phrase`` is the normalized form of the SG that matched.
        """
        prepared, pattern = self._prepare(text)
        if self._anchored is None:
            return [(m.start(), m.end(), normalize_phrase(m.group()))
                    for m in pattern.finditer(prepared)] if pattern is not None else []
        # Every start with its longest match, from both patterns; then greedily
        # leftmost-longest, as finditer would over one pattern.
        longest: dict[int, int] = {}
        for s, e in self._starts(prepared, pattern) + self._anchored_matches(text):
            longest[s] = max(longest.get(s, e), e)
        out, last = [], -1
        for s in sorted(longest):
            if s >= last:
                out.append((s, longest[s], normalize_phrase(text[s:longest[s]])))
                last = longest[s]
        return out

    @staticmethod
    def _starts(text: str, pattern: re.Pattern | None) -> list[tuple[int, int]]:
        """Every start position of a match with its longest match there."""
        if pattern is None:
            return []
        search, out, pos = pattern.search, [], 0
        while pos < len(text):
            m = search(text, pos)
            if m is None:
                break
            out.append(m.span())
            pos = m.start() + 1
        return out

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Merged ``[start, end)`` character spans covering every occurrence.

        After each match we search again one character after its *start*, so a
        phrase that begins inside another (``"let's check" + "check if"``)
        is found too; the number of Python steps is the number of matches.
        """
        prepared, pattern = self._prepare(text)
        found = self._starts(prepared, pattern)
        if self._anchored is not None:
            found = sorted(found + self._anchored_matches(text))
        merged: list[list[int]] = []
        for s, e in found:
            if merged and s <= merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1][1] = e
            else:
                merged.append([s, e])
        return [(s, e) for s, e in merged]


def _compile(ends: dict[str, str]) -> tuple[re.Pattern | None, re.Pattern | None]:
    """The trie regex of ``{normalized phrase: followed_by}``, lower-case and IGNORECASE."""
    if not ends:
        return None, None
    source = _trie_source(ends)
    return re.compile(source), re.compile(source, re.IGNORECASE)


def _trie_source(ends: dict[str, str], lead: bool = True) -> str:
    """The source of :func:`_compile`'s regex (not empty ``ends``), uncompiled: a part of a larger pattern.

    ``lead=False``: without the word-start check in front (the caller makes its own)."""
    trie: dict = {}
    for key, followed_by in ends.items():
        node = trie
        for ch in key:
            node = node.setdefault(ch, {})
        if followed_by:
            node[_END] = "(?=[" + re.escape(followed_by) + "])"
        else:
            node[_END] = r"(?!\w)" if re.match(r"\w", key[-1]) else ""
    body = _trie_regex(trie)
    if not lead:
        return body
    # A phrase that starts with a word character must start at a word
    # start; one that starts with punctuation may start anywhere.
    if all(re.match(r"\w", k[0]) for k in ends):
        lead = r"(?<!\w)"
    else:
        lead = r"(?:(?<!\w)(?=\w)|(?=\W))"
    return lead + body


@lru_cache(maxsize=32)
def _cached_matcher(grams: tuple[StrategicGram, ...]) -> GramMatcher:
    return GramMatcher(grams)


def matcher_for(grams: SGSet | Iterable[str] | GramMatcher) -> GramMatcher:
    """A (cached) matcher for an SG set, a list of phrases, or a matcher (or detector) as it is."""
    if isinstance(grams, GramMatcher) or callable(getattr(grams, "spans", None)):
        return grams  # a matcher, or a detector with the same interface (training.hierarchy.detector)
    if isinstance(grams, SGSet):
        key = tuple(StrategicGram(g.phrase, at=g.at, followed_by=g.followed_by) for g in grams.grams)
        return _cached_matcher(key)
    phrases = list(grams)
    if isinstance(grams, str) or not all(isinstance(p, str) for p in phrases):
        raise TypeError("grams must be an SGSet, a GramMatcher or a list of phrase strings")
    return _cached_matcher(tuple(StrategicGram(p) for p in sorted(set(phrases))))


def find_spans(text: str, grams: SGSet | Iterable[str] | GramMatcher) -> list[tuple[int, int]]:
    """Merged character spans of every Strategic Gram occurrence in ``text``.

    >>> find_spans("First, note that x=2. Let's double-check.", ["note that", "let's double-check"])
    [(7, 16), (22, 40)]
    """
    return matcher_for(grams).spans(text)
