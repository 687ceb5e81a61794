"""The Runs tab: every run with its status; delete, resume, download, push."""

from __future__ import annotations

import gradio as gr

from lab.ui import runs_handlers as h
from lab.ui import train_handlers as th
from lab.ui.context import settings


def build(owner_token=None) -> None:
    """``owner_token``: in a public lab, the page's ``gr.BrowserState`` (lab/ui/visitors.py): the buttons
    then act only on the visitor's own runs, and a note says what the lab keeps."""
    if owner_token is not None:
        from lab.ui import visitors as v

        notice = gr.Markdown(elem_id="runs-public-notice")
        gr.Timer(5.0).tick(v.notice, owner_token, notice, show_progress="hidden", api_visibility="private")
        gr.on(None, v.notice, owner_token, notice, api_visibility="private")  # on load and a new token
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
    if owner_token is None:
        resume.click(th.resume, run, message)
        delete.click(h.delete, run, message)
        download.click(h.download_adapter, run, [archive, message])
    else:
        resume.click(v.resume, [run, owner_token], message)  # /resume_1, as in a private lab
        delete.click(v.delete, [run, owner_token], message, api_name="delete")
        download.click(v.download_adapter, [run, owner_token], [archive, message],
                       api_name="download_adapter")
    run.focus(lambda: gr.update(choices=th.run_names()), None, run)
