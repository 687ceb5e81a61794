"""The Guide tab: the ideas behind the charts, for a teaching session."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE_RUN = ROOT / "assets" / "example-run"
STUDY = ROOT / "docs" / "study"

TOKENS = """
## Planning tokens and execution tokens

A reasoning trace mixes two kinds of tokens. **Planning tokens** belong to
*Strategic Grams*, short phrases that steer the solution: "let's round the
second number up", "let's double-check", "that is not right, let's try a
different approach". **Execution tokens** carry it out: `47 * 30 = 1410`.
The **Inspect** tab colours them (yellow: planning; blue: high-entropy;
purple: both): most planning tokens are high-entropy "forks", but most
high-entropy tokens are not planning tokens - entropy alone does not find
the strategy. The **Mine** tab finds the Strategic Grams of any corpus, as
the paper does (n-grams, embeddings, clusters, and the clusters that recur
across the most solutions).
"""

PHASES = """
## Two phases of RL training

The chart below is a real GRPO run of the bundled tiny model on a laptop CPU
(`assets/example-run`, 250 steps; the command is in the README). Read it as
the paper does:

1. *Procedural consolidation.* Execution tokens become reliable first: their
   token entropy (blue) falls from the first steps (0.041 to 0.026 nats over
   the run), while the planning tokens' entropy and relative perplexity
   (orange) hardly move for the first hundred steps and only then fall.
2. *Strategic exploration.* Accuracy keeps rising as the model changes its
   plans: strategy errors drop from 210 to 1 in 800 held-out samples
   (`python -m training summary`). The paper sees the semantic entropy of
   planning phrases *rise* in this phase; in this run it *falls* (4.1 to 2.9
   bits) - the model settles on the plans that work - a difference the lab
   shows as it is.
"""

HICRA = """
## HICRA

GRPO gives every token of a response the same advantage `A` (the reward
minus its group's mean). HICRA gives planning tokens more:
`A' = A + alpha * |A|`. Planning tokens of successful responses get
`(1 + alpha)` times the credit; those of failed ones `(1 - alpha)` times the
blame. With `alpha = 0` it is GRPO exactly.

Try it: in **Train**, pick "GRPO vs HICRA (fair A/B)" with seeds `0,1,2`.
Both algorithms train side by side on one base model, with the same prompts
and the same random numbers, so every difference in the curves comes from
the credit assignment. **Compare** then shows the mean and a 95% interval
across seeds, and the HICRA - GRPO difference per seed: an interval that
includes zero means no measurable difference.
"""


def example_figure():
    """The training-dynamics panels of the bundled example run (None if it is missing)."""
    from lab.charts import run_figure
    from training.runs import read_jsonl

    records = read_jsonl(EXAMPLE_RUN / "metrics.jsonl")
    return run_figure(records, title="GRPO on the bundled task (assets/example-run)") if records else None


def study_summary(folder: Path = STUDY) -> str | None:
    """What the committed study found, in a few lines read from its results (None if there is none)."""
    import json

    from training.study.report import ci_text, verdict

    try:
        res = json.loads((folder / "results.json").read_text())
        grpo, hicra = res["groups"]["grpo"], res["groups"]["hicra"]
    except (OSError, ValueError, KeyError):
        return None
    d = hicra["final_minus_grpo"]
    return (
        "## What the study found\n\n"
        f"`python -m training.study` trained GRPO and HICRA on the bundled task with {d['n']} seeds each, "
        "plus ablations (the full report with every number and the command is `docs/study.md` in the "
        "repository). Final held-out accuracy: GRPO "
        f"{ci_text(grpo['final_accuracy'], unit='%', signed=False)}, HICRA "
        f"{ci_text(hicra['final_accuracy'], unit='%', signed=False)}; HICRA minus GRPO, paired by seed: "
        f"{ci_text(d)}, **{verdict(d)}**.")


def build() -> None:
    gr.Markdown(TOKENS)
    gr.Markdown(PHASES)
    gr.Plot(example_figure(), label="two phases, in a real run", elem_id="guide-plot")
    gr.Markdown(HICRA)
    summary = study_summary()
    if summary:
        gr.Markdown(summary)
        gr.Image(str(STUDY / "accuracy.png"), label="held-out accuracy, GRPO vs HICRA (docs/study)",
                 show_label=False, interactive=False, elem_id="guide-study")
