"""Chart panels from records: lines, bands, colours, CSV and figure JSON, checked on hand-made records."""

import csv
import io
import json
import math

import pytest

from lab import colours
from lab.charts import COMPARE_PANELS, PANELS, TRAIN_PANELS, figures, panel_csv, panel_figure, panel_lines, smooth


def run(values: dict[str, list[float]], evals: dict[int, dict] | None = None) -> list[dict]:
    """Step records with the given per-step values, plus evaluation records at some steps."""
    n = len(next(iter(values.values())))
    out = [{"kind": "step", "step": i, **{k: v[i] for k, v in values.items()}} for i in range(n)]
    for step, rec in (evals or {}).items():
        out.append({"kind": "eval", "step": step, **rec})
    return out


def test_smooth_is_a_trailing_mean():
    assert smooth([1, 2, 3, 4], 2) == [1, 1.5, 2.5, 3.5]
    assert smooth([1, 2], 1) == [1, 2] and smooth([3, 5], 0) == [3, 5]


def test_two_arms_get_their_fixed_colours_and_seeds_a_band():
    # GRPO: two seeds whose execution entropy is 1 and 3 at every step (mean 2, t interval with 1 df);
    # HICRA: one seed, no band
    groups = {"grpo": {0: run({"entropy/planning": [1, 1], "entropy/execution": [1, 1]}),
                       1: run({"entropy/planning": [1, 1], "entropy/execution": [3, 3]})},
              "hicra": {0: run({"entropy/planning": [2, 2], "entropy/execution": [0.5, 0.5]})}}
    lines = panel_lines(PANELS["entropy"], groups, window=1)
    assert [ln.label for ln in lines] == ["GRPO · planning (2 seeds)", "GRPO · execution (2 seeds)",
                                          "HICRA · planning", "HICRA · execution"]
    assert [ln.colour for ln in lines] == ["#2563eb", "#2563eb", "#dc2626", "#dc2626"]
    assert [ln.dash for ln in lines] == ["solid", "dash", "solid", "dash"]
    grpo_exec = lines[1]
    assert grpo_exec.mean == [2.0, 2.0] and grpo_exec.seeds == [2, 2]
    half = 12.706204736 * 1.0  # t(0.975, 1) * sd (sqrt 2) / sqrt(2)
    assert grpo_exec.low[0] == pytest.approx(2 - half) and grpo_exec.high[0] == pytest.approx(2 + half)
    assert math.isnan(lines[3].low[0])
    fig = panel_figure(PANELS["entropy"], groups, window=1, name="ab")
    bands = [t for t in fig.data if t.get("fill") == "toself"]
    assert len(bands) == 2 and all(not t["showlegend"] for t in bands)  # GRPO's two series only
    assert fig.layout["yaxis"]["title"]["text"] == "entropy (nats)" and "/" not in fig.layout["yaxis"]["title"]["text"]
    data = json.loads(fig.to_json())  # what the browser gets: plotly config included, NaN as null
    assert data["config"]["toImageButtonOptions"]["filename"] == "hicra-lab-ab-entropy"
    assert "NaN" not in fig.to_json()


def test_a_single_run_uses_the_role_colours():
    groups = {"hicra": {3: run({"ppl_rel/planning": [1.0, 0.9], "ppl_rel/execution": [1.0, 0.5]})}}
    lines = panel_lines(PANELS["perplexity"], groups, window=2)
    assert [(ln.label, ln.colour) for ln in lines] == [("planning tokens", colours.ROLE_LINE["planning"]),
                                                       ("execution tokens", colours.ROLE_LINE["execution"])]
    assert lines[1].mean == [1.0, 0.75] and lines[1].raw == [1.0, 0.5]  # smoothed over 2 steps, raw kept
    assert colours.ROLE_LINE["execution"] != colours.ROLE_LINE["high"]  # execution is not the high-entropy blue


