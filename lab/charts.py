"""Charts from run records (``metrics.jsonl``): one panel spec, one figure and one CSV per panel; no gradio.

A panel is a :class:`Panel`: a plain-language title and axis titles, and
its :class:`Series` (metric keys). The same specs draw a single run, an A/B
sweep, several seeds and the Guide's example: :func:`panel_lines` turns
records into lines (mean across seeds, 95% band, smoothed), and
:func:`panel_figure` and :func:`panel_csv` draw and export exactly those
lines. A new panel is one more entry in :data:`PANELS` (and, to show it,
its id in a tab's list such as :data:`TRAIN_PANELS`).

Colours (:mod:`lab.colours`): with one arm each series has its own colour
(planning amber, execution teal, as in the paper's figures); with several
arms the colour is the arm's (GRPO blue, HICRA red, ...) and the series are
told apart by their line style. Every figure carries its own legend, a fixed
``uirevision`` per run (a zoom survives a refresh) and a modebar whose
camera button saves the figure as PNG under a telling file name.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from typing import Iterable

from lab import colours as C
from training.hierarchy.stats import mean_ci

Groups = dict[str, dict[int, list[dict]]]  # arm group (algorithm) -> seed -> records


@dataclass(frozen=True)
class Series:
    """One metric of a panel.

    ``colour`` is used when a single arm is drawn; with several arms the
    arm's colour and ``dash`` tell the series apart, and the legend says
    "<arm> · <short>". ``share_of``: divide
    the value by the sum of these keys (error counts become shares of the
    samples evaluated). Step series are smoothed; evaluation series are
    drawn as points.
    """

    key: str
    label: str
    colour: str
    kind: str = "step"  # "step" or "eval" records
    short: str = ""  # the label after the arm's name when several arms share the legend
    stack: str = ""  # series of one arm with the same stack id are drawn as stacked areas (shares of a whole)
    dash: str = "solid"
    secondary: bool = False
    share_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Panel:
    id: str
    title: str
    y_title: str
    series: tuple[Series, ...]
    y2_title: str = ""
    unit: str = ""  # of the primary axis, for hover and the CSV
    log: bool = True  # the log-scale toggle applies to the primary axis
    percent: bool = False  # primary axis shown as a percentage
    help: str = ""  # one plain sentence: what to look for
    nonnegative: bool = False  # the primary quantity cannot be negative (entropy, KL): axis and band from 0


ERROR_TOTAL = ("eval/errors/correct", "eval/errors/execution", "eval/errors/strategy")

PANELS: dict[str, Panel] = {p.id: p for p in [
    Panel("perplexity", "Relative perplexity: planning vs execution", "perplexity ÷ its step-0 value", (
        Series("ppl_rel/planning", "planning tokens", C.ROLE_LINE["planning"], short="planning"),
        Series("ppl_rel/execution", "execution tokens", C.ROLE_LINE["execution"], dash="dash", short="execution")),
        help="Below 1: the model finds these tokens more predictable than at the start."),
    Panel("entropy", "Token entropy: planning vs execution", "entropy (nats)", (
        Series("entropy/planning", "planning tokens", C.ROLE_LINE["planning"], short="planning"),
        Series("entropy/execution", "execution tokens", C.ROLE_LINE["execution"], dash="dash", short="execution")),
        unit="nats", nonnegative=True,
        help="Phase 1 of the paper: execution-token entropy falls first (nats: natural-log units; 1 nat = 1.44 "
             "bits)."),
    Panel("semantic", "Semantic entropy of planning phrases", "entropy (bits)", (
        Series("semantic/entropy_bits", "Strategic Grams", C.ROLE_LINE["planning"], short="SGs"),
        Series("semantic/other_conditional_bits", "other n-grams after them (baseline)", C.NEUTRAL, dash="dot",
               short="baseline")),
        unit="bits", nonnegative=True, help="Diversity of the strategic moves in each batch of rollouts."),
    Panel("accuracy", "Accuracy and response length", "share of answers correct", (
        Series("eval/accuracy", "held-out accuracy", C.ACCURACY, kind="eval", short="held-out"),
        Series("acc/batch", "training-batch accuracy", C.ACCURACY_LIGHT, dash="dot", short="batch"),
        Series("len/mean", "response length", C.NEUTRAL, dash="dash", secondary=True, short="length")),
        y2_title="response length (tokens)", log=False, percent=True),
    Panel("reward", "Reward", "mean reward per response", (
        Series("reward/mean", "reward", C.REWARD),), log=False),
    Panel("kl", "KL to the base model, and clipping", "KL to the base model (nats)", (
        Series("kl/k3", "KL to the base model", C.KL, short="KL"),
        Series("clip/fraction", "share of tokens clipped", C.CLIP, dash="dot", secondary=True, short="clipped")),
        y2_title="share of tokens clipped", unit="nats", nonnegative=True,
        help="KL: how far the policy has moved from the base model, per token (the k3 estimator, in nats). "
             "Dotted: the share of tokens whose probability ratio hit the clip range (0 while updates are small)."),
    Panel("heldout", "Held-out accuracy", "share of answers correct", (
        Series("eval/accuracy", "held-out accuracy", C.ACCURACY, kind="eval"),), log=False, percent=True),
    Panel("errors", "Held-out errors by type", "share of held-out samples", (
        Series("eval/errors/strategy", "strategy errors", C.ROLE_LINE["planning"], kind="eval",
               share_of=ERROR_TOTAL, short="strategy"),
        Series("eval/errors/execution", "execution errors", C.ROLE_LINE["execution"], kind="eval", dash="dot",
               share_of=ERROR_TOTAL, short="execution")),
        log=False, percent=True, help="Each point: wrong samples of that type ÷ all samples evaluated."),
    Panel("plans", "Plan shares (bundled task)", "share of responses", tuple(
        Series(f"plan/{plan}", label, C.PLAN_COLOUR[plan], stack="plans", short=label) for plan, label in (
            ("shortcut", "shortcut"), ("split", "split"), ("round", "round"), ("swap_split", "swap, split"),
            ("swap_round", "swap, round"), ("halve", "halve"), ("none", "no plan"))),
        log=False, percent=True,
        help="The first plan of each response (one arm: stacked; several arms: a line per plan and arm). Phase 2: "
             "the habitual plan gives way to a wider repertoire."),
    Panel("plan_quality", "Plan fit, verification, backtracking", "share", (
        Series("plan/fitted", "plan fits the problem", C.ACCURACY, short="fits"),
        Series("plan/verify", "verifies a result", C.ROLE_LINE["planning"], dash="dash", short="verifies"),
        Series("plan/backtrack", "backtracks or repairs", C.ROLE_LINE["both"], dash="dot", short="backtracks"),
        Series("exec/hard_error", "hard step wrong", C.ROLE_LINE["execution"], dash="dashdot", short="hard step wrong")),
        log=False, percent=True,
        help="Shares of responses (hard step: of the hard steps attempted). The strategic lever is the plan's fit."),
    Panel("decision", "Execution entropy at decision positions", "entropy (nats)", (
        Series("entropy/decision", "digits of computed results", C.ROLE_LINE["execution"], short="decision"),
        Series("entropy/execution", "all execution tokens", C.NEUTRAL, dash="dot", short="all execution")),
        unit="nats", help="Phase 1 lives at the digits a step computes; the average over copied tokens hides it."),
    Panel("fitted", "Held-out plan fit", "share of held-out samples", (
        Series("eval/plan/fitted", "plan fits the problem", C.ACCURACY, kind="eval", short="fits"),
        Series("eval/plan/verify", "verifies a result", C.ROLE_LINE["planning"], kind="eval", dash="dot",
               short="verifies")),
        log=False, percent=True, help="Held-out samples whose first plan fits the problem (the task knows it)."),
]}

GUIDE_PANELS = ("perplexity", "entropy", "semantic", "accuracy", "reward", "kl")
# The plan-level panels need a task that knows its plans (the bundled task's regimes); elsewhere they say
# "no data yet".
TRAIN_PANELS = (*GUIDE_PANELS, "plans", "plan_quality", "decision")
COMPARE_PANELS = ("heldout", "semantic", "errors", "fitted")
MAX_SMOOTHING = 100


def smooth(ys: list[float], window: int) -> list[float]:
    """Trailing moving average over ``window`` points (the raw per-step values are noisy)."""
    window = max(1, int(window))
    out, acc = [], []
    for y in ys:
        acc.append(y)
        if len(acc) > window:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def series_points(records: Iterable[dict], s: Series) -> tuple[list[int], list[float], list[float | None]]:
    """``(steps, values, totals)`` of one series in one run's records (totals: the ``share_of`` sums)."""
    xs, ys, totals = [], [], []
    for r in records:
        if r.get("kind") != s.kind or not _finite(r.get(s.key)):
            continue
        total = None
        if s.share_of:
            total = sum(r.get(k) or 0 for k in s.share_of)
            if not total:
                continue
        xs.append(int(r["step"]))
        ys.append(float(r[s.key]) / total if total else float(r[s.key]))
        totals.append(total)
    return xs, ys, totals


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass
class Line:
    """What one legend entry draws: an arm group's series, mean across seeds, with its 95% band."""

    group: str
    series: Series
    label: str
    colour: str
    dash: str
    steps: list[int] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    low: list[float] = field(default_factory=list)
    high: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)  # mean across seeds before smoothing
    seeds: list[int] = field(default_factory=list)  # how many seeds each point has
    counts: list[str] = field(default_factory=list)  # "210 of 800" for shares


