"""The planning detector's faster scan finds what the plain alternation finds (issue 24, the mask budget).

The step pattern's openers are an alternation dispatched on the first character
(training/hierarchy/alternation.py) and its boundaries are plain characters the
engine's search jumps to. Neither may change a single span: Python's ``re``
takes the first alternative that matches, not the longest, so the order of
alternatives that share a prefix decides. The dispatched alternation is checked
against the plain one position by position, and the detector's spans on hand
examples where openers share prefixes are pinned to what the detector before
the change (commit ddbae36) returned.
"""

import re

import pytest

from training.hierarchy.alternation import dispatch, first_chars
from training.hierarchy.detector import PlanningDetector
from training.hierarchy.grams import SGSet, StrategicGram, load_preset

# Alternatives that share prefixes, some of which match longer text later in the list (leftmost-first
# must keep the earlier one), some starting with a group, a class, a lookaround or possibly anything.
ALTERNATIVES = [
    r"so", r"(?:so )?that (?:would|will) mean", r"so that", r"s[a-z]+", r"(?:so|then) (?:that|this)",
    r"let(?:'s| me) [a-z]+", r"let me check", r"[a-z]+ing", r"(?:the )?result", r"the", r"\s*x",
    r"(?:i|we) should", r"i'll", r"it(?:'s| is)", r"k(?:ey|ind)", r"(?<!\w)(?:a|an) idea", r"(?=t)th[a-z]*",
    r"(?:okay|ok|alright|right|yeah|so|now|well|oh|ah|first|next|also|then)(?=[,.!:\s])", r"[a-c]\d",
]
TEXTS = [
    "so that would mean", "so that will mean it", "so this", "sorting", "then that", "let me check it",
    "let's see", "the result", "theory", "i should", "i'll", "it's it is", "key kind", "an idea", "x  x",
    "a1 b2 c3", "thinking", "okay, so", "ok. next: then", "right then", "So That Would Mean",
    "\u212aey \u212aind", "\u0130t's", "LET ME CHECK", "\u017fo that", "oh", "alright, ah",
]


@pytest.mark.parametrize("flags", [0, re.IGNORECASE])
@pytest.mark.parametrize("wide", [0, 2, 10, 26])
@pytest.mark.parametrize("tail", ["", r"(?!\w)", r"(?![a-z])[ ,.]*"])
def test_dispatch_matches_the_plain_alternation_at_every_position(flags, wide, tail):
    plain = re.compile("(?:" + "|".join(ALTERNATIVES) + ")" + tail, flags)
    fast = re.compile(dispatch(ALTERNATIVES, wide=wide) + tail, flags)
    for text in TEXTS:
        for pos in range(len(text) + 1):
            a, b = plain.match(text, pos), fast.match(text, pos)
            assert (a and a.span()) == (b and b.span()), (text, pos)
        assert [m.span() for m in plain.finditer(text)] == [m.span() for m in fast.finditer(text)], text


def test_dispatch_groups_by_first_character_and_leaves_wide_alternatives_in_place():
    source = dispatch(["so", "(?:so )?that", "[a-z]+ing", "then", "(?:a|b)x"])
    assert source.startswith(
        "(?:(?=[st])(?:(?=[s])(?:so|(?:so )?that)|(?=[t])(?:(?:so )?that))|[a-z]+ing|")
    assert source.endswith("|(?=[abt])(?:(?=[ab])(?:(?:a|b)x)|(?=[t])(?:then)))")


def test_first_chars():
    assert first_chars(r"(?:so )?that|then") == {"s", "t"}
    assert first_chars(r"(?<!\w)(?=a)(?:a|b)c") == {"a", "b"}  # lookarounds consume nothing
    assert first_chars(r"x{0,2}y") == {"x", "y"}
    assert first_chars(r"['\u2019]s") == {"'", "\u2019"}
    for anything in (r"\s*x", r"\w", r"[^a]", r"a|", r"(?i:a)b", r"(?i)ab", r"(a)?\1", r"(unbalanced"):
        assert first_chars(anything) is None, anything


