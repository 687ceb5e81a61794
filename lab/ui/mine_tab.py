"""The Mine tab: Strategic Grams from a corpus, with the clusters to look at."""

from __future__ import annotations

import gradio as gr

from lab.ui import mine_handlers as h


def build() -> None:
    with gr.Row():
        with gr.Column(scale=2):
            upload = gr.File(label="corpus: .jsonl (text, correct) or .txt (one solution per line)",
                             file_types=[".jsonl", ".txt", ".json"], type="filepath", elem_id="mine-upload")
            run = gr.Dropdown(h.sample_sources(), label="…or a run's samples", value=None, allow_custom_value=True)
        with gr.Column(scale=2):
            with gr.Row():
                n_min = gr.Slider(1, 8, value=3, step=1, label="shortest n-gram")
                n_max = gr.Slider(1, 8, value=5, step=1, label="longest n-gram")
            with gr.Row():
                k = gr.Slider(2, 300, value=100, step=1, label="clusters (k)")
                pct = gr.Slider(1, 100, value=20, step=1, label="keep top % of clusters by CDF")
            button = gr.Button("Mine", variant="primary")
    message = gr.Markdown(elem_id="mine-message")
    with gr.Row():
        table = gr.Dataframe(headers=h.CLUSTER_COLUMNS, label="clusters by CDF", interactive=False, wrap=True)
        plot = gr.Plot(label="embeddings")
    with gr.Row():
        sg_file = gr.File(label="SG set (download)", interactive=False)
        use = gr.Button("Use in a new run")
    use_msg = gr.Markdown()

    def on_mine(upload, run, n_min, n_max, k, pct, progress=gr.Progress()):
        return h.run_mining(upload, run, n_min, n_max, k, pct, progress=lambda f, m: progress(f, desc=m))

    button.click(on_mine, [upload, run, n_min, n_max, k, pct], [message, table, plot, sg_file], api_name="mine")
    use.click(h.use_in_runs, sg_file, use_msg, api_name="use_sg_set")
    run.focus(lambda: gr.update(choices=h.sample_sources()), None, run)
