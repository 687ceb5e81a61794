"""Planning detector 1.3 (1.1 plus the clause-end post-pass): each rule where it runs a clause on and where it
must stop, determinism, versions 1.0-1.2 unchanged, the run label and the mask budget."""

import pytest

from training.hierarchy.clause_end import EXTRA, KEPT, RULES
from training.hierarchy.detector import (DETECTORS, VERSION, PlanningDetector, clause_ends, planning_label,
                                         planning_matcher)
from training.hierarchy.grams import load_preset

from _mask_timing import mask_cpu_times

SG = load_preset("reasoning")


@pytest.fixture(scope="module")
def v11() -> PlanningDetector:
    return PlanningDetector(SG, version="1.1")


@pytest.fixture(scope="module")
def v13() -> PlanningDetector:
    return PlanningDetector(SG, version="1.3")


def marked(text: str, detector: PlanningDetector) -> list[str]:
    return [text[s:e] for s, e in detector.spans(text)]


def test_version_1_3_is_opt_in_and_labelled():
    assert VERSION == "1.1" and "planning-detector-1.3" in DETECTORS
    assert PlanningDetector(SG, version="1.3").label == "planning-detector 1.3 on SG set reasoning"
    assert planning_label("planning-detector-1.3", SG) == "planning-detector 1.3 on SG set reasoning"
    assert planning_matcher("planning-detector-1.3", SG).version == "1.3"
    assert PlanningDetector(SG, version="1.3").classifier is None
    assert KEPT == ("subject", "answer", "closed") and set(KEPT) <= set(RULES)
    assert len(EXTRA.split()) == 21  # the words 1.3 adds (reported in docs/planning-detector.md)
    with pytest.raises(ValueError, match="unknown clause-end rule"):
        clause_ends(("nope",))


@pytest.mark.parametrize("text, by_1_1, by_1_3", [
    # subject: a first-person clause after a complementizer that ends the span
    ("Let me see if I can factor 2019^8 + 1.", "Let me see if", "Let me see if I can factor"),
    # answer: "so" then "the answer is", not the answer itself
    ("So the answer is 9.", "So", "So the answer is"),
    ("So, the final answer should be 3.", "So", "So, the final answer should be"),
    # closed: the rest of the sentence has no content word, so the sentence steers whole
    ("Maybe there's a better way to approach this. I recall that", "Maybe",
     "Maybe there's a better way to approach this"),
    ("Yeah, that makes sense.", "Yeah, that", "Yeah, that makes sense"),
])
def test_each_rule_runs_the_clause_on(v11, v13, text, by_1_1, by_1_3):
    assert marked(text, v11)[0] == by_1_1
    assert marked(text, v13)[0] == by_1_3


@pytest.mark.parametrize("text, by_1_3", [
    ("So the formula is 3x + 1.", "So"),  # only "answer" announces a conclusion; the formula is content
    ("Maybe there's a hidden context.", "Maybe"),  # "hidden", "context": content words, no run-on
    ("Now the answer is 9.", "Now"),  # "answer" only after so / thus / therefore / hence
    ("Let me check B's statement.", "Let me check"),  # the verb's object is content
    ("Wait, that's five sentences.", "Wait"),  # "five", "sentences": content ("back" was not kept)
])
def test_each_rule_stops_before_content(v13, text, by_1_3):
    assert marked(text, v13)[0] == by_1_3


def test_after_a_rule_runs_on_the_rest_is_its_object(v13):
    # "subject" ran the clause on to "factor": "it" is the verb's object, not a contentless rest
    assert marked("Let me see if I can factor it.", v13)[0] == "Let me see if I can factor"


def test_the_candidates_not_kept_still_run_for_the_cross_validation():
    low = "let me think of the colors. hmm, not sure."
    ends = clause_ends(("particle",))
    assert low[:ends.end(low, 0, 12)] == "let me think of"
    assert clause_ends(("back",)).end(low, 28, 31) == len("let me think of the colors. hmm, not sure")


def test_spans_are_deterministic_and_tagged_like_the_mask(v13):
    text = ("Okay, so I need to figure out the sum. So the answer is 9. Let me see if I can factor it.\n"
            "Hmm\u2019s odd: Maybe there\u2019s a better way to approach this. Yeah, that makes sense.")
    assert v13.spans(text) == v13.spans(text) == PlanningDetector(SG, version="1.3").spans(text)
    covered = {i for s, e, _ in v13.tagged_spans(text) for i in range(s, e)}
    assert covered == {i for s, e in v13.spans(text) for i in range(s, e)}
    # A text whose length changes under lower() takes the tagged path: the same spans, offsets intact.
    odd = text.replace("the sum", "the \u0130 sum")
    shift = [(s, e) if s < 35 else (s - 2, e - 2) for s, e in v13.spans(odd)]
    assert shift == v13.spans(text) and len(shift) == 6


def test_a_clause_end_never_runs_over_a_line_break(v11, v13):
    text = "Let me see if\nI can factor it.\nSo the\nanswer is 9."
    assert marked(text, v11) == ["Let me see if", "I can factor it", "So"]
    # "the" ends its line, so "closed" takes it as a contentless rest; "answer is" on the next line is not reached
    assert marked(text, v13) == ["Let me see if", "I can factor it", "So the"]


def test_versions_1_0_to_1_2_are_unchanged_by_1_3():
    text = "So the answer is 9. Maybe there's a better way to approach this. Let me see if I can factor it."
    assert marked(text, PlanningDetector(SG, version="1.0")) == ["So", "Maybe", "Let me see if"]
    assert marked(text, PlanningDetector(SG, version="1.1")) == ["So", "Maybe", "Let me see if"]
    assert marked(text, PlanningDetector(SG, version="1.2")) == ["So", "Maybe", "Let me see if"]
    assert all(PlanningDetector(SG, version=v)._ends is None for v in ("1.0", "1.1", "1.2"))


def test_mask_cost_of_1_3_is_close_to_1_1s(v11, v13):
    # A loose, ratio-based bound (the budget itself is measured by bench/planning_mask.py, where 1.3 takes about
    # 1.06x 1.1's CPU time): a quarter of the bench's batch, 1.3 within 1.4x 1.1's CPU time.
    cpu_v11, cpu_v13 = mask_cpu_times(v11, v13)
    assert cpu_v13 < 1.4 * cpu_v11 + 0.002
