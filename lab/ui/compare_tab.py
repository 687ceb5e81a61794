"""The Compare tab: runs, sweeps or a shipped study side by side, with intervals across seeds.

It opens on the shipped demo study (no training needed), drawn when the app
starts.
"""

from __future__ import annotations

import gradio as gr

from lab.charts import COMPARE_PANELS, MAX_SMOOTHING
from lab.shipped import default_study
from lab.ui import records
from lab.ui import runs_handlers as h
from lab.ui.train_tab import panel_grid


def study_section() -> None:
    """The committed study's summary (computed by its report) and main figures, when it has records."""
    from lab.ui.guide_tab import STUDY, STUDY_FIGURES, study_summary

    summary = study_summary()
    if not summary:
        return
    with gr.Accordion("The committed study: HICRA vs GRPO and its placebo across the task regimes", open=False,
                      elem_id="compare-study"):
        gr.Markdown(summary, elem_classes=["lab-table"])
        with gr.Column():  # one figure a row, at full width: three in a row were unreadable thumbnails
            for name, label in STUDY_FIGURES:
                if (STUDY / f"{name}.png").exists():
                    gr.Image(str(STUDY / f"{name}.png"), label=label, interactive=False)


def build() -> dict:
    study = default_study()
    first = h.compare([study]) if study else None
    with gr.Row():
        picks = gr.Dropdown(records.choices(), value=[study] if study else [], multiselect=True,
                            label="runs, sweeps or shipped studies (demo: … = shipped, read-only)", scale=3,
                            allow_custom_value=True, elem_id="compare-picks")
        threshold = gr.Slider(0.1, 1.0, value=0.6, step=0.05, label="accuracy for 'steps to reach'", scale=1)
        with gr.Column(scale=1, min_width=160):
            button = gr.Button("Compare", variant="primary")
            demo = gr.Button("Open the demo study", size="sm", visible=bool(study), elem_id="compare-open-demo")
    with gr.Row(equal_height=True):
        window = gr.Slider(1, MAX_SMOOTHING, value=10, step=1, label="smoothing (moving average over N steps)",
                           scale=3)
        log_scale = gr.Checkbox(value=False, label="log scale (entropy)", scale=1)
        export = gr.Button("Export chart data (CSV)", scale=1, size="sm", elem_id="compare-export")
    message = gr.Markdown(first[-1] if first else "", elem_id="compare-message")
    export_note = gr.Markdown()
    files = gr.File(label="chart data (one CSV per chart)", file_count="multiple", interactive=False, visible=False)
    plots = panel_grid(COMPARE_PANELS, "compare", first[:len(COMPARE_PANELS)] if first else None)
    table = gr.Markdown(first[-2] if first else "", elem_id="compare-table", elem_classes=["lab-table"])
    outputs = [*plots, table, message]

    def on_export(names, window):
        paths, note = h.export_compare_csv(names, window)
        return gr.update(value=paths or None, visible=bool(paths)), note

    button.click(h.compare, [picks, threshold, window, log_scale], outputs, api_name="compare")
    window.release(h.compare, [picks, threshold, window, log_scale], outputs)
    log_scale.change(h.compare, [picks, threshold, window, log_scale], outputs)
    demo.click(lambda: gr.update(value=[study]), None, picks).then(
        h.compare, [picks, threshold, window, log_scale], outputs)
    export.click(on_export, [picks, window], [files, export_note], api_name="export_compare_csv")
    picks.focus(lambda: gr.update(choices=records.choices()), None, picks)
    study_section()
    return {"picks": picks, "refresh": (h.compare, [picks, threshold, window, log_scale], outputs)}