TRICKY = [  # openers that share prefixes with longer ones tried later, labels, self-answers, wrapped text
    "So that would mean x = 3. So, that means y = 2. So we get 5.",
    "Let me check B. Let's try 4. Let me re-think this. Let me go with 7, wait, let me verify it.",
    "That's not right. That is right? Yes, that works. This suggests a pattern; this shows it.",
    "Okay, the user wants a poem. The result is 9. Result: 9. In summary, in this case it holds.",
    "Hmm, wait, let me check. I think I made a mistake. I'll try again. I should check the sum.",
    "**Option 1:** odd.\n- *Idea (rough):* pair them.\n2. Thinking process: sort.\nDetermining the answer: 4.",
    "Is it 3?\nYes, it is. Is it 4? No. Right? Right, so let me see.\n\n\nWhich means 5 - then again - so.",
    "_Wait_, that\u2019s off. \u201cAlternatively\u201d \u2014 how about 6? Another approach: split. e.g. 7.",
    # length changes under lower() (the IGNORECASE patterns), a Kelvin sign for K, capitals
    "\u0130. \u212aey idea: use parity. So that means Let me CHECK it. THE USER WANTS x.",
]
# What the detector before the change (commit ddbae36) marked, version 1.1 (the default).
MARKED = [
    ["So that", "So, that means", "So we get"],  # "so" (the set's phrase) wins over "so that would mean"
    ["Let me check", "Let's try", "Let me re-think this", "Let me go with", "let me verify"],
    ["That's not right", "Yes, that works", "This suggests", "this shows it"],
    ["Okay, the user wants", "The result", "Result", "In summary, in this case"],
    ["Hmm, wait, let me check", "I think I made a mistake", "I'll try again", "I should check"],
    ["Option 1", "Idea", "Thinking process", "Determining"],
    ["Which means", "then again", "so"],
    ["Alternatively", "how about", "Another approach", "e.g."],
    ["\u212aey idea", "So that", "Let me CHECK", "THE USER WANTS"],
]
# Where versions 1.0 and 1.2 marked otherwise (1.0: no "user" and "label" options; 1.2: the classifier).
MARKED_OTHER = {
    "1.0": {3: ["Okay, the user", "The result", "Result", "In summary, in this case"],
            5: ["Option 1", "Thinking process", "Determining"]},
    "1.2": {2: ["That's not right", "That is right", "Yes, that works", "This suggests", "this shows it"],
            6: ["Is it 3", "Is it 4", "Which means", "then again", "so"]},
}


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_detector_spans_on_openers_that_share_prefixes_are_unchanged(version):
    d = PlanningDetector(load_preset("reasoning"), version=version)
    for i, text in enumerate(TRICKY):
        expected = MARKED_OTHER.get(version, {}).get(i, MARKED[i])
        assert [text[s:e] for s, e in d.spans(text)] == expected, (version, text)


def test_detector_tags_units_and_the_ignorecase_paths_are_unchanged():
    d = PlanningDetector(load_preset("reasoning"))
    assert d.tagged_spans(TRICKY[0]) == [(0, 7, "deduction"), (26, 40, "deduction"), (48, 57, "deduction")]
    assert d.tagged_spans(TRICKY[8]) == [(3, 11, "other"), (25, 32, "deduction"), (39, 51, "verification"),
                                         (56, 70, "other")]
    v12 = PlanningDetector(load_preset("reasoning"), version="1.2")
    assert [(u.start, u.end) for u in v12.units(TRICKY[6])] == [(0, 7), (21, 28), (34, 39)]
    assert [(u.start, u.end) for u in v12.units("\u0130\n" + TRICKY[6])] == [(2, 9), (23, 30), (36, 41)]


def test_the_training_loops_pattern_is_dispatched():
    """The untagged step pattern (the mask's) carries the first-character groups; the tagged one (a named
    group per function) only in the further openers after a comma."""
    d = PlanningDetector(load_preset("reasoning"))
    assert d._step.pattern.count("(?=[abcdefghiklmnopqrstuvwy])") == 2  # the opener, the one after a comma
    assert d._step_tagged.pattern.count("(?=[abcdefghiklmnopqrstuvwy])") == 1  # after a comma only
    assert d._step_i.pattern == d._step.pattern


def test_free_phrases_after_a_non_word_character_are_the_phrases_at_word_starts():
    """The free phrases' scan consumes the character before a phrase; the same phrases as before, also at
    the text's start and one after another. A phrase that ends with a non-word character keeps the plain
    scan: the phrase after it may start right where it ends ("wait!hmm")."""
    d = PlanningDetector(SGSet("t", (StrategicGram("note that"), StrategicGram("hmm"), StrategicGram("ok"))))
    assert d._free_after_nonword
    text = "hmm note that,hmm.ok okay xhmm hmmx (hmm)\nnote\tthat"
    assert [text[s:e] for s, e in d.spans(text)] == ["hmm", "note that", "hmm", "ok", "hmm", "note\tthat"]
    assert d.spans(text) == [(0, 3), (4, 13), (14, 17), (18, 20), (37, 40), (42, 51)]  # as before (ddbae36)
    punct = PlanningDetector(SGSet("t", (StrategicGram("wait!"), StrategicGram("hmm"))))
    assert not punct._free_after_nonword
    assert punct.spans("wait!hmm") == [(0, 8)]
    assert punct.spans("x wait!hmm hmm") == [(2, 10), (11, 14)]