def panel_lines(panel: Panel, groups: Groups, window: int = 10) -> list[Line]:
    """The lines of a panel: for every arm group and series, per-seed smoothing, then mean and 95% interval
    across the seeds that have the step."""
    names = list(groups)
    several = len(names) > 1
    lines = []
    for group in names:
        by_seed = groups[group]
        for s in panel.series:
            per_step: dict[int, list[float]] = {}
            raw: dict[int, list[float]] = {}
            counts: dict[int, list[tuple[float, float]]] = {}
            for records in by_seed.values():
                xs, ys, totals = series_points(records, s)
                shown = smooth(ys, window) if s.kind == "step" else ys
                for x, y, v, t in zip(xs, shown, ys, totals):
                    per_step.setdefault(x, []).append(y)
                    raw.setdefault(x, []).append(v)
                    if t:
                        counts.setdefault(x, []).append((v * t, t))
            if not per_step:
                continue
            n_seeds = len(by_seed)
            name = s.label if not several else f"{C.arm_label(group)} · {s.short or s.label}"
            if n_seeds > 1:
                name += f" ({n_seeds} seeds)"
            if s.stack and several:  # shares of a whole: the series' colour, the arm's line style
                colour, dash = s.colour, C.ARM_DASHES[names.index(group) % len(C.ARM_DASHES)]
            else:
                colour, dash = (C.arm_colour(group, names) if several else s.colour), s.dash
            line = Line(group, s, name, colour, dash)
            for x in sorted(per_step):
                ci = mean_ci(per_step[x])
                line.steps.append(x)
                line.mean.append(ci.mean)
                line.low.append(ci.low)
                line.high.append(ci.high)
                line.raw.append(sum(raw[x]) / len(raw[x]))
                line.seeds.append(ci.n)
                if x in counts:
                    got, total = map(sum, zip(*counts[x]))
                    line.counts.append(f"{got:.0f} of {total:.0f}")
            lines.append(line)
    return lines


