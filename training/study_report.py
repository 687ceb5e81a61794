"""The study's report: numbers from the runs, figures (PNG) and ``study.md``.

Everything here is computed from the arms' ``metrics.jsonl``; nothing is
typed in by hand. ``DOCS/study/results.json`` holds every number the text
quotes, so a rerun can be diffed against the committed report.

Statistics: across-seed means with 95% t intervals (:mod:`lab.stats`);
differences between two arms are paired by seed (arms with the same seed saw
the same prompts and sampling random numbers). A difference whose interval
includes zero is reported as no measurable difference.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np

from lab.stats import Interval, mean_ci, paired_difference
from training.config import preset
from training.runs import read_jsonl
from training.study import GROUPS, StudyConfig

SMOOTH = 10  # steps in the moving average of per-step curves
EDGE = 15  # steps averaged at the start and at the end of a curve
COLOURS = {"grpo": "#2563eb", "hicra": "#dc2626", "hicra-entropy": "#9333ea", "hicra-placebo": "#6b7280",
           "hicra-mined": "#ea580c", "hicra-generic": "#16a34a", "planning": "#d97706", "execution": "#2563eb"}


# ------------------------------------------------------------------ loading


def load_runs(cfg: StudyConfig) -> dict[str, dict[int, list[dict]]]:
    """group -> seed -> records, for the arms that finished all their steps."""
    from training.study import arm_state

    runs: dict[str, dict[int, list[dict]]] = {}
    for arm in cfg.arms():
        if arm_state(cfg, arm) == "done":
            runs.setdefault(arm.group, {})[arm.seed] = read_jsonl(Path(cfg.out) / arm.name / "metrics.jsonl")
    return runs


def step_curve(records: list[dict], key: str, steps: int) -> np.ndarray:
    """(steps,) the per-step values of ``key`` (nan where missing)."""
    out = np.full(steps, np.nan)
    for r in records:
        if r.get("kind") == "step" and r.get(key) is not None and r["step"] < steps:
            out[r["step"]] = r[key]
    return out


def eval_curve(records: list[dict], key: str) -> dict[int, float]:
    """eval step -> value; error counts become shares of the samples."""
    out = {}
    for r in records:
        if r.get("kind") != "eval":
            continue
        if key.startswith("eval/errors/"):
            total = sum(v for k, v in r.items() if k.startswith("eval/errors/"))
            out[r["step"]] = r.get(key, 0) / total if total else float("nan")
        elif r.get(key) is not None:
            out[r["step"]] = r[key]
    return out


def moving_average(y: np.ndarray, window: int = SMOOTH) -> np.ndarray:
    """Trailing mean over up to ``window`` steps, ignoring nans."""
    out = np.full_like(y, np.nan, dtype=float)
    for i in range(len(y)):
        chunk = y[max(0, i - window + 1):i + 1]
        chunk = chunk[~np.isnan(chunk)]
        if len(chunk):
            out[i] = chunk.mean()
    return out


def band(curves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and 95% t interval across seeds, point by point."""
    stack = np.vstack(curves)
    cis = [mean_ci(list(stack[:, j])) for j in range(stack.shape[1])]
    mean = np.array([c.mean for c in cis])
    low = np.array([c.low if c.n > 1 else c.mean for c in cis])
    high = np.array([c.high if c.n > 1 else c.mean for c in cis])
    return mean, low, high


