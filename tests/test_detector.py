"""The planning detector (training/hierarchy/detector.py): hand-worked spans, guards, determinism, budget,
the per-family guidance, and the bench's --eval-file output."""

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from training.hierarchy.detector import (DETECTORS, NAME, OPTION_NAMES, OPTIONS, VERSION, PlanningDetector,
                                         default_detector, normalise, planning_label, planning_matcher)
from training.hierarchy.grams import SGSet, StrategicGram, load_preset
from training.hierarchy.guidance import detector_guidance, family_of
from training.hierarchy.matching import GramMatcher, matcher_for
from training.hierarchy.planning_eval import parse_trace, score
from training.hierarchy.tokens import token_masks_from_ids

from _mask_timing import mask_batch

ROOT = Path(__file__).resolve().parent.parent


def marked(text: str, detector=None) -> list[str]:
    d = detector or default_detector()
    return [text[s:e] for s, e in d.spans(text)]


def test_name_and_version_are_one_line():
    assert NAME == "planning-detector" and re.fullmatch(r"\d+\.\d+", VERSION)
    assert default_detector().label == f"planning-detector {VERSION} on SG set reasoning"
    assert planning_label("sg", load_preset("reasoning")) == "SG set reasoning (its phrases as they are)"
    assert DETECTORS == ("sg", NAME, "planning-detector-1.2", "planning-detector-1.3")
    assert planning_label("planning-detector-1.2", load_preset("reasoning")) == \
        "planning-detector 1.2 on SG set reasoning"


def test_normalise_keeps_length_and_maps_typography():
    text = "Let\u201bs \u2014 \u201cgo\u201d \u2019k\u00a0x"
    assert normalise(text) == "Let's - \"go\" 'k x" and len(normalise(text)) == len(text)


def test_unicode_apostrophes_match_like_plain_ones():
    for apostrophe in ("'", "\u2019", "\u201b", "\u02bc"):
        text = f"Let{apostrophe}s try x = 2."
        assert marked(text) == [f"Let{apostrophe}s try"], apostrophe


def test_step_starts_after_markdown_italics_bullets_and_labels():
    text = "*Wait*, the sum is 4.\n- Wait, no.\n* *Hypothesis:* x is odd.\n## Analyze the request\n> Hmm, odd."
    assert marked(text) == ["Wait", "Wait, no", "Hypothesis", "Analyze the request", "Hmm"]


def test_a_steering_clause_is_marked_to_its_content():
    # Hand-worked: the clause runs on through openers, subjects, auxiliaries, planning verbs and particles,
    # and stops at the object ("how many", "the second clue", "B's statement").
    assert marked("Okay, so I\u2019m trying to figure out how many apples.") == \
        ["Okay, so I\u2019m trying to figure out"]
    assert marked("Let me think about the second clue.") == ["Let me think about"]
    assert marked("Let me check B's statement.") == ["Let me check"]
    assert marked("Maybe I can incorporate a cat.") == ["Maybe I can incorporate"]
    assert marked("So I need to find whether x is even.") == ["So I need to find whether"]
    # a subject or an auxiliary never ends the clause: "Okay, so I" is "Okay, so"
    assert marked("Okay, so I 5 apples.") == ["Okay, so"]
    # a pronoun that points back belongs to a clause that ends at punctuation (annotation rule 2)
    assert marked("Let me double-check that.") == ["Let me double-check that"]


def test_generic_openers_beyond_the_phrase_list():
    text = ("How about 3? Another angle: parity. For example, 7. I should also consider the edge. "
            "That would mean x = 1. I laid out the grid.")
    assert marked(text) == ["How about", "Another angle", "For example", "I should also consider",
                            "That would mean", "I laid out"]


