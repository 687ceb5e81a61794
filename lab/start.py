"""The "Start here" page's content, as plain data and HTML (no gradio; ``lab.ui.start_tab`` shows it).

Three steps a class can read without a click, each computed from files in
the repository, so the page changes when they do:

1. :func:`highlighted_trace`: one reasoning trace with its planning phrases
   marked by the ``reasoning`` detector and named by function.
2. :func:`credit_example`: six answers to one problem from the shipped A/B's
   samples, their rewards, the GRPO advantages of the group
   (:func:`training.algos.group_advantages`) and HICRA's
   (:func:`training.algos.hicra_advantages`) on the task's planning tokens:
   the one-line difference, token by token.
3. :func:`verdict`: the committed study's primary comparisons, with their
   intervals, in plain words that follow the numbers.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lab.analysis import analyse_text, bundled_tokenizer
from lab.render import legend_html, tokens_html
from training import algos
from training.hierarchy.grams import load_preset
from training.hierarchy.matching import matcher_for
from training.hierarchy.planning_eval import load_traces
from training.hierarchy.tokens import token_mask

ROOT = Path(__file__).resolve().parent.parent
TRACE_FILE = ROOT / "assets" / "planning-eval" / "held-out.txt"
TRACE_ID = "gsm-r1-02"
DEMO = ROOT / "assets" / "demo-runs" / "grpo-vs-hicra"
DEMO_STEP = 20  # mid-training: the group holds right and wrong answers
STUDY_RESULTS = ROOT / "docs" / "study" / "results.json"
ALPHA = 0.2  # the paper's alpha, as in the shipped A/B


# ---------------------------------------------------------------- 1. the trace


def highlighted_trace(path: Path = TRACE_FILE, trace_id: str = TRACE_ID) -> tuple[str, list[tuple[str, str]]]:
    """``(html, [(phrase, function), ...])``: the trace highlighted by the ``reasoning`` preset, and each
    planning phrase it found with the function (tag) the preset gives it, in order of appearance."""
    trace = next(t for t in load_traces(path) if t.meta.get("id") == trace_id)
    sg = load_preset("reasoning")
    analysis = analyse_text(trace.text, sg)
    tag_of = sg.tag_of()
    found = [(trace.text[s:e], tag_of.get(g, "other")) for s, e, g in matcher_for(sg).occurrences(trace.text)]
    body = legend_html(("planning",)) + tokens_html(analysis.text, analysis.offsets, analysis.planning)
    return body, found


# ---------------------------------------------------------------- 2. credit


@dataclass(frozen=True)
class Answer:
    text: str
    correct: bool
    offsets: np.ndarray  # (T, 2) character span of each token
    planning: np.ndarray  # (T,) bool
    grpo: np.ndarray  # (T,) the advantage each token receives under GRPO
    hicra: np.ndarray  # (T,) ... under HICRA


def demo_group(step: int = DEMO_STEP) -> tuple[str, list[tuple[str, bool]]]:
    """The first problem whose six shipped answers at ``step`` (one per arm and seed) hold both right and
    wrong ones: ``(prompt, [(text, correct), ...])``."""
    by_problem: dict[int, list[dict]] = {}
    for run in sorted(p for p in DEMO.iterdir() if p.is_dir()):
        for line in (run / "samples.jsonl").read_text().splitlines():
            s = json.loads(line)
            if s["step"] == step and s.get("sample", 0) == 0:
                by_problem.setdefault(s["problem"], []).append(s)
    for problem in sorted(by_problem):
        group = by_problem[problem]
        if len({s["correct"] for s in group}) == 2:
            return group[0]["prompt"], [(s["text"], bool(s["correct"])) for s in group]
    raise ValueError(f"no shipped problem at step {step} has both right and wrong answers")


def credit_example(alpha: float = ALPHA, step: int = DEMO_STEP) -> tuple[str, list[Answer]]:
    """The group's answers with each token's advantage under GRPO and HICRA (reward 1 if right, else 0;
    mean-centred advantages; planning tokens from the task's own plan phrases)."""
    from training.tasks import get_task

    prompt, group = demo_group(step)
    sg = get_task("multiply-planning").ground_truth_sg_set()
    tok, matcher = bundled_tokenizer(), matcher_for(sg)
    rewards = torch.tensor([1.0 if ok else 0.0 for _, ok in group])
    adv = algos.group_advantages(rewards, len(group))  # (G,)
    answers = []
    for (text, ok), a in zip(group, adv):
        _, offsets, planning = token_mask(text, tok, matcher)
        base = algos.broadcast_to_tokens(a.view(1), torch.ones(1, len(planning), dtype=torch.bool))  # (1, T)
        hicra = algos.hicra_advantages(base, torch.from_numpy(planning).view(1, -1), alpha)  # (1, T)
        answers.append(Answer(text, ok, offsets, planning, base[0].numpy(), hicra[0].numpy()))
    return prompt, answers


def credit_html(answer: Answer, which: str) -> str:
    """The answer's tokens shaded by the advantage they receive (green: pushed up, red: pushed down);
    planning tokens underlined. Hover shows the number."""
    values = answer.grpo if which == "grpo" else answer.hicra
    scale = max(float(np.abs(answer.hicra).max()), 1e-9)
    parts, cursor = [], 0
    for (s, e), v, plan in zip(answer.offsets.tolist(), values.tolist(), answer.planning.tolist()):
        if e <= s or s < cursor:
            continue
        parts.append(html.escape(answer.text[cursor:s]))
        strength = min(1.0, abs(v) / scale)
        rgb = "22,163,74" if v > 0 else "220,38,38"
        underline = "border-bottom:2px solid #b45309;" if plan else ""
        parts.append(f'<span title="advantage {v:+.3f}{" (planning token)" if plan else ""}" '
                     f'style="background:rgba({rgb},{0.12 + 0.5 * strength:.2f});{underline}">'
                     f"{html.escape(answer.text[s:e])}</span>")
        cursor = e
    parts.append(html.escape(answer.text[cursor:]))
    return ('<div style="white-space:pre-wrap;line-height:1.9;font-family:ui-monospace,monospace;font-size:13px">'
            + "".join(parts) + "</div>")


def credit_rows(answers: list[Answer]) -> list[dict]:
    """Per answer: its reward and the mean advantage of its planning and execution tokens under each rule."""
    rows = []
    for i, a in enumerate(answers):
        row = {"answer": i + 1, "correct": a.correct}
        for rule in ("grpo", "hicra"):
            v = getattr(a, rule)
            for role, mask in (("planning", a.planning), ("execution", ~a.planning)):
                row[f"{rule}/{role}"] = float(v[mask].mean()) if mask.any() else float("nan")
        rows.append(row)
    return rows


def credit_figure(answers: list[Answer]):
    """Grouped bars: mean advantage on planning and on execution tokens, GRPO vs HICRA, per answer."""
    from lab import colours as C
    from lab.charts import Figure

    rows = credit_rows(answers)
    xs = [f"answer {r['answer']} ({'right' if r['correct'] else 'wrong'})" for r in rows]
    data = []
    for rule, name in (("grpo", "GRPO"), ("hicra", "HICRA")):
        for role, pattern in (("planning", ""), ("execution", "/")):
            data.append({"type": "bar", "x": xs, "y": [r[f"{rule}/{role}"] for r in rows],
                         "name": f"{name} · {role} tokens", "offsetgroup": f"{rule}-{role}",
                         "marker": {"color": C.arm_colour(rule), "pattern": {"shape": pattern},
                                    "opacity": 1.0 if role == "planning" else 0.55},
                         "hovertemplate": f"{name}, {role} tokens: %{{y:+.3f}}<extra></extra>"})
    layout = {"title": {"text": "Credit per token: GRPO vs HICRA", "x": 0.01, "font": {"size": 14}},
              "barmode": "group", "height": 360, "plot_bgcolor": "#f8fafc",
              "yaxis": {"title": {"text": "advantage per token"}, "zeroline": True, "zerolinecolor": "#111827"},
              "legend": {"orientation": "h", "x": 0, "y": -0.25, "yanchor": "top", "font": {"size": 11}},
              "margin": {"l": 56, "r": 16, "t": 40, "b": 40}}
    return Figure(data, layout, filename="hicra-lab-credit-example")


# ---------------------------------------------------------------- 3. the verdict


def verdict(path: Path = STUDY_RESULTS) -> str:
    """The committed study's HICRA - GRPO primary comparisons, one line per regime, in words the numbers
    support: a difference only where the Holm-adjusted test and the interval agree."""
    from training.tasks import REGIME_LABELS

    if not path.exists():
        return "No study results are committed yet (`python -m training.study --report-only` writes them)."
    res = json.loads(path.read_text())["results"]
    lines, found = [], []
    for regime, r in res["regimes"].items():
        c = r["comparisons"].get("hicra-grpo", {}).get("final_accuracy")
        if not c:
            continue
        d = c["difference"]
        if d["n"] < 2 or not math.isfinite(d["low"]):
            lines.append(f"- {REGIME_LABELS.get(regime, regime)}: {d['n']} seed(s), too few to compare yet.")
            continue
        differs = (d["low"] > 0 or d["high"] < 0) and c.get("p_holm", c.get("p", 1.0)) < 0.05
        found.append(differs)
        what = (f"HICRA {'above' if d['mean'] > 0 else 'below'} GRPO" if differs
                else "no difference detected")
        lines.append(f"- {REGIME_LABELS.get(regime, regime)}: {what}: {d['mean']:+.2f} points "
                     f"[{d['low']:+.2f}, {d['high']:+.2f}], {d['n']} seeds; the study could detect "
                     f"{c['mde']:.1f} points (80% power).")
    if not lines:
        return "The committed study has no HICRA - GRPO comparison yet."
    head = ("HICRA and GRPO differ in final held-out accuracy in some regimes:" if any(found) else
            "On the bundled task the study detected no difference in final held-out accuracy between HICRA and "
            "GRPO in any regime; a difference as large as each line's detectable size would have shown 4 times "
            "in 5:")
    counts = res.get("counts", {})
    runs = sum(n for arms in counts.values() for n in arms.values()) if isinstance(counts, dict) else 0
    steps = json.loads(path.read_text()).get("config", {}).get("steps")
    when = f", measured at step {steps}" if steps else ""
    return (f"**What the lab found** (Study 2: {runs} runs; HICRA - GRPO final held-out accuracy{when}; 95% "
            f"intervals)\n\n{head}\n\n" + "\n".join(lines))
