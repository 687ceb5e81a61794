"""Handlers and formatters, called directly: no server."""

import numpy as np

from lab.analysis import MAX_TEXT_CHARS, analyse_text
from training.hierarchy.grams import load_preset
from lab.render import stats_markdown, tokens_html
from lab.ui.handlers import highlight

TEXT = "We need 12 * 5. Let's break this down: 10 * 5 = 50. Wait, let's double-check. So the answer is 60."


def test_highlight_marks_planning_tokens_and_reports_ratio():
    html, stats, message = highlight(TEXT, "math-compact", None)
    assert message == ""
    assert html.count('class="tok planning"') >= 8
    assert "planning-token ratio" in stats and "%" in stats
    analysis = analyse_text(TEXT, load_preset("math-compact"))
    assert f"{analysis.planning_ratio:.1%}" in stats
    assert 0.2 < analysis.planning_ratio < 0.6


def test_highlight_bad_inputs_give_messages():
    for text in ("", "   \n", None):
        html, stats, message = highlight(text, "math-compact", None)
        assert (html, stats) == ("", "") and "empty" in message
    html, _, message = highlight("x " * 100_000, "math-compact", None)
    assert html == "" and "200,000 characters" in message and f"{MAX_TEXT_CHARS:,}" in message
    assert "unknown SG preset" in highlight(TEXT, "nope", None)[2]
    assert "Pick a Strategic Gram set" in highlight(TEXT, None, None)[2]


def test_highlight_bad_sg_files(tmp_path):
    cases = {"notjson.json": b"{oops", "binary.json": b"\x89PNG\r\n\x1a\n\x00\xff",
             "empty.json": b'{"version": 1, "grams": []}', "ints.json": b'{"version": 1, "grams": [1, 2]}'}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        html, _, message = highlight(TEXT, "math-compact", str(path))
        assert html == "" and message.startswith("⚠️ " + name + ":"), message