def edge_width(steps: int) -> int:
    """Steps averaged at each end of a curve: ``EDGE``, or a quarter of a short run."""
    return max(1, min(EDGE, steps // 4))


def edges(y: np.ndarray) -> tuple[float, float]:
    """Mean of the first and of the last :func:`edge_width` steps."""
    width = edge_width(len(y))
    return float(np.nanmean(y[:width])), float(np.nanmean(y[-width:]))


def iv(interval: Interval) -> dict:
    return {"mean": interval.mean, "low": interval.low, "high": interval.high, "n": interval.n}


# ------------------------------------------------------------------ analysis


def phases(grpo: dict[int, list[dict]], steps: int) -> dict:
    """The paper's two phases, read off the GRPO arms."""
    out: dict = {"seeds": sorted(grpo)}
    for key in ("ppl_rel/execution", "ppl_rel/planning", "ppl/execution", "ppl/planning",
                "entropy/execution", "entropy/planning",
                "semantic/entropy_bits", "semantic/other_conditional_bits", "acc/batch", "len/mean"):
        per_seed = {s: edges(step_curve(r, key, steps)) for s, r in grpo.items()}
        start = {s: v[0] for s, v in per_seed.items()}
        end = {s: v[1] for s, v in per_seed.items()}
        out[key] = {"start": iv(mean_ci(list(start.values()))), "end": iv(mean_ci(list(end.values()))),
                    "change": iv(paired_difference(start, end))}
    # Held-out error types over training (mean over seeds): which kind of error goes first?
    for kind in ("strategy", "execution"):
        steps_seen, curves = _eval_matrix(grpo, f"eval/errors/{kind}")
        out[f"errors/{kind}"] = dict(zip(map(str, steps_seen), np.mean(curves, 0).tolist()))
    # Does semantic entropy move with accuracy? Correlation of the smoothed per-seed curves.
    rs = []
    for r in grpo.values():
        a = moving_average(step_curve(r, "acc/batch", steps))
        b = moving_average(step_curve(r, "semantic/entropy_bits", steps))
        ok = ~np.isnan(a) & ~np.isnan(b)
        if ok.sum() > 2 and np.std(a[ok]) > 0 and np.std(b[ok]) > 0:
            rs.append(float(np.corrcoef(a[ok], b[ok])[0, 1]))
    out["semantic_accuracy_r"] = iv(mean_ci(rs))
    return out


def steps_to(curve: dict[int, float], threshold: float) -> int | None:
    reached = [s for s in sorted(curve) if curve[s] >= threshold]
    return reached[0] if reached else None


def group_summary(runs: dict[int, list[dict]], grpo: dict[int, list[dict]], threshold: float) -> dict:
    """Held-out figures of one group, and its differences from GRPO on the seeds both have."""
    final, mean_after, reach, errs = {}, {}, {}, {"strategy": {}, "execution": {}}
    planning = {}
    for seed, records in runs.items():
        acc = eval_curve(records, "eval/accuracy")
        last = max(acc)
        final[seed] = acc[last]
        mean_after[seed] = float(np.mean([v for s, v in acc.items() if s > 0]))
        reach[seed] = steps_to(acc, threshold)
        for kind in errs:
            errs[kind][seed] = eval_curve(records, f"eval/errors/{kind}")[last]
        planning[seed] = eval_curve(records, "eval/planning_ratio").get(last, float("nan"))
    base_final = {s: max(eval_curve(r, "eval/accuracy").items())[1] for s, r in grpo.items()}
    base_mean = {s: float(np.mean([v for k, v in eval_curve(r, "eval/accuracy").items() if k > 0]))
                 for s, r in grpo.items()}
    base_reach = {s: steps_to(eval_curve(r, "eval/accuracy"), threshold) for s, r in grpo.items()}
    both = {s for s in reach if reach[s] is not None and base_reach.get(s) is not None}
    return {
        "seeds": sorted(runs),
        "final_accuracy": iv(mean_ci(list(final.values()))),
        "final_accuracy_by_seed": final,
        "mean_accuracy_after_0": iv(mean_ci(list(mean_after.values()))),
        "final_minus_grpo": iv(paired_difference(base_final, final)),
        "mean_after_0_minus_grpo": iv(paired_difference(base_mean, mean_after)),
        "steps_to_threshold": {str(s): v for s, v in reach.items()},
        "reached": sum(v is not None for v in reach.values()),
        "steps_to_threshold_mean": iv(mean_ci([v for v in reach.values() if v is not None])),
        "steps_minus_grpo": iv(paired_difference({s: base_reach[s] for s in both}, {s: reach[s] for s in both})),
        "final_strategy_errors": iv(mean_ci(list(errs["strategy"].values()))),
        "final_execution_errors": iv(mean_ci(list(errs["execution"].values()))),
        "final_planning_ratio": iv(mean_ci(list(planning.values()))),
    }


def analyse(cfg: StudyConfig, runs: dict[str, dict[int, list[dict]]]) -> dict:
    if "grpo" not in runs:
        raise ValueError(f"no finished GRPO arm in {cfg.out}: run the study first")
    results: dict = {"config": asdict(cfg), "phases": phases(runs["grpo"], cfg.steps), "groups": {}}
    for group, by_seed in runs.items():
        results["groups"][group] = group_summary(by_seed, runs["grpo"], cfg.threshold)
    if "hicra" in runs:
        sem = {}
        for group in ("grpo", "hicra"):
            sem[group] = {s: edges(step_curve(r, "semantic/entropy_bits", cfg.steps))[1] for s, r in runs[group].items()}
        results["semantic_end_hicra_minus_grpo"] = iv(paired_difference(sem["grpo"], sem["hicra"]))
    # Has GRPO settled? Held-out accuracy gain over the last third of the run.
    late = {}
    for seed, records in runs["grpo"].items():
        acc = eval_curve(records, "eval/accuracy")
        points = sorted(acc)
        start = [s for s in points if s >= cfg.steps * 2 // 3][0]
        late[seed] = (acc[points[-1]] - acc[start], start)
    results["late_from"] = min(v[1] for v in late.values())
    results["late_gain_grpo"] = iv(mean_ci([v[0] for v in late.values()]))
    info = Path(cfg.out) / "study.json"
    results["runtime"] = json.loads(info.read_text()) if info.exists() else {}
    return results


# ------------------------------------------------------------------- figures


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.spines.top": False, "axes.spines.right": False,
                         "axes.grid": True, "grid.alpha": 0.3})
    return plt


def _plot_band(ax, x, curves, colour, label):
    mean, low, high = band(curves)
    ax.plot(x, mean, color=colour, label=label, lw=1.6)
    if len(curves) > 1:
        ax.fill_between(x, low, high, color=colour, alpha=0.18, lw=0)


def figure_dynamics(cfg: StudyConfig, grpo: dict[int, list[dict]], path: Path) -> None:
    plt = _plt()
    x = np.arange(cfg.steps)
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, prefix, title in ((axes[0], "ppl_rel", "Relative perplexity (vs step 0)"),
                              (axes[1], "entropy", "Token entropy (nats)")):
        for role in ("execution", "planning"):
            curves = [moving_average(step_curve(r, f"{prefix}/{role}", cfg.steps)) for r in grpo.values()]
            _plot_band(ax, x, curves, COLOURS[role], f"{role} tokens")
        ax.set_title(title)
        ax.legend(frameon=False)
    for key, colour, label in (("semantic/entropy_bits", "#dc2626", "planning phrases"),
                               ("semantic/other_conditional_bits", "#6b7280", "other grams (conditional)")):
        curves = [moving_average(step_curve(r, key, cfg.steps)) for r in grpo.values()]
        _plot_band(axes[2], x, curves, colour, label)
    axes[2].set_title("Semantic entropy (bits)")
    axes[2].legend(frameon=False)
    curves = [moving_average(step_curve(r, "acc/batch", cfg.steps)) for r in grpo.values()]
    _plot_band(axes[3], x, curves, "#16a34a", "batch accuracy")
    axes[3].set_title("Accuracy and response length")
    twin = axes[3].twinx()
    curves = [moving_average(step_curve(r, "len/mean", cfg.steps)) for r in grpo.values()]
    _plot_band(twin, x, curves, "#9ca3af", "length (tokens)")
    twin.set_ylabel("tokens", color="#6b7280")
    twin.grid(False)
    lines = axes[3].get_lines() + twin.get_lines()
    axes[3].legend(lines, [ln.get_label() for ln in lines], frameon=False, loc="lower right")
    for ax in axes:
        ax.set_xlabel("step")
    fig.suptitle(f"GRPO on the bundled task: mean of {len(grpo)} seeds, {SMOOTH}-step moving average, "
                 "95% band across seeds", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _eval_matrix(by_seed: dict[int, list[dict]], key: str) -> tuple[list[int], list[np.ndarray]]:
    curves = [eval_curve(r, key) for r in by_seed.values()]
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    return steps, [np.array([c[s] for s in steps]) for c in curves]


def figure_accuracy(cfg: StudyConfig, runs, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [3, 2]})
    for group in ("grpo", "hicra"):
        if group in runs:
            steps, curves = _eval_matrix(runs[group], "eval/accuracy")
            _plot_band(axes[0], steps, curves, COLOURS[group], f"{GROUPS[group][0].split(' (')[0]} "
                       f"({len(curves)} seeds)")
    axes[0].axhline(cfg.threshold, color="#9ca3af", ls=":", lw=1)
    axes[0].set_title(f"Held-out accuracy ({cfg.eval_n} problems), mean and 95% interval")
    axes[0].set_xlabel("step")
    axes[0].legend(frameon=False, loc="lower right")
    if "hicra" in runs:
        seeds = sorted(set(runs["grpo"]) & set(runs["hicra"]))
        steps, g = _eval_matrix({s: runs["grpo"][s] for s in seeds}, "eval/accuracy")
        _, h = _eval_matrix({s: runs["hicra"][s] for s in seeds}, "eval/accuracy")
        _plot_band(axes[1], steps, [b - a for a, b in zip(g, h)], "#111827", "HICRA - GRPO (paired by seed)")
        axes[1].axhline(0, color="#9ca3af", lw=1)
        axes[1].set_title("Paired difference, 95% interval")
        axes[1].set_xlabel("step")
        axes[1].legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def figure_semantic_errors(cfg: StudyConfig, runs, path: Path) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
    x = np.arange(cfg.steps)
    for group in ("grpo", "hicra"):
        if group not in runs:
            continue
        label = GROUPS[group][0].split(" (")[0]
        curves = [moving_average(step_curve(r, "semantic/entropy_bits", cfg.steps)) for r in runs[group].values()]
        _plot_band(axes[0], x, curves, COLOURS[group], label)
        for ax, kind in ((axes[1], "strategy"), (axes[2], "execution")):
            steps, curves = _eval_matrix(runs[group], f"eval/errors/{kind}")
            _plot_band(ax, steps, curves, COLOURS[group], label)
    axes[0].set_title("Semantic entropy of planning phrases (bits)")
    axes[1].set_title("Held-out strategy errors (share of samples)")
    axes[2].set_title("Held-out execution errors (share of samples)")
    for ax in axes:
        ax.set_xlabel("step")
        ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def figure_ablations(results: dict, path: Path) -> None:
    plt = _plt()
    groups = [g for g in GROUPS if g in results["groups"] and g != "grpo"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(groups) + 1.2))
    for i, g in enumerate(groups):
        d = results["groups"][g]["final_minus_grpo"]
        if d["n"] < 2:
            continue
        ax.errorbar(100 * d["mean"], i, xerr=[[100 * (d["mean"] - d["low"])], [100 * (d["high"] - d["mean"])]],
                    fmt="o", color=COLOURS[g], capsize=3)
    ax.axvline(0, color="#9ca3af", lw=1)
    ax.set_yticks(range(len(groups)), [f"{GROUPS[g][0]} (n={results['groups'][g]['final_minus_grpo']['n']})"
                                       for g in groups])
    ax.invert_yaxis()
    ax.set_xlabel("final held-out accuracy minus GRPO's, points (paired by seed), 95% interval")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -------------------------------------------------------------------- text


