"""Step-start anchoring and trailing-punctuation conditions (SG sets version 2), the annotated
evaluation set, and its scoring."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from training.hierarchy.grams import SGSet, SGSetError, StrategicGram, load_preset, load_sg_set, parse_sg_set, save_sg_set
from training.hierarchy.matching import GramMatcher, find_spans, matcher_for, step_starts
from training.hierarchy.planning_eval import EvalSetError, eval_split, load_traces, parse_trace, score

ROOT = Path(__file__).resolve().parent.parent


def test_step_starts_cover_text_lines_sentences_colons_markers_and_think():
    text = "<think>\nOkay, so x = 2. Now, add: so y = 3!  Then\n  - **Wait**, no\n2. Also\x00Hmm and now"
    starts = [text[i:i + 4] for i in step_starts(text)]
    assert starts == ["<thi", "Okay", "Now,", "so y", "Then", "Wait", "Also", "Hmm "]  # "<thi": the text start


def test_step_start_phrases_count_only_where_a_step_opens():
    sg = SGSet("t", (StrategicGram("now", at="step-start"), StrategicGram("so", at="step-start"),
                     StrategicGram("which means")))
    text = "Now, 2 + 2 = 4, so we now know it, which means 4. So done.\nNow we stop."
    assert [text[s:e] for s, e in find_spans(text, sg)] == ["Now", "which means", "So", "Now"]
    m = matcher_for(sg)
    assert [p for _, _, p in m.occurrences(text)] == ["now", "which means", "so", "now"]


def test_followed_by_requires_the_next_character_and_leaves_it_out():
    m = GramMatcher([StrategicGram("wait", at="step-start", followed_by=",."), StrategicGram("yes", followed_by=".")])
    text = "Wait, no. The wait time is 5. Wait it out. Yes. yes it is"
    assert [text[s:e] for s, e in m.spans(text)] == ["Wait", "Yes"]


def test_longest_match_wins_across_anchored_and_free_phrases():
    m = GramMatcher([StrategicGram("wait", at="step-start"), "wait, but i need to", StrategicGram("hmm", at="step-start")])
    text = "Hmm. Wait, but I need to check. I wait."
    assert m.occurrences(text) == [(0, 3, "hmm"), (5, 24, "wait, but i need to")]
    # a free phrase starting inside an anchored one is still found, and spans merge
    m2 = GramMatcher([StrategicGram("let me", at="step-start"), "me check"])
    assert m2.spans("Let me check it.") == [(0, 12)]


def test_version_2_files_round_trip_and_version_1_stays_version_1(tmp_path):
    v2 = SGSet("x", (StrategicGram("now", tag="other", at="step-start", followed_by=","), StrategicGram("note that")))
    path = save_sg_set(v2, tmp_path / "x.json")
    data = json.loads(path.read_text())
    assert data["version"] == 2 and data["grams"][0] == {"phrase": "now", "at": "step-start", "followed_by": ","}
    assert load_sg_set(path) == v2
    v1 = SGSet("y", (StrategicGram("note that"),))
    assert json.loads(save_sg_set(v1, tmp_path / "y.json").read_text())["version"] == 1


@pytest.mark.parametrize("entry, problem", [
    ({"phrase": "now", "at": "start"}, "at is 'start'"),
    ({"phrase": "now", "followed_by": "a"}, "followed_by must be"),
    ({"phrase": "now", "followed_by": 3}, "followed_by must be"),
])
def test_bad_conditions_are_refused_with_a_message(entry, problem):
    with pytest.raises(SGSetError, match=problem):
        parse_sg_set({"version": 2, "grams": [entry]}, "f.json")


def test_conditions_need_version_2():
    with pytest.raises(SGSetError, match='need "version": 2'):
        parse_sg_set({"version": 1, "grams": [{"phrase": "now", "at": "step-start"}]}, "f.json")


def test_parse_trace_and_bad_markup():
    t = parse_trace("⟦other: Now⟧, ⟦verification: let me check⟧: 2 + 2 = 4.", "t1")
    assert t.text == "Now, let me check: 2 + 2 = 4."
    assert t.spans == ((0, 3, "other"), (5, 17, "verification"))
    with pytest.raises(EvalSetError, match="unknown tag"):
        parse_trace("⟦planning: so⟧ x", "t2")
    with pytest.raises(EvalSetError, match="not part of"):
        parse_trace("⟦other: so x", "t3")


def test_load_traces_reads_headers_and_refuses_text_before_them(tmp_path):
    f = tmp_path / "e.txt"
    f.write_text("### id=a domain=logic style=r1 think=no\n⟦other: Okay⟧ x.\n\n### id=b domain=code style=o1 "
                 "think=no\nNo plan.\n", encoding="utf-8")
    a, b = load_traces(f)
    assert (a.id, a.meta["domain"], a.text, b.text, b.spans) == ("a", "logic", "Okay x.", "No plan.", ())
    f.write_text("stray\n### id=a\nx\n", encoding="utf-8")
    with pytest.raises(EvalSetError, match="before the first"):
        load_traces(f)


def test_shipped_evaluation_set_is_well_formed():
    dev, held = eval_split("dev"), eval_split("held-out")
    assert len(dev) + len(held) >= 40 and len(dev) == len(held)
    assert not {t.id for t in dev} & {t.id for t in held}
    for half in (dev, held):
        assert {t.meta["domain"] for t in half} == {"math-word", "competition", "logic", "code", "science"}
        assert {t.meta["think"] for t in half} == {"yes", "no"}
        tags = {tag for t in half for _, _, tag in t.spans}
        assert tags == {"deduction", "branching", "backtracking", "verification", "other"}


def test_scores_on_hand_worked_counts(tokenizer):
    # bundled tokens: "N" "ow" "," " " "2" ... "," " so" " " "4" ".": "Now" (2 tokens) is annotated and
    # found, " so" (1 token) is marked but not annotated
    trace = parse_trace("⟦other: Now⟧, 2 + 2 = 4, so 4.")
    s = score(SGSet("t", (StrategicGram("now", tag="other"), StrategicGram("so", tag="deduction"))), [trace],
              tokenizer)
    assert (s.all.found, s.all.missed, s.all.marked_in, s.all.marked_out) == (2, 0, 2, 1)
    assert s.all.precision == pytest.approx(2 / 3) and s.all.recall == 1.0
    assert s.by_tag["other"].precision == 1.0 and s.by_tag["deduction"].precision == 0.0


def test_reasoning_preset_finds_openers_and_plan_switches_in_r1_style_text():
    text = ("<think>\nAlright, so I need to find x. Hmm, let me try plugging in 2. Wait, that's not right. "
            "Alternatively, let's use the quadratic formula. So x = 3. Let me double-check: 9 - 9 = 0. Yes.\n"
            "</think>\nThe answer is 3, so we are done.")
    found = [text[s:e] for s, e in find_spans(text, load_preset("reasoning"))]
    # spans merge where they touch; "so" mid-sentence is not an opener
    assert found == ["Alright, so", "I need to find", "Hmm, let me try", "Wait", "that's not right",
                     "Alternatively", "let's use", "So", "Let me double-check", "Yes"]


def test_planning_quality_bench_prints_both_halves_figures(tmp_path):
    out = tmp_path / "pq.json"
    run = subprocess.run([sys.executable, "bench/planning_quality.py", "--bundled", "50", "--json", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "| reasoning |" in run.stdout and "By function" in run.stdout
    result = json.loads(out.read_text())
    assert result["self-written held-out"]["traces"] == 24 and result["self-written dev"]["traces"] == 24
    r = result["self-written held-out"]["scorers"]["reasoning"]
    assert r["precision"] >= 0.85 and r["recall"] >= 0.70  # the target, as measured on the held-out half
