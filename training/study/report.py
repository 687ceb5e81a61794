"""The study's page: ``DOCS/study.md``, its figures and ``DOCS/study/results.json``.

Every number the page quotes is in ``results.json`` and is computed by
:mod:`training.study.analysis` from the arms' ``metrics.jsonl``. A difference
whose interval includes zero is reported as no measurable difference.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import asdict
from pathlib import Path

from training.config import preset
from training.study.sweep import GROUPS, StudyConfig
from training.study.analysis import analyse, edge_width, load_runs
from training.study.figures import figure_ablations, figure_accuracy, figure_dynamics, figure_semantic_errors


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
        "`training/study/analysis.py` from the runs' `metrics.jsonl` (all of them are in "
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
