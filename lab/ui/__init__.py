"""The lab's Gradio UI. ``create_app()`` builds the page; launching is separate."""

from __future__ import annotations


def create_app():
    """Build the lab's Blocks (not launched)."""
    import gradio as gr

    from lab.ui import inspect_tab

    with gr.Blocks(title="HICRA Lab", analytics_enabled=False) as app:
        gr.Markdown("# HICRA Lab\nSee planning vs execution tokens in LLM reasoning.")
        with gr.Tab("Inspect"):
            inspect_tab.build()
    return app
