"""An alternation of regexes dispatched on the first character: the same matches, far fewer attempts.

Python's ``re`` tries the alternatives of ``(?:A|B|C|...)`` one by one. It
skips an alternative cheaply only when the alternative starts with a plain
character or character class; one that starts with a group (``(?:so )?that``,
``(?:i|we) should``) is entered, and with 100 of them every failed attempt
costs microseconds (the planning detector makes one at each of ~5,000 step
starts per 64 x 1,024 tokens, issue 24). :func:`dispatch` writes the same
alternation as groups keyed by the character at the match position::

    (?=[a-z])(?:(?=[ab])(?:A|C)|(?=[c])(?:B|C)|...)

each group holding, in their original order, the alternatives that can
start with one of its characters (:func:`first_chars`). At any position the
one group whose class holds the next character offers exactly the
alternatives that could match there, in the order the plain alternation
would try them; the others could not have matched. So the leftmost-first
match, and every backtracking into the alternation, is the plain
alternation's. Written once as the list is assembled (alternatives given
as a list of regex sources), not by editing regex text.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The regex parser of the standard library (private, but it is the one that compiles the pattern, so its
# reading of a source is the engine's). An op it does not know makes an alternative start "anywhere".
from re import _constants as _c, _parser

_ZERO_WIDTH = (_c.AT, _c.ASSERT, _c.ASSERT_NOT)
_REPEATS = (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT)


@lru_cache(maxsize=4096)
def first_chars(source: str) -> frozenset[str] | None:
    """The characters a match of ``source`` can start with, as written (compile flags aside); None: any
    character, or the empty string (a category such as ``\\s``, a negated class, a possibly empty match).

    >>> sorted(first_chars(r"(?:so )?that|then"))
    ['s', 't']
    >>> first_chars(r"\\s*x") is None
    True
    """
    try:
        parsed = _parser.parse(source)
    except re.error:
        return None
    if parsed.state.flags & re.IGNORECASE:  # (?i) at the start: as (?i:...) below
        return None
    chars, nullable = _first(parsed.data)
    return None if chars is None or nullable else frozenset(chars)


def _first(items) -> tuple[set[str] | None, bool]:
    """(first characters, may match empty) of a parsed sequence; None for "any character"."""
    out: set[str] = set()
    for op, av in items:
        chars, nullable = _first_of(op, av)
        if chars is None:
            return None, False
        out |= chars
        if not nullable:
            return out, False
    return out, True


def _first_of(op, av) -> tuple[set[str] | None, bool]:
    if op is _c.LITERAL:
        return {chr(av)}, False
    if op is _c.IN:
        chars: set[str] = set()
        for kind, value in av:
            if kind is _c.LITERAL:
                chars.add(chr(value))
            elif kind is _c.RANGE and value[1] - value[0] < 256:
                chars.update(map(chr, range(value[0], value[1] + 1)))
            else:  # a category, a negation, a wide range: any character
                return None, False
        return chars, False
    if op is _c.BRANCH:
        chars, nullable = set(), False
        for alternative in av[1]:
            sub, sub_nullable = _first(alternative.data)
            if sub is None:
                return None, False
            chars |= sub
            nullable |= sub_nullable
        return chars, nullable
    if op is _c.SUBPATTERN:
        if (av[1] | av[2]) & re.IGNORECASE:  # (?i:...): its characters in either case, which the class lacks
            return None, False
        return _first(av[3].data)
    if op is _c.ATOMIC_GROUP:
        return _first(av.data)
    if op in _REPEATS:
        chars, nullable = _first(av[2].data)
        return chars, nullable or av[0] == 0
    if op in _ZERO_WIDTH:  # lookarounds and anchors consume nothing: the next item decides
        return set(), True
    return None, False  # any character (ANY, NOT_LITERAL, a group reference, ...)


def dispatch(alternatives: list[str], wide: int = 10) -> str:
    """``(?:A|B|...)`` of ``alternatives`` (regex sources, no capturing groups), grouped by first character.

    The groups are disjoint, so their order does not matter; within one the alternatives keep their
    order. An alternative that may start with more than ``wide`` characters, or any (:func:`first_chars`
    None), would go into most groups (a longer pattern, slower to compile): it stays where it is, between
    the grouped runs before and after it. The default 10 is the planning detector's trade-off: with every
    alternative grouped (26) its scan was 2% faster and its construction 45 ms slower. Under ``re.I`` the
    classes fold case as the alternatives' own characters do, so the result holds there too.

    >>> p = re.compile(dispatch(["so", "(?:so )?that", "s[a-z]+", "then"]))
    >>> [p.match(t).group() for t in ("so that", "sat", "then")]
    ['so', 'sat', 'then']
    """
    parts, run = [], []
    for source in alternatives:
        first = first_chars(source)
        if first is not None and len(first) <= wide:
            run.append((source, first))
            continue
        parts += _grouped(run)
        parts.append(source)
        run = []
    parts += _grouped(run)
    return "(?:" + "|".join(parts) + ")"


def _grouped(run: list[tuple[str, frozenset[str]]]) -> list[str]:
    """One alternative for ``run`` (sources with their first characters): a group per character class."""
    if len(run) < 2:
        return [source for source, _ in run]
    alphabet = sorted(set().union(*(first for _, first in run)))
    groups: dict[tuple[str, ...], list[str]] = {}  # the alternatives that can start with a character -> those
    for ch in alphabet:
        groups.setdefault(tuple(source for source, first in run if ch in first), []).append(ch)
    branches = "|".join(f"(?=[{_class(chars)}])(?:{'|'.join(members)})" for members, chars in groups.items())
    # One check turns away every other character before any group is tried.
    return [f"(?=[{_class(alphabet)}])(?:{branches})"]


def _class(chars) -> str:
    return "".join(map(re.escape, chars))
