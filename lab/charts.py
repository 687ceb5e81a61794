"""Plotly figures from run records (``metrics.jsonl``); no gradio here.

Panels follow the paper's layout: relative perplexity and token entropy of
planning vs execution tokens, semantic entropy (vs the "other grams"
baseline), accuracy with response length; plus reward, KL and clip fraction.
Every figure carries a fixed ``uirevision`` so a zoom survives a refresh.
"""

from __future__ import annotations

from typing import Iterable

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.stats import mean_ci

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]
ROLE = {"planning": "#d97706", "execution": "#2563eb"}


def _series(records: Iterable[dict], key: str, kind: str = "step") -> tuple[list, list]:
    xs, ys = [], []
    for r in records:
        if r.get("kind") == kind and r.get(key) is not None:
            xs.append(r["step"])
            ys.append(r[key])
    return xs, ys


def smooth(ys: list[float], window: int) -> list[float]:
    """Trailing moving average (the raw per-step values are noisy)."""
    out, acc = [], []
    for y in ys:
        acc.append(y)
        if len(acc) > window:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def run_figure(records: list[dict], title: str = "", window: int = 10) -> go.Figure:
    """The training-dynamics panels of one run."""
    fig = make_subplots(rows=2, cols=3, subplot_titles=(
        "relative perplexity (vs step 0)", "token entropy (nats)", "semantic entropy (bits)",
        "accuracy and response length", "reward", "KL to base and clip fraction"),
        specs=[[{}, {}, {}], [{"secondary_y": True}, {}, {"secondary_y": True}]])
    for role in ("planning", "execution"):
        for col, key in ((1, f"ppl_rel/{role}"), (2, f"entropy/{role}")):
            x, y = _series(records, key)
            fig.add_trace(go.Scatter(x=x, y=smooth(y, window), name=f"{role} tokens", legendgroup=role,
                                     showlegend=col == 1, line={"color": ROLE[role]}), row=1, col=col)
    for key, name, color in (("semantic/entropy_bits", "Strategic Grams", ROLE["planning"]),
                             ("semantic/other_conditional_bits", "other grams (conditional)", "#6b7280")):
        x, y = _series(records, key)
        fig.add_trace(go.Scatter(x=x, y=smooth(y, window), name=name, line={"color": color}), row=1, col=3)
    x, y = _series(records, "eval/accuracy", kind="eval")
    fig.add_trace(go.Scatter(x=x, y=y, name="held-out accuracy", mode="lines+markers",
                             line={"color": "#16a34a"}), row=2, col=1)
    x, y = _series(records, "acc/batch")
    fig.add_trace(go.Scatter(x=x, y=smooth(y, window), name="batch accuracy", line={"color": "#86efac"}),
                  row=2, col=1)
    x, y = _series(records, "len/mean")
    fig.add_trace(go.Scatter(x=x, y=smooth(y, window), name="response length", line={"color": "#9ca3af",
                             "dash": "dot"}), row=2, col=1, secondary_y=True)
    x, y = _series(records, "reward/mean")
    fig.add_trace(go.Scatter(x=x, y=smooth(y, window), name="reward", line={"color": "#0891b2"}), row=2, col=2)
    x, y = _series(records, "kl/k3")
    fig.add_trace(go.Scatter(x=x, y=smooth(y, window), name="KL (k3)", line={"color": "#9333ea"}), row=2, col=3)
    x, y = _series(records, "clip/fraction")
    fig.add_trace(go.Scatter(x=x, y=smooth(y, window), name="clip fraction", line={"color": "#ea580c",
                             "dash": "dot"}), row=2, col=3, secondary_y=True)
    fig.update_layout(title=title, height=620, uirevision="keep", margin={"l": 40, "r": 20, "t": 60, "b": 40},
                      legend={"orientation": "h", "y": -0.08})
    for col in (1, 2, 3):
        fig.update_xaxes(title_text="step", row=2, col=col)
    return fig


def compare_figure(groups: dict[str, dict[int, list[dict]]], key: str = "eval/accuracy",
                   kind: str = "eval", title: str = "") -> go.Figure:
    """Mean across seeds with a 95% band, one colour per algorithm.

    Args:
        groups: algorithm -> seed -> records.
    """
    fig = go.Figure()
    for i, (algo, by_seed) in enumerate(sorted(groups.items())):
        color = PALETTE[i % len(PALETTE)]
        per_step: dict[int, list[float]] = {}
        for records in by_seed.values():
            for x, y in zip(*_series(records, key, kind)):
                per_step.setdefault(x, []).append(y)
        steps = sorted(per_step)
        stats = [mean_ci(per_step[s]) for s in steps]
        if any(st.n > 1 for st in stats):
            fig.add_trace(go.Scatter(x=steps + steps[::-1],
                                     y=[st.high for st in stats] + [st.low for st in stats][::-1],
                                     fill="toself", fillcolor=color, opacity=0.18, line={"width": 0},
                                     hoverinfo="skip", showlegend=False))
        fig.add_trace(go.Scatter(x=steps, y=[st.mean for st in stats], name=f"{algo} (n={len(by_seed)})",
                                 line={"color": color}, mode="lines+markers" if kind == "eval" else "lines"))
    fig.update_layout(title=title or key, xaxis_title="step", yaxis_title=key, uirevision="keep", height=380,
                      margin={"l": 40, "r": 20, "t": 50, "b": 40})
    return fig