def test_version_1_1_options_hand_worked():
    # Each 1.1 option on a sentence worked by hand (annotation rules 1, 5 and 7 of the genuine set).
    assert marked("* *Option 1 (Too brief):* it sucks.\nAlternative: x is odd.") == ["Option 1", "Alternative"]
    assert marked("I tried to deduce the owner.") == ["I tried to deduce"]  # chain: to + verb
    assert marked("Let me think about how to structure the story.") == ["Let me think about how to structure"]
    assert marked("Okay, the user wants a story.") == ["Okay, the user wants"]  # user
    # ordinal: "First sentence" names content; "First, I need to" opens a step
    assert marked("First sentence sets the scene. First, I need to count.") == ["First, I need to count"]
    assert marked("My plan is to conduct searches. Ultimately, the goal is to list them.") == \
        ["My plan is to conduct", "Ultimately, the goal is to list"]  # narrative
    assert marked("I'm now focusing on pinpointing the date.") == ["I'm now focusing on pinpointing"]  # gerund


def test_no_options_is_version_1_0():
    sg = load_preset("reasoning")
    old = PlanningDetector(sg, options=())
    assert old.options == frozenset() and default_detector().options == OPTIONS
    assert set(OPTIONS) <= set(OPTION_NAMES)
    assert marked("I tried to deduce the owner.", old) == ["I tried"]
    # leadin (measured, not kept): a short clause whose colon ends the line introduces a sub-list
    leadin = PlanningDetector(sg, options=OPTIONS | {"leadin"})
    assert marked("2. The pattern should match:\n   - Any letter\nThe pattern: x = 2.", leadin) == \
        ["The pattern should match"]
    assert marked("2. The pattern should match:\n   - Any letter\n") == []
    with pytest.raises(ValueError, match="unknown detector option"):
        PlanningDetector(sg, options=("magic",))


def test_yes_no_answering_the_models_own_question_is_content():
    text = "Is 91 prime? No, 91 = 7 * 13. Does it hold?\nYes, since 4 > 3. Right? Right, so x = 2."
    assert marked(text) == []
    assert marked("Let me check: 3 * 4 = 12. Yes, that works.") == ["Let me check", "Yes, that works"]


def test_mid_sentence_openers_and_code_are_not_planning():
    assert marked("x = 4, so y = 8 and then we add them.") == []
    text = "Let me write it.\n```python\n# Wait, let me check\nwait(1)\n```\nDone `wait()` now."
    assert marked(text) == ["Let me write it"]


def test_the_detector_adds_to_its_sg_set():
    sg = SGSet("tiny", (StrategicGram("note that"), StrategicGram("so", at="step-start")))
    d = PlanningDetector(sg)
    text = "Note that 2 is even. So x = 4. It is 4, note that y."
    assert set(GramMatcher(sg.grams).spans(text)) <= {(s, e) for s, e in d.spans(text)} | \
        {(s, e) for s, e, _ in d.tagged_spans(text)}
    assert marked(text, d) == ["Note that", "So", "note that"]


def test_deterministic_and_same_spans_tagged_or_not():
    text = (ROOT / "assets" / "planning-eval" / "dev.txt").read_text(encoding="utf-8")
    d = default_detector()
    first = d.spans(text)
    fresh = PlanningDetector(load_preset("reasoning"))
    assert fresh.spans(text) == first == d.spans(text)
    tagged = d.tagged_spans(text)
    assert tagged == fresh.tagged_spans(text)
    assert {t for _, _, t in tagged} <= {"deduction", "branching", "backtracking", "verification", "other"}
    covered = np.zeros(len(text), bool)
    for s, e, _ in tagged:
        covered[s:e] = True
    merged = np.zeros(len(text), bool)
    for s, e in first:
        merged[s:e] = True
    # the lean path and the tagged path may end a clause differently only where two functions' openers meet
    assert (covered != merged).mean() < 0.002


def test_text_whose_length_changes_under_lower_still_works():
    text = "\u0130stanbul. Wait, let me check."  # 'İ'.lower() is two characters
    assert marked(text) == ["Wait, let me check"]


