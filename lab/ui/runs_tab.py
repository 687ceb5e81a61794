"""The Runs tab: every run with its status; delete, resume, download, push."""

from __future__ import annotations

import gradio as gr

from lab.ui import runs_handlers as h
from lab.ui import train_handlers as th
from lab.ui.context import settings


def build() -> None:
    table = gr.Dataframe(headers=h.RUN_COLUMNS, value=h.runs_table(), interactive=False,
                         label="runs (refreshes every 5 s)", elem_id="runs-table")
    gr.Timer(5.0).tick(h.runs_table, None, table, show_progress="hidden")
    with gr.Row():
        run = gr.Dropdown(th.run_names(), label="run", allow_custom_value=True)
        resume = gr.Button("Resume")
        delete = gr.Button("Delete", variant="stop")
        download = gr.Button("Download adapter")
    message = gr.Markdown()
    archive = gr.File(label="adapter (peft format, zipped)", interactive=False)
    if not settings().public:
        with gr.Accordion("Push the adapter to the Hugging Face Hub", open=False):
            with gr.Row():
                repo = gr.Textbox(label="repository id", placeholder="your-name/hicra-adapter")
                token = gr.Textbox(label="token (write access)", type="password")
                push = gr.Button("Push")
            push.click(h.push_adapter, [run, repo, token], message)
    resume.click(th.resume, run, message)
    delete.click(h.delete, run, message)
    download.click(h.download_adapter, run, [archive, message])
    run.focus(lambda: gr.update(choices=th.run_names()), None, run)
