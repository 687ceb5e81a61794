"""The Mine tab: Strategic Grams from a corpus, with the clusters to look at."""

from __future__ import annotations

import gradio as gr

from lab.ui import mine_handlers as h
from lab.ui.model_handlers import checkpoint_choices as model_checkpoints


def build(owner_token=None) -> dict:
    """``owner_token``: in a public lab, the page's ``gr.BrowserState``: 'Use in a new run' then saves the
    set into the visitor's own folder (lab/ui/visitors.py)."""
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(label="corpus: .jsonl (text, correct) or .txt (one solution per line)",
                             file_types=[".jsonl", ".txt", ".json"], type="filepath", elem_id="mine-upload")
            with gr.Row(equal_height=True):
                run = gr.Dropdown(h.sample_sources(), label="…or a run's samples, or a shipped corpus (demo …)",
                                  value=None, allow_custom_value=True, scale=3, elem_id="mine-source")
                sample = gr.Button("Use the sample corpus", size="sm", scale=1, elem_id="mine-sample",
                                   visible=bool(h.default_corpus()))
        with gr.Column(scale=2):
            with gr.Row():
                n_min = gr.Slider(1, 8, value=3, step=1, label="shortest n-gram")
                n_max = gr.Slider(1, 8, value=5, step=1, label="longest n-gram")
            with gr.Row():
                k = gr.Slider(2, 300, value=100, step=1, label="clusters (k)")
                pct = gr.Slider(1, 100, value=20, step=1, label="keep top % of clusters by CDF",
                                info="CDF: how many solutions contain the cluster")
            button = gr.Button("Mine", variant="primary")
    with gr.Accordion("…or sample a corpus from a model (bundled, hub or a run's checkpoint) and mine it",
                      open=False, elem_id="mine-from-model"):
        with gr.Row():
            model = gr.Textbox(value="tiny", label="model ('tiny' = the task's bundled model; or a hub name)")
            checkpoint = gr.Dropdown(model_checkpoints(), value=None, label="checkpoint of a run (optional)",
                                     allow_custom_value=True)
            task = gr.Dropdown(list(h.SAMPLE_TASKS), value="multiply-planning", label="task (training split)",
                               allow_custom_value=True)
        with gr.Row():
            n = gr.Number(value=256, step=1, label="responses to sample")
            temperature = gr.Number(value=1.0, step=0.1, label="temperature (0-2]")
            sample_mine = gr.Button("Sample and mine", variant="primary", elem_id="mine-sample-model")
        corpus_file = gr.File(label="sampled corpus (.jsonl: text, correct, problem)", interactive=False)
    gr.Markdown(h.CDF_HELP, elem_classes=["lab-note"])
    message = gr.Markdown(elem_id="mine-message")
    with gr.Row():
        with gr.Column(min_width=320):
            table = gr.Dataframe(headers=h.CLUSTER_COLUMNS, label="clusters by CDF", interactive=False, wrap=True,
                                 column_widths=["80px", "130px", "60px", "90px", "420px"],  # see runs_tab
                                 elem_id="mine-table")
        with gr.Column(min_width=320):
            plot = gr.Plot(label="embeddings", show_label=False)
    with gr.Row():
        sg_file = gr.File(label="SG set (download)", interactive=False)
        use = gr.Button("Use in a new run")
    use_msg = gr.Markdown()

    def on_mine(upload, run, n_min, n_max, k, pct, progress=gr.Progress()):
        return h.run_mining(upload, run, n_min, n_max, k, pct, progress=lambda f, m: progress(f, desc=m))

    def on_sample_mine(model, checkpoint, task, n, temperature, n_min, n_max, k, pct, progress=gr.Progress()):
        return h.mine_from_model(model, checkpoint, task, n, temperature, n_min, n_max, k, pct,
                                 progress=lambda f, m: progress(f, desc=m))

    sample_mine.click(on_sample_mine, [model, checkpoint, task, n, temperature, n_min, n_max, k, pct],
                      [message, table, plot, sg_file, corpus_file], api_name="mine_from_model")
    checkpoint.focus(lambda: gr.update(choices=model_checkpoints()), None, checkpoint)
    button.click(on_mine, [upload, run, n_min, n_max, k, pct], [message, table, plot, sg_file], api_name="mine")
    sample.click(lambda: gr.update(choices=h.sample_sources(), value=h.default_corpus()), None, run)
    if owner_token is None:
        def use_sg_set(sg_file):
            return h.use_in_runs(sg_file)

        use.click(use_sg_set, sg_file, use_msg, api_name="use_sg_set")
    else:
        from lab.ui import visitors as v

        use.click(v.use_sg_set, [sg_file, owner_token], use_msg, api_name="use_sg_set")
    run.focus(lambda: gr.update(choices=h.sample_sources()), None, run)
    return {"source": run}
