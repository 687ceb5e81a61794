"""The Runs tab: every run with its progress; resume, delete (after a confirmation), download, push."""

from __future__ import annotations

import gradio as gr

from lab.ui import runs_handlers as h
from lab.ui import train_handlers as th
from lab.ui.context import settings


def build(owner_token=None) -> dict:
    """``owner_token``: in a public lab, the page's ``gr.BrowserState`` (lab/ui/visitors.py): the buttons
    then act only on the visitor's own runs, and a note says what the lab keeps."""
    if owner_token is not None:
        from lab.ui import visitors as v

        notice = gr.Markdown(elem_id="runs-public-notice")
        gr.Timer(5.0).tick(v.notice, owner_token, notice, show_progress="hidden", api_visibility="private")
        gr.on(None, v.notice, owner_token, notice, api_visibility="private")  # on load and a new token
    table = gr.Dataframe(headers=h.RUN_COLUMNS, value=h.runs_table(), interactive=False,
                         label="runs (refreshes every 5 s)", elem_id="runs-table", wrap=True,
                         # widths in pixels: on a phone the table scrolls sideways instead of squeezing
                         # its headers into one letter per line; cells wrap, so two long run names that
                         # share a prefix never look the same
                         column_widths=["220px", "90px", "90px", "220px", "80px", "90px", "110px", "70px", "100px"])
    gr.Timer(5.0).tick(h.runs_table, None, table, show_progress="hidden")
    with gr.Row():
        run = gr.Dropdown(th.run_names(), label="run", allow_custom_value=True, elem_id="runs-run")
        resume = gr.Button("Resume")
        delete = gr.Button("Delete", variant="stop")
        download = gr.Button("Download adapter")
    with gr.Row(visible=False, elem_id="runs-confirm") as confirm_row:
        confirm = gr.Button("Yes, delete it", variant="stop", elem_id="runs-confirm-delete")
        cancel = gr.Button("Cancel", elem_id="runs-cancel-delete")
    message = gr.Markdown(elem_id="runs-message")
    archive = gr.File(label="adapter (peft format, zipped; a sweep: one folder per arm)", interactive=False)
    if not settings().public:
        with gr.Accordion("Push the adapter to the Hugging Face Hub", open=False):
            with gr.Row():
                repo = gr.Textbox(label="repository id", placeholder="your-name/hicra-adapter")
                token = gr.Textbox(label="token (write access)", type="password")
                push = gr.Button("Push")
            push.click(h.push_adapter, [run, repo, token], message)

    def ask(name):
        text, show = h.delete_prompt(name)
        return text, gr.update(visible=show)

    def after(name):
        """Once a delete went through (or was refused): hide the question, redraw the table and the list."""
        names = th.run_names()
        return gr.update(visible=False), h.runs_table(), gr.update(choices=names, value=name if name in names else None)

    delete.click(ask, run, [message, confirm_row])
    cancel.click(lambda: ("Nothing deleted.", gr.update(visible=False)), None, [message, confirm_row])
    run.change(lambda: gr.update(visible=False), None, confirm_row)
    # /delete (the API) deletes at once and returns the message, as before the page asked first
    if owner_token is None:
        resume.click(th.resume, run, message)
        confirm.click(h.delete, run, message, api_name="delete").then(after, run, [confirm_row, table, run])
        download.click(h.download_adapter, run, [archive, message])
    else:
        resume.click(v.resume, [run, owner_token], message)  # /resume_1, as in a private lab
        confirm.click(v.delete, [run, owner_token], message, api_name="delete").then(
            after, run, [confirm_row, table, run])
        download.click(v.download_adapter, [run, owner_token], [archive, message],
                       api_name="download_adapter")
    run.focus(lambda: gr.update(choices=th.run_names()), None, run)
    return {"run": run}