class Figure:
    """A plotly figure as plain data (``data``: trace dicts, ``layout``, ``config``).

    Built without plotly's object layer (ten to a hundred times faster,
    which matters when a page redraws six panels every few seconds). Gradio's
    plot takes any object with ``to_json()`` as a plotly figure and passes
    ``config`` on to plotly: the modebar always shown, its camera button
    saving a PNG named after the run and panel. :meth:`to_plotly` gives a
    ``plotly.graph_objects.Figure`` (for ``write_image``, notebooks).
    """

    def __init__(self, data: list[dict], layout: dict, filename: str = "hicra-lab-chart"):
        self.data, self.layout = data, layout
        self.config = {
            "displaylogo": False, "displayModeBar": True, "responsive": True,
            "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d", "zoomIn2d", "zoomOut2d",
                                       "toggleSpikelines", "hoverClosestCartesian", "hoverCompareCartesian"],
            "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
        }

    def to_dict(self) -> dict:
        return {"data": _clean(self.data), "layout": _clean(self.layout), "config": self.config}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    def to_plotly(self):
        import plotly.graph_objects as go

        return go.Figure({"data": self.data, "layout": self.layout})


def _clean(value):
    """JSON for the browser: NaN and infinities become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def file_stem(*parts: str) -> str:
    """A safe file name from run and panel names: ``demo:grpo-vs-hicra`` -> ``demo-grpo-vs-hicra``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(p for p in parts if p)).strip("-") or "chart"


