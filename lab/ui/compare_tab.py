"""The Compare tab: runs or sweeps side by side, with intervals across seeds."""

from __future__ import annotations

import gradio as gr

from lab.ui import runs_handlers as h
from lab.ui.train_handlers import run_names


def build() -> None:
    with gr.Row():
        picks = gr.Dropdown(run_names(), multiselect=True, label="runs or sweeps", scale=3, allow_custom_value=True)
        threshold = gr.Slider(0.1, 1.0, value=0.6, step=0.05, label="accuracy for 'steps to reach'", scale=1)
        button = gr.Button("Compare", variant="primary", scale=1)
    message = gr.Markdown()
    table = gr.Markdown(elem_id="compare-table")
    with gr.Row():
        acc = gr.Plot(label="held-out accuracy")
        sem = gr.Plot(label="semantic entropy")
    err = gr.Plot(label="error types")
    button.click(h.compare, [picks, threshold], [acc, sem, err, table, message], api_name="compare")
    picks.focus(lambda: gr.update(choices=run_names()), None, picks)
