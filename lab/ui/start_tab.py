"""The "Start here" tab: three steps on one page, shown without a click (content: :mod:`lab.start`)."""

from __future__ import annotations

import html

from lab import start

FUNCTION_WORDS = {"deduction": "draws a conclusion", "branching": "tries another way",
                  "backtracking": "goes back on a step", "verification": "checks a result",
                  "other": "frames or plans the work"}


def phrases_markdown(found: list[tuple[str, str]]) -> str:
    if not found:
        return "No planning phrase found in this trace."
    rows = ["| phrase | function |", "|---|---|"]
    rows += [f"| {html.escape(p)} | {tag}: {FUNCTION_WORDS.get(tag, tag)} |" for p, tag in found]
    return "\n".join(rows)


def build() -> dict:
    """Lay out the tab; returns the buttons that lead to the other tabs (``create_app`` wires them)."""
    import gradio as gr

    gr.Markdown(
        "## Start here: what HICRA changes, in three steps\n"
        "Reinforcement learning rewards a model's right answers. **GRPO** gives every token of an answer the "
        "same credit: the answer's reward minus its group's mean. **HICRA** gives the *planning* tokens (the "
        "phrases that steer the reasoning) a little more: `A' = A + alpha*|A|` on planning tokens, "
        f"alpha = {start.ALPHA}.")
    trace_html, found = start.highlighted_trace()
    gr.Markdown("### 1. Planning and execution tokens\nA reasoning trace; the `reasoning` detector marks its "
                "planning phrases (amber). Everything else is execution: arithmetic, facts, substitution.")
    with gr.Row(elem_classes="panel-row"):
        with gr.Column(scale=3):
            gr.HTML(trace_html, elem_id="start-trace")
        with gr.Column(scale=2):
            gr.Markdown(phrases_markdown(found), elem_classes="lab-table")
    prompt, answers = start.credit_example()
    right = next(a for a in answers if a.correct)
    wrong = next(a for a in answers if not a.correct)
    gr.Markdown(
        f"### 2. Credit per token: GRPO vs HICRA\nSix answers the shipped A/B's models gave to `{prompt.splitlines()[0]}` "
        f"at step {start.DEMO_STEP}, rewarded 1 if right, else 0. Green tokens are pushed up, red pushed down; "
        "planning tokens are underlined. Hover a token for its number. Under HICRA a right answer's plan gets "
        f"{1 + start.ALPHA:g}x the credit, a wrong answer's plan {1 - start.ALPHA:g}x the blame; execution tokens "
        "are the same under both.")
    for answer, what, key in ((right, "a right answer", "right"), (wrong, "a wrong answer", "wrong")):
        with gr.Row(elem_classes="panel-row"):
            with gr.Column():
                gr.Markdown(f"**GRPO**, {what}")
                gr.HTML(start.credit_html(answer, "grpo"), elem_id=f"start-grpo-{key}")
            with gr.Column():
                gr.Markdown(f"**HICRA**, {what}")
                gr.HTML(start.credit_html(answer, "hicra"), elem_id=f"start-hicra-{key}")
    gr.Plot(start.credit_figure(answers), show_label=False, elem_classes="lab-panel", elem_id="start-credit")
    gr.Markdown("### 3. Does it help?\n" + start.verdict(), elem_id="start-verdict")
    from lab.guide_text import read_more

    gr.Markdown("Next: paste your own model's reasoning in **Inspect**, open the shipped A/B's live charts, or "
                "read the **Guide** for the two phases of training. " + read_more("start"), elem_id="start-links")
    with gr.Row():
        to_guide = gr.Button("Open the Guide", variant="secondary", elem_id="start-open-guide")
        to_train = gr.Button("Open the shipped A/B in Train", variant="primary", elem_id="start-open-train")
    return {"to_guide": to_guide, "to_train": to_train}
