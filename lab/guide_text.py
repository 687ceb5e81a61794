"""The Guide's words on the bundled example run, computed from its records (no number typed in by hand).

:func:`phases_text` reads one GRPO run's ``metrics.jsonl`` records and
describes its two phases as the paper frames them; every direction
("falls", "rises") follows the numbers, so another run gets other words.
It is one run: the text says what happened in it, not what always happens.
"""

from __future__ import annotations

import math
import os

import numpy as np

EDGE = 15  # steps averaged at each end of a per-step curve

# The documentation pages (docs/*.md, built into a site by mkdocs.yml) that the Guide points to, per
# section: (page, anchor on it, words). tests/test_docs.py checks that each page and anchor exists.
GUIDE_DOCS = {
    "tokens": (("app.md", "inspect", "the Inspect tab"), ("sg-sets.md", "", "Strategic Gram sets"),
               ("mining.md", "", "mining them")),
    "phases": (("task.md", "headroom", "the example run and the command that made it"),),
    "regimes": (("task.md", "task-regimes", "the task regimes"),
                ("studies.md", "the-two-phases-under-grpo", "the two phases under GRPO")),
    "hicra": (("core.md", "grpo-and-hicra", "the GRPO / HICRA functions"), ("app.md", "compare", "the Compare tab")),
    "study": (("studies.md", "", "the studies"), ("study.md", "", "Study 2, every number")),
    "start": (("app.md", "start-here", "this page"), ("core.md", "grpo-and-hicra", "the GRPO / HICRA functions"),
              ("studies.md", "", "the studies"), ("planning-detector.md", "", "the planning detector")),
}
DOCS_URL = "HICRA_LAB_DOCS_URL"  # environment variable: the address of the built site, if it is published


def doc_link(page: str, anchor: str = "", words: str = "", base: str | None = None) -> str:
    """Markdown for a docs page: a link into the built site when ``HICRA_LAB_DOCS_URL`` (or ``base``) gives
    its address (mkdocs' page URLs: ``task.md`` -> ``task/``), else the page's path in the repository, which
    a reader of the app can open in any clone.

    >>> doc_link("task.md", "headroom", "the example run", base="")
    'the example run (`docs/task.md#headroom`)'
    >>> doc_link("task.md", "headroom", "the example run", base="https://example.org/hicra/")
    '[the example run](https://example.org/hicra/task/#headroom)'
    """
    base = os.environ.get(DOCS_URL, "") if base is None else base
    words = words or page
    if not base:
        return f"{words} (`docs/{page}{'#' + anchor if anchor else ''}`)"
    path = "" if page == "index.md" else page.removesuffix(".md") + "/"
    return f"[{words}]({base.rstrip('/')}/{path}{'#' + anchor if anchor else ''})"


def read_more(section: str, base: str | None = None) -> str:
    """One line pointing to the pages of a Guide section, e.g. "More in the docs: a; b." """
    return "More in the docs: " + "; ".join(doc_link(*ref, base=base) for ref in GUIDE_DOCS[section]) + "."