def panel_figure(panel: Panel, groups: Groups, window: int = 10, log: bool = False, name: str = "",
                 lines: list[Line] | None = None) -> Figure:
    """The panel as a figure (a note in the middle when there is no data yet)."""
    lines = panel_lines(panel, groups, window) if lines is None else lines
    has_y2 = any(line.series.secondary for line in lines)
    stacked = len({line.group for line in lines}) == 1  # several arms' filled stacks would hide each other
    data: list[dict] = []
    for line in lines:
        axis = "y2" if line.series.secondary else "y"
        group = f"{line.group}|{line.series.key}"
        unit = "" if line.series.secondary else panel.unit
        if any(n > 1 for n in line.seeds) and not line.series.stack:
            floor, ceiling = _bounds(panel, line.series)
            band = [(x, max(lo, floor), min(hi, ceiling))
                    for x, lo, hi in zip(line.steps, line.low, line.high) if math.isfinite(lo)]
            if band:
                xs = [b[0] for b in band]
                # mode "lines": without it plotly draws the polygon's corners as markers (stray dots)
                data.append({"type": "scatter", "mode": "lines", "x": xs + xs[::-1],
                             "y": [b[2] for b in band] + [b[1] for b in band][::-1], "fill": "toself",
                             "fillcolor": _rgba(line.colour, 0.15), "line": {"width": 0}, "hoverinfo": "skip",
                             "showlegend": False, "legendgroup": group, "yaxis": axis,
                             "name": line.label + " (95% interval)"})
        fmt = ".1%" if panel.percent and not line.series.secondary else ".4g"
        hover = f"step %{{x}}<br>%{{y:{fmt}}}{(' ' + unit) if unit else ''}"
        if line.counts:
            hover += "<br>%{customdata}"
        data.append({"type": "scatter", "x": line.steps, "y": line.mean, "name": line.label, "legendgroup": group,
                     "yaxis": axis, "mode": "lines+markers" if line.series.kind == "eval" else "lines",
                     "line": {"color": line.colour, "dash": line.dash, "width": 2}, "marker": {"size": 6},
                     "customdata": line.counts or None, "hovertemplate": hover + f"<extra>{line.label}</extra>",
                     # one arm: its shares stack as filled areas; several arms: each share is its own line
                     # (stacked lines without fill read as cumulative curves, and filled stacks hide each other)
                     "stackgroup": f"{line.group}|{line.series.stack}" if line.series.stack and stacked else None})
    layout = {
        # the title sits below the modebar (PNG, zoom), which takes the figure's top 30 pixels
        "title": {"text": panel.title, "x": 0.01, "xanchor": "left", "yref": "paper", "y": 1, "yanchor": "bottom",
                  "pad": {"b": 6}, "automargin": True, "font": {"size": 14}},
        "height": 400, "uirevision": f"{name}|{panel.id}", "hovermode": "closest", "plot_bgcolor": "#f8fafc",
        "margin": {"l": 56, "r": 56 if has_y2 else 16, "t": 66, "b": 40},
        # the legend sits in the top margin, under the title, so it never meets the x-axis title
        "legend": {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.2, "yanchor": "top", "font": {"size": 11}},
        "xaxis": {"title": {"text": "training step", "standoff": 6}, "gridcolor": "#e5e7eb"},
        "yaxis": {"title": {"text": panel.y_title}, "type": "log" if log and panel.log else "linear",
                  "tickformat": ".0%" if panel.percent else None,
                  "rangemode": "nonnegative" if panel.percent or panel.nonnegative else None,
                  "gridcolor": "#e5e7eb"},
    }
    if has_y2:  # every secondary series is a share or a length: never below zero
        layout["yaxis2"] = {"title": {"text": panel.y2_title}, "overlaying": "y", "side": "right", "showgrid": False,
                            "rangemode": "nonnegative",
                            "tickformat": ".0%" if "share" in panel.y2_title else None}
    if not lines:
        layout["annotations"] = [{"text": "no data yet", "showarrow": False, "xref": "paper", "yref": "paper",
                                  "x": 0.5, "y": 0.5, "font": {"color": C.NEUTRAL}}]
    return Figure(data, layout, filename=file_stem("hicra-lab", name, panel.id))


def _bounds(panel: Panel, series: Series) -> tuple[float, float]:
    """Where a series' 95% band may reach: a share stays in [0, 1], an entropy or a KL above 0."""
    if panel.percent and not series.secondary:
        return 0.0, 1.0
    if panel.nonnegative and not series.secondary:
        return 0.0, math.inf
    return -math.inf, math.inf


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


CSV_COLUMNS = ["panel", "arm", "series", "metric", "step", "seeds", "value", "ci_low", "ci_high", "raw", "count"]


def panel_csv(panel: Panel, groups: Groups, window: int = 10, lines: list[Line] | None = None) -> str:
    """The panel's data as CSV, one row per drawn point: ``value`` is what the line shows (smoothed mean
    across seeds), ``ci_low`` / ``ci_high`` its 95% band (empty for one seed), ``raw`` the unsmoothed mean."""
    lines = panel_lines(panel, groups, window) if lines is None else lines
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for line in lines:
        for k, x in enumerate(line.steps):
            w.writerow([panel.id, line.group, line.series.label, line.series.key, x, line.seeds[k],
                        _num(line.mean[k]), _num(line.low[k]), _num(line.high[k]), _num(line.raw[k]),
                        line.counts[k] if line.counts else ""])
    return out.getvalue()


def _num(v: float) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:.6g}"


def figures(panel_ids: Iterable[str], groups: Groups, window: int = 10, log: bool = False,
            name: str = "") -> list[Figure]:
    """The figures of several panels, in order."""
    return [panel_figure(PANELS[p], groups, window, log, name) for p in panel_ids]
