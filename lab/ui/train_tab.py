"""The Train tab: launch GRPO, HICRA or a fair A/B; watch every arm's dynamics, progress and samples live."""

from __future__ import annotations

import gradio as gr

from lab.charts import MAX_SMOOTHING, PANELS, TRAIN_PANELS
from lab.ui import records
from lab.ui import train_handlers as h
from lab.ui import watch_handlers as w
from lab.ui.context import PUBLIC_MAX_STEPS, settings
from training.hierarchy.guidance import detector_guidance


def panel_grid(panel_ids, elem_prefix: str, values: list | None = None, per_row: int = 3) -> list[gr.Plot]:
    """One plot per panel, ``per_row`` to a row; on a narrow screen (a phone) each takes the full width."""
    plots = []
    values = list(values or [None] * len(panel_ids))
    for start in range(0, len(panel_ids), per_row):
        with gr.Row(elem_classes=["panel-row"]):
            for pid, value in zip(panel_ids[start:start + per_row], values[start:start + per_row]):
                with gr.Column(min_width=300):
                    plots.append(gr.Plot(value, label=PANELS[pid].title, show_label=False,
                                         elem_id=f"{elem_prefix}-{pid}", elem_classes=["lab-panel"]))
    return plots


def build(owner_token=None) -> dict:
    """``owner_token``: in a public lab, the page's ``gr.BrowserState`` (lab/ui/visitors.py); the events then
    go through the ownership and queue checks, and the status says whose run it is."""
    from training.config import PRESETS

    public = settings().public
    # No limits on these components (minimum / maximum / precision, a radio's or a closed dropdown's
    # choices): Gradio checks them by raising inside Gradio, which prints a traceback to the app's log.
    # h.launch checks every value instead, with a message, for the page and the API alike.
    with gr.Row():
        with gr.Column(scale=2):
            with gr.Row():
                preset = gr.Dropdown(list(PRESETS), value="tiny-cpu", label="preset",
                                     info="tiny-planning / -intermediate / -execution: the task regimes",
                                     allow_custom_value=True)
                algo = gr.Dropdown(list(h.ALGO_CHOICES), value="GRPO vs HICRA (fair A/B)", label="algorithm",
                                   allow_custom_value=True)
            with gr.Row():
                alpha = gr.Number(value=0.2, step=0.05, label="HICRA alpha (0-10)")
                steps = gr.Number(value=h.preset_fields("tiny-cpu")[1], step=1,
                                  label=f"steps (1-{PUBLIC_MAX_STEPS})" if public else "steps")
                seeds = gr.Textbox(value="0", label="seeds (comma-separated)")
                lora_r = gr.Number(value=16, step=1, label="LoRA rank")
            with gr.Row():
                sg_set = gr.Dropdown(h.sg_choices(), value="ground-truth", allow_custom_value=True,
                                     label="planning tokens: an SG set or the planning detector")
                model = gr.Textbox(value="tiny", label="model ('tiny' = bundled; or a hub name)")
                name = gr.Textbox(label="run name (optional)", placeholder="auto")
            preset_info = gr.Markdown(h.preset_note("tiny-cpu"), elem_classes=["lab-note"], elem_id="train-preset-note")
            guide = gr.Markdown(detector_guidance("tiny"), elem_classes=["lab-note"], elem_id="train-detector-note")
            model.change(detector_guidance, model, guide, api_visibility="private")
            launch = gr.Button("Launch", variant="primary")
        with gr.Column(scale=1):
            run = gr.Dropdown(records.choices(), value=None, label="run (demo: … are shipped records, read-only)",
                              allow_custom_value=True, elem_id="train-run")
            with gr.Row():
                stop = gr.Button("Stop")
                resume = gr.Button("Resume")
            demo = gr.Button("Open the demo A/B (no training)", size="sm", elem_id="train-open-demo",
                             visible=bool(w.open_demo()))
            message = gr.Markdown(elem_id="train-message")
            status = gr.Markdown(elem_id="train-status")
            progress = gr.HTML(elem_id="train-progress")
    with gr.Row(equal_height=True):
        window = gr.Slider(1, MAX_SMOOTHING, value=10, step=1, label="smoothing (moving average over N steps)",
                           scale=3, elem_id="train-smoothing")
        log_scale = gr.Checkbox(value=False, label="log scale (perplexity, entropy, KL)", scale=1,
                                elem_id="train-log")
        export = gr.Button("Export chart data (CSV)", scale=1, size="sm", elem_id="train-export")
    export_note = gr.Markdown(elem_id="train-export-note")
    files = gr.File(label="chart data (one CSV per chart)", file_count="multiple", interactive=False, visible=False,
                    elem_id="train-csv")
    gr.Markdown("Each chart has its own legend (click an entry to hide it); the camera icon above a chart saves "
                "it as PNG. Several seeds: the line is their mean, the shaded band its 95% interval.",
                elem_classes=["lab-note"])
    plots = panel_grid(TRAIN_PANELS, "train")
    samples = gr.HTML(elem_id="train-samples")
    last = gr.State(None)  # what the charts last showed (see on_tick)
    timer = gr.Timer(3.0)
    view = [status, progress, *plots, samples]

    def on_launch(*args):
        msg, new = h.launch(*args)
        return msg, gr.update(choices=records.choices(), value=new or None)

    def shown(name, window, log_scale):
        try:
            return (records.signature(name), window, log_scale) if name else None
        except Exception:  # noqa: BLE001 - a deleted run: redraw (refresh says why)
            return None

    def on_change(name, window, log_scale):
        return (*w.refresh(name, window, log_scale), shown(name, window, log_scale))

    def on_tick(name, window, log_scale, before):
        """Status and progress every tick (elapsed time moves); charts and samples only when the run wrote."""
        now = shown(name, window, log_scale)
        if now is not None and now == before:
            return (*w.status(name), *[gr.skip()] * (len(plots) + 1), before)
        return on_change(name, window, log_scale)

    def on_export(name, window):
        paths, note = w.export_csv(name, window)
        return gr.update(value=paths or None, visible=bool(paths)), note

    fields = [name, preset, algo, alpha, steps, seeds, lora_r, sg_set, model]
    watch = [run, window, log_scale]
    if owner_token is None:
        launch.click(on_launch, fields, [message, run], api_name="launch")
        stop.click(h.stop, run, message, api_name="stop")
        resume.click(h.resume, run, message, api_name="resume")
        run.change(on_change, watch, [*view, last], api_name="refresh")
        window.release(on_change, watch, [*view, last])
        log_scale.change(on_change, watch, [*view, last])
        timer.tick(on_tick, [*watch, last], [*view, last], show_progress="hidden")
    else:  # public: the same endpoints, with an optional owner_token parameter; the status says whose run
        from lab.ui import visitors as v

        def on_change_public(name, window, log_scale, owner_token=None, request: gr.Request = None,
                             profile: gr.OAuthProfile | None = None):
            text, *rest = on_change(name, window, log_scale)
            return (v.with_owner(text, name, owner_token, request, profile), *rest)

        def on_tick_public(name, window, log_scale, before, owner_token=None, request: gr.Request = None,
                           profile: gr.OAuthProfile | None = None):
            text, *rest = on_tick(name, window, log_scale, before)
            return (v.with_owner(text, name, owner_token, request, profile), *rest)

        launch.click(v.launch, [*fields, owner_token], [message, run], api_name="launch")
        stop.click(v.stop, [run, owner_token], message, api_name="stop")
        resume.click(v.resume, [run, owner_token], message, api_name="resume")
        run.change(on_change_public, [*watch, owner_token], [*view, last], api_name="refresh")
        window.release(on_change_public, [*watch, owner_token], [*view, last])
        log_scale.change(on_change_public, [*watch, owner_token], [*view, last])
        timer.tick(on_tick_public, [*watch, last, owner_token], [*view, last], show_progress="hidden")
    demo.click(lambda: gr.update(choices=records.choices(), value=w.open_demo()), None, run)
    export.click(on_export, [run, window], [files, export_note], api_name="export_train_csv")
    def on_preset(name):
        note, n_steps, sg, model_name = h.preset_fields(name)
        if n_steps is None:
            return note, gr.update(), gr.update(), gr.update()
        return note, n_steps, gr.update(value=sg, choices=h.sg_choices()), model_name

    preset.change(on_preset, preset, [preset_info, steps, sg_set, model], api_visibility="private")
    if owner_token is None:
        sg_set.focus(lambda: gr.update(choices=h.sg_choices()), None, sg_set)
    else:  # a visitor sees their own saved sets, by name
        from lab.ui import visitors as v

        sg_set.focus(v.sg_choices, owner_token, sg_set, api_visibility="private")
    run.focus(lambda: gr.update(choices=records.choices()), None, run)

    def on_load():
        """A new page shows the newest run, or the shipped demo A/B when there is none yet (run.change draws)."""
        return gr.update(choices=records.choices(), value=(records.user_runs() or [w.open_demo()])[0] or None)

    return {"run": run, "load": (on_load, None, run)}
