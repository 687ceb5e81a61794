"""The Train tab: launch GRPO, HICRA or a fair A/B; live charts while it runs."""

from __future__ import annotations

import gradio as gr

from lab.ui import train_handlers as h
from lab.ui.context import PUBLIC_MAX_STEPS, settings


def build(owner_token=None) -> None:
    """``owner_token``: in a public lab, the page's ``gr.BrowserState`` (lab/ui/visitors.py); the events then
    go through the ownership and queue checks."""
    from training.config import PRESETS

    public = settings().public
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                preset = gr.Dropdown(list(PRESETS), value="tiny-cpu", label="preset")
                algo = gr.Radio(list(h.ALGO_CHOICES), value="GRPO vs HICRA (fair A/B)", label="algorithm")
            with gr.Row():
                alpha = gr.Slider(0.0, 1.0, value=0.2, step=0.05, label="HICRA alpha")
                steps = gr.Number(value=100, precision=0, minimum=1,
                                  maximum=PUBLIC_MAX_STEPS if public else None, label="steps")
                seeds = gr.Textbox(value="0", label="seeds (comma-separated)")
                lora_r = gr.Number(value=16, precision=0, minimum=1, label="LoRA rank")
            with gr.Row():
                sg_set = gr.Dropdown(h.sg_choices(), value="ground-truth", label="planning phrases (SG set)",
                                     allow_custom_value=True)
                model = gr.Textbox(value="tiny", label="model ('tiny' = bundled; or a hub name)")
                name = gr.Textbox(label="run name (optional)", placeholder="auto")
            launch = gr.Button("Launch", variant="primary")
        with gr.Column(scale=1):
            run = gr.Dropdown(h.run_names(), label="run", allow_custom_value=True, elem_id="train-run")
            with gr.Row():
                stop = gr.Button("Stop")
                resume = gr.Button("Resume")
            message = gr.Markdown(elem_id="train-message")
            status = gr.Markdown(elem_id="train-status")
    plot = gr.Plot(label="training dynamics", elem_id="train-plot")
    samples = gr.HTML(elem_id="train-samples")
    timer = gr.Timer(3.0)

    def on_launch(*args):
        msg, new = h.launch(*args)
        return msg, gr.update(choices=h.run_names(), value=new or None)

    fields = [name, preset, algo, alpha, steps, seeds, lora_r, sg_set, model]
    if owner_token is None:
        launch.click(on_launch, fields, [message, run], api_name="launch")
        stop.click(h.stop, run, message, api_name="stop")
        resume.click(h.resume, run, message, api_name="resume")
        run.change(h.refresh, run, [status, plot, samples], api_name="refresh")
        timer.tick(h.refresh, run, [status, plot, samples], show_progress="hidden")
    else:  # public: the same endpoints, with an optional owner_token parameter
        from lab.ui import visitors as v

        launch.click(v.launch, [*fields, owner_token], [message, run], api_name="launch")
        stop.click(v.stop, [run, owner_token], message, api_name="stop")
        resume.click(v.resume, [run, owner_token], message, api_name="resume")
        run.change(v.refresh, [run, owner_token], [status, plot, samples], api_name="refresh")
        timer.tick(v.refresh, [run, owner_token], [status, plot, samples], show_progress="hidden")
    sg_set.focus(lambda: gr.update(choices=h.sg_choices()), None, sg_set)
    run.focus(lambda: gr.update(choices=h.run_names()), None, run)