def _mean(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else float("nan")


def _move(a: float, b: float, digits: int, unit: str = "") -> str:
    if f"{a:.{digits}f}" == f"{b:.{digits}f}":
        return f"stays at {a:.{digits}f}{unit}"
    return f"{'falls' if b < a else 'rises'} from {a:.{digits}f} to {b:.{digits}f}{unit}"


def phases_text(records: list[dict]) -> str | None:
    """Markdown for the Guide's two phases, from one run's records (None when they lack what it needs)."""
    steps = [r for r in records if r.get("kind") == "step"]
    evals = [r for r in records if r.get("kind") == "eval"]
    if len(steps) < 2 * EDGE or len(evals) < 2:
        return None
    first, last = steps[:EDGE], steps[-EDGE:]
    middle_at = min(100, len(steps) // 2)
    middle = steps[max(0, middle_at - EDGE):middle_at]
    ex = (_mean(first, "entropy/execution"), _mean(last, "entropy/execution"))
    pl = (_mean(first, "entropy/planning"), _mean(middle, "entropy/planning"), _mean(last, "entropy/planning"))
    sem = (_mean(first, "semantic/entropy_bits"), _mean(last, "semantic/entropy_bits"))
    if any(np.isnan(v) for v in (*ex, *pl, *sem)):
        return None
    e0, e1 = evals[0], evals[-1]
    samples = sum(v for k, v in e0.items() if k.startswith("eval/errors/"))
    acc = (e0["eval/accuracy"], e1["eval/accuracy"])
    phase1 = (f"1. *Procedural consolidation.* In the paper, execution tokens become reliable first. Here their "
              f"token entropy (teal) {_move(*ex, 3, ' nats')} (mean of the first and last {EDGE} steps), while "
              f"the planning tokens' entropy (amber) {_move(pl[0], pl[1], 3)} over the first {middle_at} "
              f"steps and ends at {pl[2]:.3f}.")
    strategy = ""
    if "eval/errors/strategy" in e0 and "eval/errors/strategy" in e1:
        strategy = (f"; strategy errors go from {e0['eval/errors/strategy']} to {e1['eval/errors/strategy']} in "
                    f"{samples} held-out samples")
    expected = "as the paper sees it" if sem[1] > sem[0] else "where the paper sees it rise"
    phase2 = (f"2. *Strategic exploration.* Held-out accuracy {_move(*acc, 3)} (steps {e0['step']} to "
              f"{e1['step']}){strategy}. The semantic entropy of planning phrases {_move(*sem, 1, ' bits')}, "
              f"{expected}; the lab shows it as it is.")
    return phase1 + "\n" + phase2


def _pct_move(a: float, b: float) -> str:
    """'rises from 1% to 24%' (percent of a share), in the words of :func:`_move`."""
    if f"{100 * a:.0f}" == f"{100 * b:.0f}":
        return f"stays at {100 * a:.0f}%"
    return f"{'falls' if b < a else 'rises'} from {100 * a:.0f}% to {100 * b:.0f}%"


def error_shift_text(groups: dict[str, dict[int, list[dict]]]) -> str | None:
    """Why execution errors rise while accuracy rises, in words that follow the records: the held-out shares
    of strategy and execution errors and of fitting plans at the first and last evaluation, over every arm and
    seed (None when the records lack them)."""
    first, last = [], []
    for by_seed in groups.values():
        for recs in by_seed.values():
            evals = [r for r in recs if r.get("kind") == "eval" and "eval/errors/execution" in r]
            if len(evals) >= 2:
                first.append(evals[0])
                last.append(evals[-1])
    if not first:
        return None

    def share(rows: list[dict], key: str) -> float:
        total = sum(sum(v for k, v in r.items() if k.startswith("eval/errors/")) for r in rows)
        return sum(r.get(key, 0) for r in rows) / total if total else float("nan")

    def mean(rows: list[dict], key: str) -> float:
        vals = [r[key] for r in rows if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else float("nan")

    strat = (share(first, "eval/errors/strategy"), share(last, "eval/errors/strategy"))
    execu = (share(first, "eval/errors/execution"), share(last, "eval/errors/execution"))
    fit = (mean(first, "eval/plan/fitted"), mean(last, "eval/plan/fitted"))
    acc = (mean(first, "eval/accuracy"), mean(last, "eval/accuracy"))
    steps = (first[0]["step"], last[0]["step"])
    text = (f"In the shipped A/B ({len(first)} runs), from step {steps[0]} to {steps[1]} the share of held-out "
            f"samples with a strategy error {_pct_move(*strat)} and the share with an execution error "
            f"{_pct_move(*execu)}; held-out accuracy {_pct_move(*acc)}")
    if all(math.isfinite(v) for v in fit):
        text += f", and the share of samples whose plan fits the problem {_pct_move(*fit)}"
    text += "."
    if strat[1] < strat[0] and execu[1] > execu[0] and fit[1] > fit[0]:
        text += (" A plan that fits but slips in its arithmetic counts as an execution error: the models give up "
                 "the shortcut, which fails wherever it does not fit, for general plans that fit every problem "
                 "but take more steps that can slip, so strategy errors turn partly into execution errors.")
    return text
