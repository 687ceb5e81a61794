"""The lab's Gradio UI. ``create_app()`` builds the page; ``launch_options()`` is how ``app.py`` serves it."""

from __future__ import annotations

# Tables that stay readable on a phone: Markdown tables break cells between words, never inside a number or
# letter by letter, and scroll sideways when too wide (the data tables have widths in pixels); charts take the full width of a narrow screen;
# notes in a quieter grey. System fonts throughout: the web font's semibold cut lacks glyphs ("HICRA" drew
# as "HICRᴀ" in bold headings). A component's hint text in a darker grey: Gradio's own (#bbbbc2, 1.9:1 on
# white) vanishes on a projector; #4b5563 is 7.6:1. A dropdown's text stops before its caret (on a phone it
# ran under it), cut with an ellipsis.
CSS = """
.gradio-container, .gradio-container h1, .gradio-container h2, .gradio-container h3, .gradio-container strong,
.gradio-container button {
  font-family: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "DejaVu Sans", Arial,
    sans-serif !important;
}
.lab-table th, .lab-table td { word-break: normal !important; overflow-wrap: normal !important; hyphens: none; }
.lab-table th { min-width: 4em; }
.lab-table { overflow-x: auto; }
.lab-table table { width: 100%; }
.lab-table td, .lab-table th { padding: 4px 8px; }
.lab-note, .lab-note p { color: #6b7280; font-size: 13px; }
.gradio-container .info-text { color: #4b5563 !important; }
.gradio-container .wrap-inner input { padding-right: 22px !important; text-overflow: ellipsis; }
.lab-panel { min-height: 360px; }
@media (max-width: 640px) {
  .panel-row { flex-direction: column !important; }
  .panel-row > div { min-width: 100% !important; }
}
"""


PUBLIC_MAX_UPLOAD = "20mb"  # the largest file a visitor of a public lab may upload (Gradio refuses more)


def launch_options() -> dict:
    """Keyword arguments of ``launch()``: our CSS, and a footer without Gradio's own "Runs" link (its run
    history would be confused with the lab's Runs tab); a public lab caps uploads and hides errors' text
    that our handlers did not write (``show_error`` stays off: only ``gr.Error`` messages reach a client)."""
    from lab.ui.context import settings

    options = {"css": CSS, "footer_links": ["api", "gradio", "settings"]}
    if settings().public:
        options["max_file_size"] = PUBLIC_MAX_UPLOAD
    return options


def create_app():
    """Build the lab's Blocks (not launched)."""
    import gradio as gr

    from lab.ui import compare_tab, guide_tab, inspect_tab, mine_tab, runs_tab, start_tab, train_tab
    from lab.ui.context import settings
    from lab.ui.inputs import LabBlocks

    title = "# HICRA Lab" + (" (public mode: short runs, one at a time)" if settings().public else "")
    with LabBlocks(title="HICRA Lab", analytics_enabled=False) as app:  # typed errors for bad API inputs
        gr.Markdown(title + "\nSee how RL teaches a model to reason: planning vs execution tokens, "
                    "the two phases of training, and HICRA vs GRPO.")
        token = None
        if settings().public:  # runs belong to whoever started them: lab/ui/visitors.py
            from lab.ui import visitors

            if visitors.oauth_enabled():
                gr.LoginButton()
            token = visitors.owner_token()
            app.load(visitors.ensure_token, token, token, api_visibility="private")
        with gr.Tabs(overflow_behavior="wrap") as tabs:  # every tab visible on a phone, too
            with gr.Tab("Start here", id="start"):
                start = start_tab.build()
            with gr.Tab("Inspect", id="inspect"):
                inspect_tab.build()
            with gr.Tab("Mine", id="mine"):
                mine_tab.build(token)
            with gr.Tab("Train", id="train"):
                train = train_tab.build(token)
            with gr.Tab("Compare", id="compare"):
                compare = compare_tab.build()
            with gr.Tab("Runs", id="runs"):
                runs_tab.build(token)
            with gr.Tab("Guide", id="guide"):
                guide = guide_tab.build()
        from training import __version__

        gr.Markdown(f"HICRA Lab {__version__}", elem_id="lab-version", elem_classes=["lab-note"])  # the footer
        fn, inputs, outputs = train["load"]
        app.load(fn, inputs, outputs)
        # The Guide's buttons open the shipped A/B in Train or Compare.
        demo = guide["demo"]
        guide["to_train"].click(lambda: (gr.Tabs(selected="train"), gr.update(value=demo)), None,
                                [tabs, train["run"]])
        start["to_train"].click(lambda: (gr.Tabs(selected="train"), gr.update(value=demo)), None,
                                [tabs, train["run"]])
        start["to_guide"].click(lambda: gr.Tabs(selected="guide"), None, tabs)
        fn, inputs, outputs = compare["refresh"]
        guide["to_compare"].click(lambda: (gr.Tabs(selected="compare"), gr.update(value=[demo])), None,
                                  [tabs, compare["picks"]]).then(fn, inputs, outputs)
    return app
