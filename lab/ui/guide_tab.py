"""The Guide tab: the ideas behind the charts, for a teaching session."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

ROOT = Path(__file__).resolve().parent.parent.parent
EXAMPLE_RUN = ROOT / "assets" / "example-run"
STUDY = ROOT / "docs" / "study"
PHASES_DIR = ROOT / "docs" / "phases"
STUDY_FIGURES = (("accuracy", "held-out accuracy per regime"),  # the committed study's figures, main first
                 ("boundary", "HICRA - GRPO across execution reliability"),
                 ("alpha", "the alpha sweep (carry-safe regime)"))

TOKENS = """
## Planning tokens and execution tokens

A reasoning trace mixes two kinds of tokens. **Planning tokens** belong to
*Strategic Grams*, short phrases that steer the solution: "let's round the
second number up", "let's double-check", "that is not right, let's try a
different approach". **Execution tokens** carry it out: `47 * 30 = 1410`.
The **Inspect** tab colours them with the legend used everywhere in the lab
(below): most planning tokens are high-entropy "forks", but most
high-entropy tokens are not planning tokens - entropy alone does not find
the strategy. The **Mine** tab finds the Strategic Grams of any corpus, as
the paper does (n-grams, embeddings, clusters, and the clusters that recur
across the most solutions).
"""

PHASES = """
## Two phases of RL training

The charts below are a real GRPO run of the bundled tiny model on a laptop
CPU (`assets/example-run`, 250 steps; the command is in the docs, below). Read
them as the paper does (the numbers are computed from the run's records):
"""

ONE_RUN = ("This is one run, with no interval: an illustration of what to look at, not evidence that the "
           "phases happen. Whether they show across seeds, on measures named before running, is what the phases "
           "study further down tests, regime by regime; where its verdict differs from this run's story, the "
           "study's holds.")

REGIMES = """
## Task regimes: where each phase can show

The example run above is the *execution-bound* task (`multiply`): hard
products fail half the time, and its base policy already uses every plan, so
the plan repertoire can only narrow. The lab ships two more regimes of the
same multiplication task, each with its own bundled model (presets
`tiny-planning`, `tiny-intermediate`, `tiny-execution`; tasks
`multiply-planning`, `multiply-intermediate`, `multiply-execution`):

- **carry-safe** (first called planning-bound): the base model never drops a
  carry, and it habitually takes a *shortcut* plan that looks applicable but
  silently gives a wrong answer where it does not fit the problem. Most
  failures are strategy failures, and the plans that fit are rare in the
  base policy: RL has to widen the plan repertoire - the paper's second
  phase. But the model runs the general plans far less reliably than the
  shortcut (forced to use one, it is right on 68-74% of samples, against
  99.6% for the shortcut where it fits: `assets/forced-plans.md`), so
  choosing a plan is not the only thing to learn.
- **15%-carry-error** and **50%-carry-error** (first called intermediate and
  execution-heavy): the same, with the hard step failing 15% and 50% of the
  time, so the paper's boundary condition (HICRA helps once execution is
  reliable) can be tested as a trend.

A failure after a plan that does not fit the problem is a *strategy* error
whatever happened next; the Train tab's plan panels show the plan shares
(stacked), the share of responses whose plan fits, verification and
backtracking, and the entropy at the digits a step computes, where phase 1
lives.
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
the credit assignment (GRPO is drawn in blue, HICRA in red, in every chart).
**Compare** then shows the mean and a 95% interval across seeds, and the
HICRA - GRPO difference paired by seed, with final held-out accuracy as its
one primary comparison (the other rows are Holm-corrected): an interval that
includes zero means no difference detected, and one seed is too few to
compare. No time to train? The lab ships such an A/B on the
carry-safe regime (60 steps, 3 seeds, recorded on a CPU): open it below.
"""


def example_figures() -> list:
    """The training-dynamics panels of the bundled example run (empty if it is missing)."""
    from lab.charts import GUIDE_PANELS, figures
    from training.runs import read_jsonl

    records = read_jsonl(EXAMPLE_RUN / "metrics.jsonl")
    return figures(GUIDE_PANELS, {"grpo": {0: records}}, name="example-run") if records else []


def example_phases() -> str | None:
    """The example run's two phases in words computed from its records (None if it is missing)."""
    from lab.guide_text import phases_text
    from training.runs import read_jsonl

    return phases_text(read_jsonl(EXAMPLE_RUN / "metrics.jsonl"))


