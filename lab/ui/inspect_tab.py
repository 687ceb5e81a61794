"""The Inspect tab: a model's response token by token, or any pasted text."""

from __future__ import annotations

import gradio as gr

from training.hierarchy.detector import DETECTORS
from training.hierarchy.grams import list_presets
from lab.autoset import AUTO
from training.hierarchy.guidance import detector_guidance
from lab.ui import handlers, model_handlers

EXAMPLE = (
    "We need 47 * 23. Let's break this down: 47 * 20 = 940 and 47 * 3 = 141, "
    "so 940 + 141 = 1081.\nWait, let's double-check: 1081 / 23 = 47. Yes. "
    "Alternatively, round 47 up to 50: 50 * 23 = 1150, then subtract 3 * 23 = 69, "
    "which gives 1081. So the answer is 1081."
)
PROMPT = "Q: 47 * 28 = ?\nA:"
QUESTION = "Q: 47 * 23 = ?\nA:"

DETECTOR_CHOICES = [d for d in DETECTORS if d != "sg"]  # the default planning detector, then 1.2 (opt-in)


def build() -> None:
    presets = list_presets()
    with gr.Row():
        model = gr.Textbox(value="tiny", label="model ('tiny' = bundled; or a hub name)", scale=2)
        checkpoint = gr.Dropdown(model_handlers.checkpoint_choices(), value=None, allow_custom_value=True,
                                 label="…or a run's checkpoint (its adapter on its model)", scale=2)
    guide = gr.Markdown(detector_guidance("tiny"), elem_classes=["lab-note"], elem_id="inspect-detector-note")
    model.change(detector_guidance, model, guide, api_visibility="private")
    with gr.Tabs():
        with gr.Tab("Generate with a model"):
            with gr.Row():
                prompt = gr.Textbox(value=PROMPT, label="prompt", lines=2, scale=3)
                with gr.Column(scale=1):
                    gen_sg = gr.Dropdown(["ground-truth"] + presets + DETECTOR_CHOICES, value="ground-truth",
                                         label="SG set")
                    temperature = gr.Slider(0.0, 1.5, value=1.0, step=0.1, label="temperature")
                    seed = gr.Number(value=0, precision=0, label="seed")
            generate = gr.Button("Generate", variant="primary")
        with gr.Tab("Paste text"):
            with gr.Row():
                with gr.Column(scale=3):
                    question = gr.Textbox(value=QUESTION, label="question (the prompt the text answers; the model "
                                          "scores the text after it)", lines=1)
                    text = gr.Textbox(label="Reasoning text", lines=8, max_lines=30, value=EXAMPLE,
                                      placeholder="Paste a model's step-by-step solution here")
                with gr.Column(scale=2):
                    preset = gr.Dropdown([AUTO] + presets + DETECTOR_CHOICES, value=AUTO,
                                         label="Strategic Gram set (or the planning detector)",
                                         info="auto: the planning detector for natural-language text, "
                                              "'math-compact' for terse arithmetic")
                    sg_file = gr.File(label="…or upload an SG set (JSON)", file_types=[".json"], type="filepath")
                    button = gr.Button("Highlight planning tokens", variant="primary")
                    score = gr.Button("Score with the model (entropies, probabilities)")
                    gr.Markdown("Scoring uses the model and checkpoint chosen at the top of this tab.",
                                elem_classes=["lab-note"])
    message = gr.Markdown(elem_id="inspect-message")
    with gr.Row():
        with gr.Column(scale=3):
            tokens = gr.HTML(elem_id="inspect-tokens")
        with gr.Column(scale=2):
            stats = gr.Markdown(elem_id="inspect-stats", elem_classes=["lab-table"])
    button.click(handlers.highlight, [text, preset, sg_file], [tokens, stats, message], api_name="highlight")
    generate.click(model_handlers.generate, [model, checkpoint, prompt, temperature, gen_sg, seed],
                   [tokens, stats, message], api_name="generate")
    score.click(model_handlers.score_text, [model, checkpoint, text, preset, question], [tokens, stats, message],
                api_name="score_text")
    checkpoint.focus(lambda: gr.update(choices=model_handlers.checkpoint_choices()), None, checkpoint)