def pct(x: float) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{100 * x:.1f}%"


def ci_text(d: dict, scale: float = 100.0, unit: str = " points", signed: bool = True, digits: int = 1) -> str:
    fmt = ("{:+.%df}" if signed else "{:.%df}") % digits
    if d["n"] < 2 or math.isnan(d["low"]):
        return (fmt.format(scale * d["mean"]) + unit + f" (n={d['n']}, no interval)") if d["n"] else "n/a"
    return (fmt.format(scale * d["mean"]) + unit + f" [{fmt.format(scale * d['low'])}, "
            f"{fmt.format(scale * d['high'])}]")


def verdict(d: dict, higher: str = "higher", lower: str = "lower") -> str:
    if d["n"] < 2 or math.isnan(d["low"]):
        return "too few seeds for an interval"
    if d["low"] > 0:
        return higher
    if d["high"] < 0:
        return lower
    return "no measurable difference"


def _relative(d: dict) -> float:
    """Relative change of a start/end pair (end / start - 1)."""
    return d["end"]["mean"] / d["start"]["mean"] - 1 if d["start"]["mean"] else float("nan")


def phase_text(p: dict, steps: int) -> list[str]:
    ex, pl = p["ppl_rel/execution"], p["ppl_rel/planning"]
    ent_ex, ent_pl = p["entropy/execution"], p["entropy/planning"]
    sem, other = p["semantic/entropy_bits"], p["semantic/other_conditional_bits"]
    width = edge_width(steps)
    lines = [
        f"Start = mean of the first {width} steps, end = mean of the last {width} (step {steps - width} to "
        f"{steps - 1}); changes are paired by seed, with 95% intervals over {len(p['seeds'])} seeds. Token "
        "statistics are over each step's own rollouts (the policy's samples), as in the paper.",
        "",
        "| quantity | start | end | change |",
        "|---|---|---|---|",
    ]
    for key, label, digits in (("entropy/execution", "token entropy, execution (nats)", 3),
                               ("entropy/planning", "token entropy, planning (nats)", 3),
                               ("ppl/execution", "perplexity, execution tokens", 3),
                               ("ppl/planning", "perplexity, planning tokens", 3),
                               ("ppl_rel/execution", "relative perplexity, execution tokens", 3),
                               ("ppl_rel/planning", "relative perplexity, planning tokens", 3),
                               ("semantic/entropy_bits", "semantic entropy of planning phrases (bits)", 2),
                               ("semantic/other_conditional_bits", "semantic entropy, other grams (bits)", 2),
                               ("acc/batch", "batch accuracy", 3),
                               ("len/mean", "response length (tokens)", 1)):
        d, fmt = p[key], "{:.%df}" % digits
        lines.append(f"| {label} | {fmt.format(d['start']['mean'])} | {fmt.format(d['end']['mean'])} | "
                     f"{ci_text(d['change'], scale=1.0, unit='', digits=digits)} |")
    lines.append("")
    falls = ent_ex["change"]["n"] > 1 and ent_ex["change"]["high"] < 0
    if falls:
        lines.append(
            f"**Phase 1 (execution consolidates): appears, weakly.** Execution-token entropy falls by "
            f"{-100 * _relative(ent_ex):.0f}% ({ent_ex['start']['mean']:.3f} to {ent_ex['end']['mean']:.3f} nats, "
            f"change {ci_text(ent_ex['change'], 1.0, '', digits=3)}); planning-token entropy changes by "
            f"{100 * _relative(ent_pl):+.0f}%. The relative perplexity of execution tokens moves "
            f"little ({ex['end']['mean']:.3f} at the end; planning {pl['end']['mean']:.3f}): the bundled model "
            f"starts out nearly certain of its execution tokens (perplexity {p['ppl/execution']['start']['mean']:.2f}; "
            "the paper's models start at 1.3 to 1.7), so there is little left to consolidate. Its execution "
            "errors are confident mistakes, which sampling less randomly does not fix.")
    else:
        lines.append(
            "**Phase 1 (execution consolidates): does not appear.** Execution-token entropy changes by "
            f"{ci_text(ent_ex['change'], 1.0, ' nats', digits=3)} and the relative perplexity of execution tokens "
            f"by {ci_text(ex['change'], 1.0, '', digits=3)}.")
    strategy, execution = p.get("errors/strategy", {}), p.get("errors/execution", {})
    if strategy and execution:
        first, last = min(strategy, key=int), max(strategy, key=int)
        gone = [k for k in sorted(strategy, key=int) if strategy[k] <= 0.01]
        lines += ["", f"Held-out error types: strategy errors fall from "
                      f"{pct(strategy[first])} to {pct(strategy[last])} of samples"
                      + (f" (under 1% from step {gone[0]})" if gone else "")
                      + f", execution errors from {pct(execution[first])} to {pct(execution[last])}. "
                      "As in the paper, RL removes planning errors (here: dead ends, give-ups) much faster "
                      "than execution errors; execution, the low-level skill, stays the bottleneck."]
    lines.append("")
    sem_change = sem["change"]
    r = p["semantic_accuracy_r"]
    if sem_change["n"] > 1 and sem_change["low"] > 0:
        lines.append(f"**Phase 2 (strategy exploration): appears.** The semantic entropy of planning phrases rises "
                     f"by {ci_text(sem_change, 1.0, ' bits', digits=2)} while accuracy rises (correlation of the "
                     f"smoothed curves r = {r['mean']:.2f}).")
    elif sem_change["n"] > 1 and sem_change["high"] < 0:
        lines.append(
            f"**Phase 2 (strategy exploration): does not appear.** The semantic entropy of planning phrases "
            f"changes by {ci_text(sem_change, 1.0, ' bits', digits=2)} from {sem['start']['mean']:.2f} bits: it "
            f"falls while accuracy rises (correlation of the smoothed curves r = {r['mean']:.2f}). The paper saw it "
            "rise. Our reading: the bundled task has a small, fixed repertoire of strategies and the base policy "
            "already samples all of them, the unproductive ones included. There is nothing new to discover, so "
            "RL prunes the repertoire instead of widening it. The diversity of the other phrases changes by "
            f"{ci_text(other['change'], 1.0, ' bits', digits=2)}.")
    else:
        lines.append(f"**Phase 2 (strategy exploration): no measurable change** in the semantic entropy of "
                     f"planning phrases ({ci_text(sem_change, 1.0, ' bits', digits=2)}).")
    return lines