def study_summary(folder: Path = STUDY) -> str | None:
    """What the committed study found so far, as its report computes it (None before it has records)."""
    import json

    from training.study.report import summary
    from training.study.sweep import StudyConfig

    try:
        data = json.loads((folder / "results.json").read_text())
        res = data["results"]
        cfg = StudyConfig(**data["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not res.get("counts"):
        return None
    from lab.guide_text import doc_link, read_more

    return ("## What the study has found so far\n\n`python -m training.study` (the full page with every number is "
            f"{doc_link('study.md', words='Study 2')}):\n\n" + summary(res, cfg) + "\n\n" + read_more("study"))


def phases_summary(folder: Path = PHASES_DIR) -> str | None:
    """The computed verdicts of ``python -m training.study.phases`` per regime (None before it has run)."""
    import json

    from training.study.phases import verdicts
    from training.tasks import REGIME_LABELS

    try:
        results = json.loads((folder / "results.json").read_text())["results"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    parts = []
    for task, a in results.items():
        try:
            parts.append(f"**{REGIME_LABELS.get(task, task)}** (`{task}`, GRPO, {len(a['seeds'])} seeds): "
                         + " ".join(verdicts(a)))
        except (KeyError, TypeError):
            continue
    if not parts:
        return None
    from lab.guide_text import doc_link

    return (f"What GRPO did in each regime (`python -m training.study.phases`; the page is "
            f"{doc_link('phases.md', words='the two phases under GRPO')}):\n\n" + "\n\n".join(parts))


def build() -> dict:
    from lab.charts import GUIDE_PANELS
    from lab.guide_text import error_shift_text, read_more
    from lab.render import legend_html
    from lab.ui import records
    from lab.ui.train_tab import panel_grid
    from lab.ui.watch_handlers import open_demo

    gr.Markdown(TOKENS + "\n" + read_more("tokens"))
    gr.HTML(legend_html(("planning", "high", "both", "execution")), elem_id="guide-legend")
    gr.Markdown(PHASES + "\n" + (example_phases() or "") + "\n\n" + ONE_RUN + "\n\n" + read_more("phases"))
    figs = example_figures()
    if figs:
        with gr.Column(elem_id="guide-plot"):
            panel_grid(GUIDE_PANELS, "guide", figs)
    gr.Markdown(REGIMES + "\n" + read_more("regimes"))
    phases = phases_summary()
    if phases:
        gr.Markdown(phases, elem_id="guide-phases")
        png = PHASES_DIR / "multiply-planning.png"
        if png.exists():
            gr.Image(str(png), label="the phases under GRPO (carry-safe regime)", show_label=False, interactive=False)
    demo = open_demo()
    shift = error_shift_text(records.arm_records(demo)) if demo else None
    gr.Markdown(HICRA + ("\n" + shift if shift else "") + "\n\n" + read_more("hicra"))
    with gr.Row(visible=bool(demo)):
        to_train = gr.Button("Open the demo A/B in Train", elem_id="guide-open-train")
        to_compare = gr.Button("Open the demo study in Compare", elem_id="guide-open-compare")
    summary = study_summary()
    if summary:
        gr.Markdown(summary)
        with gr.Column(elem_id="guide-study"):
            for name, label in STUDY_FIGURES[:2]:
                if (STUDY / f"{name}.png").exists():
                    gr.Image(str(STUDY / f"{name}.png"), label=label, show_label=False, interactive=False)
    return {"to_train": to_train, "to_compare": to_compare, "demo": demo}
