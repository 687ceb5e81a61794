"""Find Strategic Grams in text: one compiled regex, linear in the text length.

Matching rules (the paper leaves them open; these are ours, tested):

* case-insensitive, on word boundaries: "note that" matches "Note that" but
  not "denote that" or "note thats";
* any run of whitespace (spaces, tabs, line breaks) between the words of a
  phrase matches, so a phrase broken across lines is still found;
* typographic apostrophes match plain ones (``let’s`` == ``let's``);
* phrases may overlap or nest: :meth:`GramMatcher.spans` returns the merged
  union of every occurrence, :meth:`GramMatcher.occurrences` the
  leftmost-longest, non-overlapping occurrences (what semantic entropy counts).

All phrases are compiled into a single regex shaped as a word trie
(``let(?:'s\\s+(?:try|reconsider)...)``), so at each word start the engine
follows at most one path per phrase prefix: the work per character is
bounded by the longest phrase, not by the number of phrases.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

from lab.grams import SGSet, normalize_phrase

_APOS_CLASS = "['\u2019\u2018\u02bc`]"
_END = ""  # trie key that marks the end of a phrase


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

    def __init__(self, phrases: Iterable[str]):
        keys = sorted({normalize_phrase(p) for p in phrases} - {""})
        if not keys:
            raise ValueError("GramMatcher needs at least one non-blank phrase")
        self.phrases: tuple[str, ...] = tuple(keys)
        trie: dict = {}
        for key in keys:
            node = trie
            for ch in key:
                node = node.setdefault(ch, {})
            node[_END] = r"(?!\w)" if re.match(r"\w", key[-1]) else ""
        body = _trie_regex(trie)
        # A phrase that starts with a word character must start at a word
        # start; one that starts with punctuation may start anywhere.
        if all(re.match(r"\w", k[0]) for k in keys):
            lead = r"(?<!\w)"
        else:
            lead = r"(?:(?<!\w)(?=\w)|(?=\W))"
        # Matching runs on ``text.lower()`` with a case-sensitive pattern (the
        # regex engine's first-character fast path needs plain literals); for
        # the rare text whose length changes under lower(), an IGNORECASE copy.
        self._lower = re.compile(lead + body)
        self._ignorecase = re.compile(lead + body, re.IGNORECASE)

    def _prepare(self, text: str) -> tuple[str, re.Pattern]:
        lowered = text.lower()
        if len(lowered) == len(text):
            return lowered, self._lower
        return text, self._ignorecase

    def occurrences(self, text: str) -> list[tuple[int, int, str]]:
        """Leftmost-longest non-overlapping occurrences as ``(start, end, phrase)``.

        ``phrase`` is the normalized form of the SG that matched.
        """
        prepared, pattern = self._prepare(text)
        return [(m.start(), m.end(), normalize_phrase(m.group()))
                for m in pattern.finditer(prepared)]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Merged ``[start, end)`` character spans covering every occurrence.

        After each match we search again one character after its *start*, so a
        phrase that begins inside another (``"let's check" + "check if"``)
        is found too; the number of Python steps is the number of matches.
        """
        text, pattern = self._prepare(text)
        search = pattern.search
        merged: list[list[int]] = []
        pos, n = 0, len(text)
        while pos < n:
            m = search(text, pos)
            if m is None:
                break
            s, e = m.span()
            if merged and s <= merged[-1][1]:
                if e > merged[-1][1]:
                    merged[-1][1] = e
            else:
                merged.append([s, e])
            pos = s + 1
        return [(s, e) for s, e in merged]


@lru_cache(maxsize=32)
def _cached_matcher(phrases: tuple[str, ...]) -> GramMatcher:
    return GramMatcher(phrases)


def matcher_for(grams: SGSet | Iterable[str] | GramMatcher) -> GramMatcher:
    """A (cached) matcher for an SG set, a list of phrases, or a matcher."""
    if isinstance(grams, GramMatcher):
        return grams
    phrases = grams.phrases if isinstance(grams, SGSet) else list(grams)
    if isinstance(grams, str) or not all(isinstance(p, str) for p in phrases):
        raise TypeError("grams must be an SGSet, a GramMatcher or a list of phrase strings")
    return _cached_matcher(tuple(sorted(set(phrases))))


def find_spans(text: str, grams: SGSet | Iterable[str] | GramMatcher) -> list[tuple[int, int]]:
    """Merged character spans of every Strategic Gram occurrence in ``text``.

    >>> find_spans("First, note that x=2. Let's double-check.", ["note that", "let's double-check"])
    [(7, 16), (22, 40)]
    """
    return matcher_for(grams).spans(text)