def write_report(cfg: StudyConfig) -> Path:
    runs = load_runs(cfg)
    results = analyse(cfg, runs)
    docs = Path(cfg.docs)
    figs = docs / "study"
    figs.mkdir(parents=True, exist_ok=True)
    figure_dynamics(cfg, runs["grpo"], figs / "dynamics.png")
    figure_accuracy(cfg, runs, figs / "accuracy.png")
    figure_semantic_errors(cfg, runs, figs / "semantic-errors.png")
    figure_ablations(results, figs / "ablations.png")
    (figs / "results.json").write_text(json.dumps(results, indent=2, default=float) + "\n")
    mined = Path(cfg.out) / "mined-sg.json"
    if mined.exists():  # the mined set the arms used, next to the report (runs/ is not committed)
        shutil.copyfile(mined, figs / "mined-sg.json")
    path = docs / "study.md"
    path.write_text("\n".join(report_lines(cfg, results)) + "\n")
    return path


def command_line(cfg: StudyConfig) -> str:
    default = StudyConfig()
    flags = [f"--{k.replace('_', '-')} {v}" for k, v in asdict(cfg).items() if v != getattr(default, k)]
    return " ".join(["python -m training.study"] + flags)


def report_lines(cfg: StudyConfig, res: dict) -> list[str]:
    g = res["groups"]
    grpo, hicra = g["grpo"], g.get("hicra")
    runtime = res.get("runtime", {})
    run = preset(cfg.preset)
    minutes = runtime.get("train_seconds", float("nan")) / 60
    n_arms = sum(len(v["seeds"]) for v in g.values())
    lines = [
        "# Study: the two phases, and HICRA vs GRPO, on the bundled task",
        "",
        "Generated by `python -m training.study` from the runs it trained; every number below is computed by "
        "`training/study_report.py` from the runs' `metrics.jsonl` (all of them are in "
        "[`study/results.json`](study/results.json)). Rerun the command to check them.",
        "",
        "## Setup",
        "",
        f"- Command: `{command_line(cfg)}` (the figures and this page: add `--report-only` to redraw them "
        "from existing runs).",
        f"- Runtime: {minutes:.0f} minutes of training for {n_arms} runs on {runtime.get('cores', '?')} CPU cores "
        f"({runtime.get('workers', '?')} runs at once).",
        f"- Every arm: preset `{cfg.preset}` (model `{run.model}`, task `{run.task}`, LoRA r={run.lora_r}, "
        f"{run.prompts_per_step} prompts x {run.group_size} responses a step at temperature {run.temperature:g}, "
        f"lr {run.lr:g}), {cfg.steps} steps. Held-out evaluation every {cfg.eval_every} steps: the same "
        f"{cfg.eval_n} problems, {run.eval_samples} samples each at temperature {run.eval_temperature:g} "
        f"(avg@{run.eval_samples}).",
        f"- Seeds: GRPO and HICRA {cfg.seeds}; ablations and SG sources {cfg.ablation_seeds}. Arms with the same "
        "seed get the same prompts, the same sampling random numbers, the same initial adapter and the same "
        "evaluation samples' random numbers, so differences are paired by seed.",
        "- Intervals are 95% t intervals across seeds. A difference whose interval includes zero is reported as "
        "no measurable difference.",
        "",
    ]
    lines += ["## 1. Training dynamics under GRPO: do the two phases appear?", "",
              "![GRPO training dynamics](study/dynamics.png)", ""]
    lines += phase_text(res["phases"], cfg.steps)
    lines += ["", "## 2. HICRA vs GRPO", "", "![Held-out accuracy, HICRA vs GRPO](study/accuracy.png)", ""]
    if hicra:
        d = hicra["final_minus_grpo"]
        m = hicra["mean_after_0_minus_grpo"]
        lines += [
            f"- Final held-out accuracy (step {cfg.steps}): GRPO {ci_text(grpo['final_accuracy'], unit='%', signed=False)}, "
            f"HICRA {ci_text(hicra['final_accuracy'], unit='%', signed=False)}.",
            f"- HICRA minus GRPO, paired by seed: {ci_text(d)} (**{verdict(d)}**).",
            f"- Mean held-out accuracy over the evaluations after step 0 (the area under the curve): "
            f"HICRA minus GRPO {ci_text(m)} (**{verdict(m)}**).",
            f"- Steps to reach {pct(cfg.threshold)} held-out accuracy: GRPO {steps_text(grpo)}, "
            f"HICRA {steps_text(hicra)}; paired difference {ci_text(hicra['steps_minus_grpo'], 1.0, ' steps', digits=0)} "
            f"(**{verdict(hicra['steps_minus_grpo'], 'HICRA slower', 'HICRA faster')}**).",
            f"- Semantic entropy at the end (mean of the last {edge_width(cfg.steps)} steps), HICRA minus GRPO: "
            f"{ci_text(res['semantic_end_hicra_minus_grpo'], 1.0, ' bits', digits=2)} "
            f"(**{verdict(res['semantic_end_hicra_minus_grpo'])}**).",
            f"- Held-out errors at the end: strategy errors GRPO {pct(grpo['final_strategy_errors']['mean'])}, "
            f"HICRA {pct(hicra['final_strategy_errors']['mean'])} of samples; execution errors GRPO "
            f"{pct(grpo['final_execution_errors']['mean'])}, HICRA {pct(hicra['final_execution_errors']['mean'])}.",
            "",
            "![Semantic entropy and error types over training](study/semantic-errors.png)",
            "",
        ]
    lines += ["## 3. Ablations and planning-phrase sources", "",
              "Each row against GRPO on the seeds both have (paired).", "",
              "| arm | seeds | final accuracy | minus GRPO | verdict | mean accuracy after step 0, minus GRPO | "
              f"reached {pct(cfg.threshold)} | strategy errors | execution errors | planning-token share |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for group in GROUPS:
        if group not in g:
            continue
        d = g[group]
        diff = "-" if group == "grpo" else ci_text(d["final_minus_grpo"])
        word = "-" if group == "grpo" else verdict(d["final_minus_grpo"])
        auc = "-" if group == "grpo" else ci_text(d["mean_after_0_minus_grpo"])
        lines.append(f"| {GROUPS[group][0]} | {','.join(map(str, d['seeds']))} | "
                     f"{ci_text(d['final_accuracy'], unit='%', signed=False)} | {diff} | {word} | {auc} | "
                     f"{d['reached']}/{len(d['seeds'])} | {pct(d['final_strategy_errors']['mean'])} | "
                     f"{pct(d['final_execution_errors']['mean'])} | {pct(d['final_planning_ratio']['mean'])} |")
    lines += ["", "![Final accuracy minus GRPO's, by arm](study/ablations.png)", "",
              "The planning-token share is measured with each arm's own SG set on its final held-out samples; "
              "the ground-truth set marks exactly the task's planning phrases, the mined set was mined by "
              "`lab.mine` (default settings) from correct worked solutions of training problems "
              "([`study/mined-sg.json`](study/mined-sg.json)), the generic preset is the hand-written "
              "`math-compact` list.",
              ""]
    lines += ["## 4. Conclusions", ""] + conclusions(cfg, res) + [""]
    lines += ["## Limits", "",
              ("- The bundled model has under a million parameters and the task is synthetic, with planning "
               "phrases known exactly; the paper's models (4B to 8B parameters) are thousands of times larger "
               "and reason in open language." if run.model == "tiny" else
               f"- One model (`{run.model}`) and one task (`{run.task}`)."),
              f"- {len(grpo['seeds'])} seeds for the main comparison and {cfg.eval_n} x {run.eval_samples} held-out "
              "samples per "
              "evaluation: a difference of a few points can hide inside the intervals.",
              f"- {cfg.steps} steps a run. Over the last evaluations GRPO's held-out accuracy still moved by "
              f"{ci_text(res['late_gain_grpo'])} (step {res['late_from']} to {cfg.steps}, paired by seed): "
              + ("the curves have not settled." if res["late_gain_grpo"]["n"] > 1 and res["late_gain_grpo"]["low"] > 0
                 else "not measurably different from flat, though the interval leaves room for a few more "
                      "points."), ""]
    return lines


def steps_text(d: dict) -> str:
    n = len(d["seeds"])
    if not d["reached"]:
        return f"not reached by any of {n} seeds"
    return (f"step {ci_text(d['steps_to_threshold_mean'], 1.0, '', signed=False, digits=0)} "
            f"({d['reached']} of {n} seeds reached it)")


def conclusions(cfg: StudyConfig, res: dict) -> list[str]:
    g = res["groups"]
    out = []
    if "hicra" in g:
        d = g["hicra"]["final_minus_grpo"]
        word = verdict(d)
        if word == "no measurable difference":
            out.append(f"- HICRA vs GRPO: **no measurable difference** in final held-out accuracy "
                       f"({ci_text(d)}, {d['n']} seeds). The paper notes a boundary condition: HICRA helps a "
                       "model that already executes reliably (it did not help Llama-3.1-8B-Instruct); here "
                       f"{pct(g['grpo']['final_execution_errors']['mean'])} of GRPO's final held-out samples "
                       "still fail on execution.")
        else:
            out.append(f"- HICRA's final held-out accuracy is **{word}** than GRPO's by {ci_text(d)} ({d['n']} seeds).")
    for group in ("hicra-entropy", "hicra-placebo", "hicra-mined", "hicra-generic"):
        if group in g:
            d = g[group]["final_minus_grpo"]
            out.append(f"- {GROUPS[group][0]}: {verdict(d)} vs GRPO ({ci_text(d)}).")
    if "semantic_end_hicra_minus_grpo" in res:
        d = res["semantic_end_hicra_minus_grpo"]
        word = verdict(d)
        if word in ("higher", "lower"):
            out.append(f"- HICRA ends with {word} semantic entropy of planning phrases than GRPO "
                       f"({ci_text(d, 1.0, ' bits', digits=2)})"
                       + (": it keeps more variety in its plans, though here without a measurable gain in "
                          "accuracy." if word == "higher" else "."))
    phases = res["phases"]
    sem, ent = phases["semantic/entropy_bits"]["change"], phases["entropy/execution"]
    out.append(f"- Under GRPO, execution-token entropy falls by {-100 * _relative(ent):.0f}% "
               f"({ci_text(ent['change'], 1.0, ' nats', digits=3)}) and the semantic entropy of planning phrases "
               f"changes by {ci_text(sem, 1.0, ' bits', digits=2)}: " +
               ("it rises, as in the paper." if sem["n"] > 1 and sem["low"] > 0 else
                "it falls, unlike the paper (see section 1)." if sem["n"] > 1 and sem["high"] < 0 else
                "no measurable change."))
    return out
