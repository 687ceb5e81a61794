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
