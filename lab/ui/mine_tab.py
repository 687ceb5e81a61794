"""The Mine tab: Strategic Grams from a corpus, with the clusters to look at."""

from __future__ import annotations

import gradio as gr

from lab.ui import mine_handlers as h


def build() -> dict:
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

    button.click(on_mine, [upload, run, n_min, n_max, k, pct], [message, table, plot, sg_file], api_name="mine")
    sample.click(lambda: gr.update(choices=h.sample_sources(), value=h.default_corpus()), None, run)
    use.click(h.use_in_runs, sg_file, use_msg, api_name="use_sg_set")
    run.focus(lambda: gr.update(choices=h.sample_sources()), None, run)
    return {"source": run}