def test_error_types_are_shares_of_the_samples_with_counts():
    ev = {0: {"eval/errors/correct": 300, "eval/errors/execution": 290, "eval/errors/strategy": 210},
          50: {"eval/errors/correct": 444, "eval/errors/execution": 258, "eval/errors/strategy": 98}}
    groups = {"grpo": {0: run({"reward/mean": [0.0]}, ev)}, "hicra": {0: run({"reward/mean": [0.0]}, ev)}}
    lines = panel_lines(PANELS["errors"], groups)
    strategy = lines[0]
    assert strategy.label == "GRPO · strategy" and strategy.mean == [210 / 800, 98 / 800]
    assert strategy.counts == ["210 of 800", "98 of 800"]
    assert lines[1].colour == lines[0].colour == "#2563eb" and lines[3].colour == "#dc2626"  # per arm, always
    assert lines[1].dash == "dot"
    rows = list(csv.DictReader(io.StringIO(panel_csv(PANELS["errors"], groups))))
    assert rows[0] == {"panel": "errors", "arm": "grpo", "series": "strategy errors",
                       "metric": "eval/errors/strategy", "step": "0", "seeds": "1", "value": "0.2625",
                       "ci_low": "", "ci_high": "", "raw": "0.2625", "count": "210 of 800"}
    assert len(rows) == 8


def test_every_panel_draws_and_says_so_when_empty():
    records = run({"ppl_rel/planning": [1, 1.1], "ppl_rel/execution": [1, 0.9], "entropy/planning": [0.3, 0.2],
                   "entropy/execution": [0.05, 0.04], "semantic/entropy_bits": [4, 3.9],
                   "semantic/other_conditional_bits": [2, 2.1], "acc/batch": [0.3, 0.4], "len/mean": [60, 62],
                   "reward/mean": [0.3, 0.4], "kl/k3": [0.0, 0.01], "clip/fraction": [0, 0]},
                  {0: {"eval/accuracy": 0.375, "eval/errors/correct": 3, "eval/errors/execution": 3,
                       "eval/errors/strategy": 2}})
    plan_panels = ("plans", "plan_quality", "decision", "fitted")  # need plan figures: below
    for fig in figures([p for p in TRAIN_PANELS + COMPARE_PANELS if p not in plan_panels], {"grpo": {0: records}},
                       log=True):
        assert fig.data and "annotations" not in fig.layout
        titles = [fig.layout["yaxis"]["title"]["text"], fig.layout["xaxis"]["title"]["text"]]
        assert all(t and "/" not in t.replace("÷", "") for t in titles), titles  # no raw metric keys
    logs = {p: f.layout["yaxis"]["type"] for p, f in zip(TRAIN_PANELS, figures(TRAIN_PANELS, {"g": {0: records}},
                                                                                  log=True))}
    assert logs == {"perplexity": "log", "entropy": "log", "semantic": "log", "accuracy": "linear",
                    "reward": "linear", "kl": "log", "plans": "linear", "plan_quality": "linear", "decision": "log"}
    for pid in ("plans", "plan_quality", "fitted"):  # a task without plan labels: these say "no data yet"
        assert panel_figure(PANELS[pid], {"grpo": {0: records}}).layout["annotations"][0]["text"] == "no data yet"
    plans = run({"plan/shortcut": [0.8, 0.5], "plan/split": [0.2, 0.5], "plan/fitted": [0.2, 0.5],
                 "plan/verify": [0, 0.1], "plan/backtrack": [0, 0], "exec/hard_error": [0.01, 0],
                 "entropy/decision": [0.03, 0.05], "entropy/execution": [0.04, 0.03]},
                {0: {"eval/plan/fitted": 0.25, "eval/plan/verify": 0.0}})
    for pid in plan_panels:
        fig = panel_figure(PANELS[pid], {"grpo": {0: plans}})
        assert fig.data and "annotations" not in fig.layout, pid
    stacked = panel_figure(PANELS["plans"], {"grpo": {0: plans}}, window=1)
    assert [t["name"] for t in stacked.data] == ["shortcut", "split"]
    assert all(t["stackgroup"] == "grpo|plans" and "fill" not in t for t in stacked.to_dict()["data"])
    empty = panel_figure(PANELS["kl"], {})
    assert empty.data == [] and empty.layout["annotations"][0]["text"] == "no data yet"
    assert len(panel_figure(PANELS["accuracy"], {"grpo": {0: records}}).to_plotly().data) == 3