def test_a_detector_stands_in_for_a_matcher_in_masks_and_scoring():
    from lab.analysis import bundled_tokenizer

    tok = bundled_tokenizer()
    d = planning_matcher(NAME, load_preset("reasoning"))
    assert matcher_for(d) is d and planning_matcher(NAME, load_preset("reasoning")) is d  # cached
    ids = tok.encode("Okay, so I need to find x. Wait, let me check.", add_special_tokens=False).ids
    (mask,) = token_masks_from_ids(tok, [ids], d)
    assert mask.any() and not mask.all()
    trace = parse_trace("\u27e6other: Okay, so I need to find\u27e7 x. \u27e6backtracking: Wait\u27e7. "
                        "\u27e6verification: Let me check\u27e7.")
    s = score(d, [trace], tok)
    assert s.all.precision == 1.0 and s.all.recall == 1.0 and s.phrases == 3 and s.touched == s.covered == 3
    assert s.by_tag["verification"].recall == 1.0 and s.by_tag["backtracking"].precision == 1.0
    with pytest.raises(ValueError, match="unknown planning detector"):
        planning_matcher("nope", load_preset("reasoning"))


def test_run_config_names_the_detector():
    from training.config import RunConfig

    assert RunConfig().detector == "sg"  # HICRA runs on the bundled task keep their ground-truth masks
    assert RunConfig(detector=NAME).validate().detector == NAME
    with pytest.raises(ValueError, match="detector must be one of"):
        RunConfig(detector="magic").validate()


def test_within_the_mask_budget():
    # The loop's budget is 20 ms for 64 x 1,024 tokens (bench/planning_mask.py). A loose, CI-safe bound on
    # a quarter of that batch (16 sequences: a shared CI machine is several times slower than a quiet one):
    # this thread's CPU time, best of 5.
    tok, batch = mask_batch()
    d = default_detector()
    token_masks_from_ids(tok, batch, d)
    best = float("inf")
    for _ in range(5):
        t0 = time.thread_time()
        token_masks_from_ids(tok, batch, d)
        best = min(best, time.thread_time() - t0)
    assert best < 0.030, f"{best * 1e3:.1f} ms for 16 x 1,024 tokens"


def test_family_of_model_names():
    assert family_of("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") == "deepseek-r1"
    assert family_of("Qwen/QwQ-32B") == "qwq"
    assert family_of("Qwen/Qwen3-8B") == "qwen3" and family_of("Qwen/Qwen3.5-0.8B") == "qwen3.5"
    assert family_of("microsoft/Phi-4-mini-reasoning") == "phi4-reasoning"
    assert family_of("Qwen/Qwen2.5-0.5B-Instruct") == "qwen2.5"
    assert family_of("gpt2") is None and family_of("") is None
    assert family_of("nvidia/Llama-3_3-Nemotron-Super-49B-v1") == "llama-nemotron"
    assert family_of("meta-llama/Llama-3.1-8B-Instruct") == "llama" and family_of("openai/gpt-oss-20b") == "gpt-oss"
    assert family_of("nvidia/Llama-3_1-Nemotron-Ultra-253B-v1") == "llama-nemotron"
    assert family_of("nvidia/OpenReasoning-Nemotron-7B") is None  # Qwen-based: not Nemotron 3's figures
    assert family_of("NousResearch/Hermes-3-Llama-3.1-8B") == "llama"  # an instruct model, not DeepHermes
    assert family_of("NousResearch/DeepHermes-3-Mistral-24B-Preview") == "hermes"
    assert family_of("zai-org/GLM-4.5") == "glm" and family_of("Qwen/Qwen3.6-27B") == "qwen3.6"


def test_every_measured_family_is_found_from_its_traces_model_names():
    """The guidance can only show a family's figures when a model name maps to it: every trace's ``model=``
    in the genuine sets maps to the trace's ``family=``."""
    from training.hierarchy.planning_eval import load_traces
    wrong = {(t.meta["model"], t.meta["family"], family_of(t.meta["model"]))
             for path in sorted((ROOT / "assets" / "planning-eval" / "genuine").glob("*.txt"))
             for t in load_traces(path) if family_of(t.meta["model"]) != t.meta["family"]}
    assert not wrong


