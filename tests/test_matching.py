import random
import re

import pytest

from training.hierarchy.grams import normalize_phrase
from training.hierarchy.matching import GramMatcher, find_spans


def reference_spans(text, phrases):
    """Slow, obviously-correct reference: every phrase at every position."""
    covered = []
    for p in {normalize_phrase(p) for p in phrases}:
        body = r"\s+".join(
            "".join("['\u2019\u2018\u02bc`]" if c == "'" else re.escape(c) for c in w) for w in p.split(" "))
        lead = r"(?<!\w)" if re.match(r"\w", p[0]) else ""
        tail = r"(?!\w)" if re.match(r"\w", p[-1]) else ""
        rx = re.compile(lead + body + tail, re.IGNORECASE)
        for i in range(len(text)):
            m = rx.match(text, i)
            if m:
                covered.append((m.start(), m.end()))
    covered.sort()
    merged = []
    for s, e in covered:
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [tuple(x) for x in merged]


def test_case_and_word_boundaries():
    g = ["note that", "check"]
    assert find_spans("Note that x", g) == [(0, 9)]
    assert find_spans("NOTE THAT x", g) == [(0, 9)]
    assert find_spans("denote that", g) == []
    assert find_spans("note thats", g) == []
    assert find_spans("recheck; check.", g) == [(9, 14)]


def test_apostrophes_whitespace_and_line_breaks():
    g = ["let's double-check"]
    assert find_spans("Let\u2019s double-check", g) == [(0, 18)]
    assert find_spans("let's   double-check", g) == [(0, 20)]
    assert find_spans("so let's\n  double-check it", g) == [(3, 23)]
    # the phrase may be written with a typographic apostrophe too
    assert find_spans("let's double-check", ["let\u2019s double-check"]) == [(0, 18)]


def test_overlapping_and_nested_phrases_merge():
    g = ["let's check", "check if", "if the", "try a different approach", "a different"]
    assert find_spans("Let's check if the sum", g) == [(0, 18)]
    assert find_spans("we try a different approach", g) == [(3, 27)]
    assert find_spans("check. If the", g) == [(7, 13)]  # "check" alone is no phrase


def test_occurrences_are_leftmost_longest():
    m = GramMatcher(["note that", "note that the", "the answer"])
    assert m.occurrences("Note that the answer") == [(0, 13, "note that the")]
    assert m.occurrences("note that them") == [(0, 9, "note that")]


def test_punctuation_phrases():
    g = ["wait,", "(a)", "so"]
    assert find_spans("Wait, so (a) holds; wait.", g) == [(0, 5), (6, 8), (9, 12)]


def test_text_whose_length_changes_when_lowercased():
    text = "\u0130stanbul: note that x"  # 'İ'.lower() is two characters
    assert find_spans(text, ["note that"]) == [(10, 19)]


def test_empty_text_and_bad_grams():
    assert find_spans("", ["note that"]) == []
    with pytest.raises(ValueError):
        GramMatcher(["  "])
    with pytest.raises(TypeError):
        find_spans("x", "note that")


@pytest.mark.parametrize("seed", range(5))
def test_agrees_with_reference_on_random_texts(seed):
    rng = random.Random(seed)
    words = ["let's", "check", "if", "the", "a", "note", "that", "so", "wait", "x", "=", "2", "Let\u2019s", "NOTE"]
    phrases = {" ".join(rng.choice(words[:9]) for _ in range(rng.randint(1, 4))) for _ in range(30)}
    seps = [" ", "  ", "\n", ", ", ". "]
    text = "".join(rng.choice(words) + rng.choice(seps) for _ in range(400))
    assert find_spans(text, phrases) == reference_spans(text, phrases)