def test_unknown_groups_get_spare_colours_in_order():
    assert colours.arm_colour("grpo") == "#2563eb" and colours.arm_colour("hicra-placebo") == "#6b7280"
    others = ["grpo", "mine-a", "mine-b"]
    assert colours.arm_colour("mine-b", others) == colours.SPARE[1] != colours.arm_colour("mine-a", others)


def test_a_new_panel_is_one_spec_and_shares_stack_only_for_one_arm():
    from lab.charts import Panel, Series

    shares = Panel("plans", "Plan shares", "share of responses", (
        Series("plan/split", "split", "#111111", stack="plan", short="split"),
        Series("plan/round", "round", "#222222", stack="plan", short="round")), percent=True, log=False)
    groups = {"grpo": {0: run({"plan/split": [0.6, 0.5], "plan/round": [0.4, 0.5]}),
                       1: run({"plan/split": [0.4, 0.5], "plan/round": [0.6, 0.5]})},
              "hicra": {0: run({"plan/split": [0.7, 0.7], "plan/round": [0.3, 0.3]})}}
    fig = panel_figure(shares, groups, window=1)
    # several arms: each share is its own line (no stack, no fill), so no arm hides another and no line
    # reads as a cumulative curve
    assert all(t.get("stackgroup") is None and t.get("fill") is None for t in fig.data)
    assert [t["line"]["color"] for t in fig.data] == ["#111111", "#222222"] * 2  # a plan's colour, an arm's dash
    assert [t["line"]["dash"] for t in fig.data] == ["solid", "solid", "dash", "dash"]
    assert not any(t.get("fill") == "toself" for t in fig.data)  # no bands on stacked areas
    assert fig.data[0]["y"] == [0.5, 0.5] and fig.layout["yaxis"]["tickformat"] == ".0%"


def test_bands_are_lines_and_stay_within_the_quantity_s_bounds():
    # two seeds of held-out accuracy 0.0 and 1.0 at step 10: the t interval (1 df) reaches far below 0 and above
    # 1; a share's band is cut at [0, 1]. Two seeds of entropy 0.01 and 0.5: the band is cut at 0.
    groups = {"grpo": {0: run({"entropy/planning": [0.01], "entropy/execution": [0.01]}, {10: {"eval/accuracy": 0.0}}),
                       1: run({"entropy/planning": [0.5], "entropy/execution": [0.5]}, {10: {"eval/accuracy": 1.0}})}}
    for pid, (lo, hi) in (("heldout", (0.0, 1.0)), ("entropy", (0.0, math.inf))):
        fig = panel_figure(PANELS[pid], groups, window=1)
        bands = [t for t in fig.data if t.get("fill") == "toself"]
        assert bands, pid
        for t in bands:
            assert t["mode"] == "lines"  # without it plotly marks the polygon's corners: stray dots
            assert min(t["y"]) >= lo and max(t["y"]) <= hi, pid
        assert fig.layout["yaxis"]["rangemode"] == "nonnegative"
    assert min(panel_lines(PANELS["heldout"], groups, window=1)[0].low) < 0  # the lines keep the raw interval


def test_every_trace_with_markers_is_on_the_legend_and_axes_say_their_units():
    groups = {"grpo": {s: run({"kl/k3": [0.0, 0.01], "clip/fraction": [0.0, 0.0]}) for s in (0, 1)}}
    for pid in (*TRAIN_PANELS, *COMPARE_PANELS):
        for t in panel_figure(PANELS[pid], groups).to_dict()["data"]:
            assert t.get("mode") in ("lines", "lines+markers"), (pid, t.get("name"))
            if "markers" in t["mode"]:
                assert t.get("showlegend", True), (pid, t["name"])
    kl = panel_figure(PANELS["kl"], groups).layout
    assert kl["yaxis"]["title"]["text"] == "KL to the base model (nats)" and "k3" in PANELS["kl"].help
    assert kl["yaxis2"]["rangemode"] == "nonnegative" and kl["yaxis2"]["tickformat"] == ".0%"  # never -1..1
    assert kl["legend"]["yanchor"] == "top" and kl["legend"]["y"] < 0  # under the x-axis title, not on it