def test_guidance_measured_or_unmeasured(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"detector": NAME, "version": VERSION, "families": {
        "deepseek-r1": {"split": "held-out", "precision": 0.9, "recall": 0.8, "traces": 6, "phrases": 120},
        "qwen3.5": {"split": "blind", "precision": 0.9, "recall": 0.46, "traces": 9, "phrases": 104},
        "qwen3": {"split": "dev", "precision": 0.8, "recall": 0.7, "traces": 3, "phrases": 50}}}))
    r1 = detector_guidance("deepseek-ai/DeepSeek-R1-Distill-Qwen-7B", results)
    assert "precision 0.90, recall 0.80" in r1 and "held-out half, read while" in r1 and "deepseek-r1" in r1
    assert "held-out-2 to -5, gathered blind" in detector_guidance("Qwen/Qwen3.5-9B", results)
    assert "dev half, which it was tuned on" in detector_guidance("Qwen/Qwen3-8B", results)
    assert "**unmeasured**" in detector_guidance("Qwen/Qwen2.5-0.5B-Instruct", results)
    assert "**unmeasured**" in detector_guidance("Qwen/Qwen3-8B", tmp_path / "missing.json")
    assert "ground truth" in detector_guidance("tiny", results)


def test_bench_eval_file_ends_with_one_line_per_scorer(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("### id=a family=qwq domain=maths\n\u27e6other: Okay, so\u27e7 x = 2. \u27e6deduction: So\u27e7 "
                    "y = 4.\n\n### id=b domain=non-maths\n\u27e6backtracking: Wait\u27e7, the loop is off.\n",
                    encoding="utf-8")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "planning_quality.py"), "--eval-file", str(path)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    tail = [ln for ln in lines if re.fullmatch(r"\S+ P=(\d\.\d\d|nan) R=(\d\.\d\d|nan)", ln)]
    assert lines[-len(tail):] == tail and len(tail) >= 5
    names = [ln.split()[0] for ln in tail]
    assert f"{NAME}-{VERSION}" in names and "reasoning" in names
    assert f"{NAME}-{VERSION} P=1.00 R=1.00" in tail
    assert "| qwq | 1 |" in out.stdout and "| unknown | 1 |" in out.stdout  # a trace without a family


def test_bench_eval_file_reports_a_bad_file(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("no header here\n", encoding="utf-8")
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "planning_quality.py"), "--eval-file", str(bad)],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 2 and "header" in out.stderr and "Traceback" not in out.stderr


def test_inspect_highlights_with_the_detector_and_names_it():
    from lab.ui import handlers

    html, stats, message = handlers.highlight("Okay, so I need to find x. Wait, let me check: x = 2.", NAME)
    assert stats.startswith(f"Planning: **{NAME} {VERSION} on SG set reasoning**") and message == ""
    assert 'class="tok planning' in html or "planning" in html
    assert handlers.resolve_sg(NAME) is default_detector()
    _, stats, _ = handlers.highlight("Let's check x.", "reasoning")
    assert stats.startswith("SG set: **reasoning**")  # the presets as before


def test_grouped_cross_validation_of_the_options():
    # bench/detector_cv.py on one candidate option (a few seconds): 1.0's pooled dev figures, one
    # out-of-fold row per dev repository, and the choice made on all of dev.
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "detector_cv.py"), "--options", "ordinal"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "1.0 (no options) pooled: P=0.863 R=0.718" in out.stdout
    assert len(re.findall(r"^  github:\S+: chose ", out.stdout, re.M)) == 5
    assert re.search(r"^out-of-fold pooled: P=0\.\d{3} R=0\.\d{3}$", out.stdout, re.M)
    assert "chosen on all of dev: ordinal;" in out.stdout  # precision up, recall the same
