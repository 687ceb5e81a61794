"""The Guide's words on the example run follow its numbers."""

from lab.guide_text import phases_text
from lab.ui.guide_tab import EXAMPLE_RUN
from training.runs import read_jsonl


def run(semantic_start: float, semantic_end: float, steps: int = 60) -> list[dict]:
    out = [{"kind": "eval", "step": 0, "eval/accuracy": 0.4, "eval/errors/correct": 40,
            "eval/errors/execution": 30, "eval/errors/strategy": 30}]
    for s in range(steps):
        t = s / (steps - 1)
        out.append({"kind": "step", "step": s, "entropy/execution": 0.04 - 0.02 * t, "entropy/planning": 0.2,
                    "semantic/entropy_bits": semantic_start + (semantic_end - semantic_start) * t})
    out.append({"kind": "eval", "step": steps, "eval/accuracy": 0.7, "eval/errors/correct": 70,
                "eval/errors/execution": 28, "eval/errors/strategy": 2})
    return out


def test_the_words_follow_the_direction_of_the_numbers():
    falls = phases_text(run(4.0, 3.0))
    assert "semantic entropy of planning phrases falls from" in falls and "where the paper sees it rise" in falls
    rises = phases_text(run(3.0, 4.0))
    assert "semantic entropy of planning phrases rises from" in rises and "as the paper sees it" in rises
    assert "token entropy (teal) falls from 0.038 to 0.022 nats" in rises
    assert "planning tokens' entropy (amber) stays at 0.200 over the first 30 steps" in rises
    assert "strategy errors go from 30 to 2 in 100 held-out samples" in rises


def test_records_without_what_it_needs_give_no_text():
    assert phases_text([]) is None
    assert phases_text([r for r in run(4.0, 3.0) if r["kind"] == "step"]) is None  # no evaluations


def test_the_bundled_example_run_is_described():
    text = phases_text(read_jsonl(EXAMPLE_RUN / "metrics.jsonl"))
    assert text and "Held-out accuracy rises" in text


def test_the_guide_shows_the_computed_words():
    import gradio as gr

    from lab.ui import guide_tab

    with gr.Blocks() as demo:
        guide_tab.build()
    texts = [b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown)]
    assert any(guide_tab.example_phases() in str(t) for t in texts)


def test_the_guide_shows_the_committed_study_figures():
    import gradio as gr

    from lab.ui import guide_tab

    if guide_tab.study_summary() is None:
        return  # a checkout without study records
    with gr.Blocks() as demo:
        guide_tab.build()
    images = [str(b.value) for b in demo.blocks.values() if isinstance(b, gr.Image) and b.value]
    assert any("accuracy" in v for v in images) and any("boundary" in v for v in images)


def test_the_error_shift_follows_the_records():
    from lab.guide_text import error_shift_text

    def ev(step, strategy, execution, correct, fit):
        n = strategy + execution + correct
        return {"kind": "eval", "step": step, "eval/errors/strategy": strategy, "eval/errors/execution": execution,
                "eval/errors/correct": correct, "eval/plan/fitted": fit, "eval/accuracy": correct / n}

    shift = {"grpo": {0: [ev(0, 60, 10, 30, 0.3), ev(60, 0, 20, 80, 1.0)]}}
    text = error_shift_text(shift)
    assert "strategy error falls from 60% to 0%" in text and "execution error rises from 10% to 20%" in text
    assert "accuracy rises from 30% to 80%" in text and "give up the shortcut" in text
    same = error_shift_text({"grpo": {0: [ev(0, 60, 10, 30, 0.3), ev(60, 50, 5, 45, 0.4)]}})
    assert "execution error falls from 10% to 5%" in same and "shortcut" not in same  # no story the data lack
    assert error_shift_text({"grpo": {0: [{"kind": "step", "step": 0}]}}) is None