def test_uploaded_sg_file_is_used(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text('{"version": 1, "name": "mine", "grams": ["need"]}')
    html, stats, message = highlight(TEXT, "math-compact", str(path))
    assert "**mine** (1 phrases)" in stats
    assert html.count('class="tok planning"') == 1


def test_no_match_says_so():
    _, _, message = highlight("12 * 5 = 60", "paper-appendix", None)
    assert "No Strategic Gram" in message


def test_tokens_html_escapes_and_draws_shared_spans_once():
    text = "<b>é</b>"
    offsets = np.array([[0, 3], [3, 4], [3, 4], [4, 8]])
    out = tokens_html(text, offsets, np.array([True, False, False, False]),
                      entropy=np.array([0.5, 1.0, 2.0, 0.1]), prob=np.array([0.9, 0.5, 0.4, 0.99]))
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert out.count(">é<") == 1
    assert "entropy 2.000 nats" in out and "p = 0.400" in out


def test_stats_markdown_escapes_phrases():
    analysis = analyse_text("so the answer is x | y", load_preset("math-compact"))
    assert "| so the answer is | 1 |" in stats_markdown(analysis)


def test_scoring_is_conditioned_on_the_question():
    """The bundled model scores an answer after its question, as in training: its first tokens get real
    probabilities (after a bare end-of-text token they look almost impossible)."""
    import re

    from lab.ui.model_handlers import score_text

    text = ("Let's split the second number: 23 = 20 + 3. 47 * 20 = 940. 47 * 3 = 141. 940 + 141 = 1081. "
            "So the answer is 1081.")
    html, stats, message = score_text("tiny", "", text, "ground-truth", "Q: 47 * 23 = ?\nA:")
    probs = [float(p) for p in re.findall(r"p = ([0-9.]+)", html)]
    assert message == "" and min(probs[:3]) > 0.1, probs[:3]
    bare = [float(p) for p in re.findall(r"p = ([0-9.]+)", score_text("tiny", "", text, "ground-truth")[0])]
    assert bare[0] < 0.01  # the defect the question fixes
    for label in ("planning token", "high-entropy token", "planning and high-entropy", "execution token"):
        assert label in html  # one legend, execution tokens included
    assert 'class="tok execution"' in html and "planning-token ratio" in stats


def test_legend_is_one_for_the_whole_app():
    from lab.colours import ROLE_BG, ROLE_LINE
    from lab.render import legend_html

    legend = legend_html(("planning",))
    assert "planning token" in legend and "execution token" in legend  # execution always listed
    assert ROLE_BG["high"] != ROLE_BG["execution"] and ROLE_LINE["execution"] != ROLE_LINE["high"]


def test_choosing_a_preset_fills_the_form_with_what_launch_will_train():
    from lab.ui import train_handlers

    note, steps, sg, model = train_handlers.preset_fields("tiny-smoke")
    assert "10 tiny steps" in note and steps == 10 and sg == "ground-truth" and model == "tiny"
    assert train_handlers.preset_fields("qwen0.5b-gsm8k")[2:] == ("planning-detector", "Qwen/Qwen2.5-0.5B-Instruct")
    assert train_handlers.preset_fields("nope")[1:] == (None, None, None)


R1_TRACE = ("<think>\nOkay, so I need to figure out how many apples are left after the trip. Let me think about it "
            "step by step. First, she buys twelve apples and eats three of them.\nHmm, wait, maybe I should try a "
            "different approach: count what is left each day.\n</think>\nNine apples are left.")


def test_auto_picks_the_planning_detector_for_natural_text_and_math_compact_for_arithmetic():
    from lab.autoset import AUTO
    from lab.ui.handlers import highlight

    _, stats, _ = highlight(R1_TRACE, AUTO)
    assert "Planning: **planning-detector" in stats and "chosen for this text: natural-language reasoning" in stats
    _, stats, _ = highlight("Let's split: 47 * 20 = 940. 47 * 3 = 141. 940 + 141 = 1081.", AUTO)
    assert "SG set: **math-compact**" in stats and "terse arithmetic" in stats


def test_a_set_that_misses_a_text_s_style_says_which_fits():
    from lab.ui.handlers import highlight

    _, _, note = highlight(R1_TRACE, "math-compact")
    assert "**math-compact** marks" in note and "fits **planning-detector** better" in note
    assert highlight(R1_TRACE, "planning-detector")[2] == ""  # the fitting choice: no note


def test_inspect_highlights_with_either_detector_version_and_names_it():
    from lab.ui.handlers import highlight, resolve_sg

    _, stats, _ = highlight(R1_TRACE, "planning-detector-1.2")
    assert "Planning: **planning-detector 1.2 on SG set reasoning**" in stats
    _, stats, _ = highlight(R1_TRACE, "planning-detector")
    assert "Planning: **planning-detector 1.1 on SG set reasoning**" in stats
    assert resolve_sg("planning-detector-1.2").label == "planning-detector 1.2 on SG set reasoning"


def test_scoring_prose_with_the_tiny_model_warns_that_its_numbers_mean_little():
    from lab.ui.model_handlers import score_text

    html, _, note = score_text("tiny", "", R1_TRACE, "reasoning", "")
    assert html and "learned only multiplication" in note
    assert score_text("tiny", "", "Let's split: 47 * 20 = 940. So the answer is 940.", "math-compact",
                      "Q: 47 * 20 = ?\nA:")[2] == ""


def test_checkpoints_are_listed_in_step_order(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from lab.ui import model_handlers

    for step in (10, 100, 15):
        (tmp_path / "r" / "checkpoints" / f"step-{step}" / "adapter").mkdir(parents=True)
    monkeypatch.setattr(model_handlers, "settings", lambda: SimpleNamespace(runs=tmp_path))
    assert model_handlers.checkpoint_choices() == ["r/step-10", "r/step-15", "r/step-100"]


def test_generate_with_the_tiny_model_highlights_its_answer():
    from lab.ui.inspect_tab import PROMPT
    from lab.ui.model_handlers import generate

    html, stats, message = generate("tiny", None, PROMPT, 1.0, "ground-truth", 0)
    assert message == "" and 'class="tok' in html and stats
