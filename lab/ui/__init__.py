"""The lab's Gradio UI. ``create_app()`` builds the page; launching is separate."""

from __future__ import annotations


def create_app():
    """Build the lab's Blocks (not launched)."""
    import gradio as gr

    from lab.ui import compare_tab, guide_tab, inspect_tab, mine_tab, runs_tab, train_tab
    from lab.ui.context import settings

    title = "# HICRA Lab" + (" (public mode: short runs, one at a time)" if settings().public else "")
    with gr.Blocks(title="HICRA Lab", analytics_enabled=False) as app:
        gr.Markdown(title + "\nSee how RL teaches a model to reason: planning vs execution tokens, "
                    "the two phases of training, and HICRA vs GRPO.")
        with gr.Tab("Inspect"):
            inspect_tab.build()
        with gr.Tab("Mine"):
            mine_tab.build()
        token = None
        if settings().public:  # runs belong to whoever started them: lab/ui/visitors.py
            from lab.ui import visitors

            if visitors.oauth_enabled():
                gr.LoginButton()
            token = visitors.owner_token()
            app.load(visitors.ensure_token, token, token, api_visibility="private")
        with gr.Tab("Train"):
            train_tab.build(token)
        with gr.Tab("Compare"):
            compare_tab.build()
        with gr.Tab("Runs"):
            runs_tab.build(token)
        with gr.Tab("Guide"):
            guide_tab.build()
    return app
