"""The Inspect tab: paste reasoning text, see its planning tokens."""

from __future__ import annotations

import gradio as gr

from lab.grams import list_presets
from lab.ui import handlers

EXAMPLE = (
    "We need 47 * 23. Let's break this down: 47 * 20 = 940 and 47 * 3 = 141, "
    "so 940 + 141 = 1081.\nWait, let's double-check: 1081 / 23 = 47. Yes. "
    "Alternatively, round 47 up to 50: 50 * 23 = 1150, then subtract 3 * 23 = 69, "
    "which gives 1081. So the answer is 1081."
)


def build() -> None:
    presets = list_presets()
    with gr.Row():
        with gr.Column(scale=3):
            text = gr.Textbox(label="Reasoning text", lines=10, max_lines=30, value=EXAMPLE,
                              placeholder="Paste a model's step-by-step solution here")
        with gr.Column(scale=2):
            preset = gr.Dropdown(presets, value="math-compact" if "math-compact" in presets else presets[0],
                                 label="Strategic Gram set")
            sg_file = gr.File(label="…or upload an SG set (JSON)", file_types=[".json"], type="filepath")
            button = gr.Button("Highlight planning tokens", variant="primary")
    message = gr.Markdown(elem_id="inspect-message")
    with gr.Row():
        with gr.Column(scale=3):
            tokens = gr.HTML(elem_id="inspect-tokens")
        with gr.Column(scale=2):
            stats = gr.Markdown(elem_id="inspect-stats")
    button.click(handlers.highlight, [text, preset, sg_file], [tokens, stats, message],
                 api_name="highlight")
