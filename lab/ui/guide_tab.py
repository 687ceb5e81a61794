"""The Guide tab: the ideas behind the charts, for a teaching session."""

from __future__ import annotations

import gradio as gr

GUIDE = """
## Planning tokens and execution tokens

A reasoning trace mixes two kinds of tokens. **Planning tokens** belong to
*Strategic Grams*, short phrases that steer the solution: "let's round the
second number up", "let's double-check", "that is not right, let's try a
different approach". **Execution tokens** carry it out: `47 * 30 = 1410`.
The **Inspect** tab colours them; the **Mine** tab finds the Strategic
Grams of any corpus, as the paper does (n-grams, embeddings, clusters, and
the clusters that recur across the most solutions).

## Two phases of RL training

Watch the **Train** tab's panels while a run goes:

1. *Procedural consolidation.* Execution tokens become reliable first: in
   the panels "relative perplexity" and "token entropy", the execution curve
   (blue) drops early.
2. *Strategic exploration.* Then the gains come from choosing better plans:
   in the held-out accuracy panel accuracy keeps rising while strategy errors
   (Compare tab, error types) fall. In the paper the semantic entropy of
   planning phrases rises in this phase; on the bundled task, watch whether
   it does - an honest lab shows what happens.

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


def build() -> None:
    gr.Markdown(GUIDE)
