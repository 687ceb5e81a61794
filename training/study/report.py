"""Study 2's page, ``DOCS/study.md``: every sentence computed from the analysis.

A claim appears only when its interval supports it; otherwise the page
says that no difference was detected and how large a difference the seeds
run could have detected (80% power). Comparisons with the paper state the
paper's figure and ours. The paper's boundary condition is labelled as the
hypothesis it is here. :func:`render` is pure (analysis in, Markdown out),
so a test can feed it synthetic results with opposite outcomes.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from training.hierarchy.stats import seeds_for_effect
from training.study.analysis import ADDED_LATER, LABELS, PRIMARY, SECONDARY, analyse, label, load
from training.study.sweep import GROUPS, HARD_ERROR, ROOT, StudyConfig, reliability, top_up

TARGET_MDE = StudyConfig().target_mde  # points: the design's target for the main comparisons' MDE
PAPER_GAINS = "0.7 to 8.4 points (pass@1, HICRA minus GRPO, across its models and benchmarks)"
PAPER_PLACEBO = "HICRA 18.8 / 14.8 against placebo 14.6 / 9.3 (AIME24 / AIME25, Qwen2.5-7B-Base)"


def by_reliability(per_regime: dict) -> list[tuple[str, dict]]:
    """``(regime, value)`` pairs, the most reliable execution (lowest hard-product error) first."""
    return sorted(per_regime.items(), key=lambda item: reliability(item[0]))


def signed(x: float, digits: int) -> str:
    """``x`` with its sign, without a "-0.0" for a value that rounds to zero."""
    text = f"{x:+.{digits}f}"
    return "+" + text[1:] if float(text) == 0 else text


def iv_text(d: dict, unit: str = "", digits: int = 1) -> str:
    """``mean [low, high] (n=N)``; an interval that excludes zero gets the digits it needs for no end to
    print as zero."""
    if math.isnan(d["mean"]):
        return f"no estimate yet (n={d['n']})"
    if d["n"] < 2 or math.isnan(d["low"]):
        return f"{signed(d['mean'], digits)}{unit} (n={d['n']}, no interval)"
    while sign(d) and digits < 4 and 0.0 in (round(d["low"], digits), round(d["high"], digits)):
        digits += 1
    return (f"{signed(d['mean'], digits)}{unit} [{signed(d['low'], digits)}, {signed(d['high'], digits)}] "
            f"(n={d['n']})")


def did_text(boundary: dict) -> str:
    """The difference in differences with its interval and both regimes' seed counts (Welch's interval has no
    single n)."""
    text = iv_text(boundary["did"], " points")
    seeds = boundary.get("did_seeds")
    if seeds and text.endswith(f"(n={boundary['did']['n']})"):
        text = text.rsplit("(", 1)[0] + f"({seeds[0]} and {seeds[1]} seeds)"
    return text


def sign(d: dict) -> int:
    """+1 / -1 when the 95% interval lies above / below zero; 0 when it includes zero or is missing."""
    if d["n"] < 2 or math.isnan(d["low"]):
        return 0
    return 1 if d["low"] > 0 else (-1 if d["high"] < 0 else 0)


def primary_sentence(name: str, c: dict) -> str:
    """One comparison's primary outcome, in words that follow its interval."""
    d = c[PRIMARY]["difference"]
    mde = c[PRIMARY]["mde"]
    what = {"hicra-grpo": ("HICRA", "GRPO"), "hicra-placebo": ("HICRA", "the placebo")}.get(
        name, (label(name.rsplit("-grpo", 1)[0]), "GRPO"))
    if d["n"] < 2:
        return (f"{what[0]} against {what[1]}: too few seeds to test yet: final held-out accuracy "
                f"{iv_text(d, ' points')}.")
    if sign(d):
        side = "ahead of" if sign(d) > 0 else "behind"
        p_holm = c[PRIMARY].get("p_holm", float("nan"))
        only = " by this comparison's own interval" if p_holm >= 0.05 else ""  # False for nan
        return f"{what[0]} ends {side} {what[1]}{only}: final held-out accuracy {iv_text(d, ' points')}" \
               f"{family_clause(c[PRIMARY])}."
    power = "" if math.isnan(mde) else f"; with these seeds a difference of {mde:.1f} points or more would have " \
                                       f"been detected with 80% power"
    return f"No difference detected between {what[0]} and {what[1]}: final held-out accuracy " \
           f"{iv_text(d, ' points')}{power}."


def family_clause(c: dict) -> str:
    """For a main comparison whose interval excludes zero: whether it holds after Holm's correction across the
    main comparisons (empty for the extras, which are not in that family)."""
    if math.isnan(c.get("p_holm", float("nan"))):
        return ""
    k = c["family"]
    if c["p_holm"] < 0.05:
        return f"; it holds after Holm's correction for the {k} main comparisons (adjusted p {c['p_holm']:.3f})"
    return (f"; unadjusted p {c['p']:.3f}, but after Holm's correction for the {k} main comparisons p is "
            f"{c['p_holm']:.2f}, so the study does not count it as a difference")


def secondary_cell(c: dict) -> str:
    """One secondary comparison's table cell; an outcome equal in every run of both arms says so, since its
    zero interval would read as precision it does not have."""
    if c.get("constant") is not None:
        return f"no resolution (every run: {c['constant']:g})"
    return iv_text(c["difference"], digits=2)


def seeds_needed(c: dict, target: float = TARGET_MDE) -> str:
    """When a comparison misses the design's MDE target: how many seeds would meet it at the measured sd."""
    if math.isnan(c["mde"]) or c["mde"] <= target:
        return ""
    n = seeds_for_effect(c["sd"], target)
    return (f", above the design's target of {target:.1f} points; at this sd the target needs "
            + (f"{n} seeds" if n else "more seeds than the study can run"))


def power_clause(c: dict, cfg: StudyConfig) -> str:
    """A main comparison's power: the paired sd, the MDE for the seeds run and, if it misses the target, the
    seeds that would meet it (empty before two seeds give an sd)."""
    if math.isnan(c["sd"]):
        return ""
    return (f" Paired sd {c['sd']:.2f} points; MDE at 80% power {c['mde']:.1f} points ({c['difference']['n']} "
            f"seeds){seeds_needed(c, cfg.target_mde)}.")


def top_up_sentence(regime: str, plan: dict | None, cfg: StudyConfig) -> str:
    """What the top-up rule decided for one regime, from its pilot's paired sd (empty before the pilot is
    complete)."""
    if plan is None:
        return ""
    sds = ", ".join(f"{name} {v:.2f}" for name, v in plan["sd"].items())
    head = f"- `{regime}`: pilot of {plan['pilot']} seeds, paired sd {sds} points: "
    if not plan["added"]:
        return head + f"no top-up (the target needs {plan['needed']} seeds; the pilot has {plan['pilot']})."
    if plan["needed"] is None:
        return head + (f"the target needs more than {cfg.max_seeds} seeds; topped up to the cap of "
                       f"{plan['pilot'] + len(plan['added'])}.")
    return head + f"the target needs {plan['needed']} seeds; topped up with seeds {plan['added'][0]}-" \
                  f"{plan['added'][-1]}."


def regime_names_clause() -> str:
    """What the regimes are, measured: Study 2 named them planning-bound / intermediate / execution-heavy; the
    forced-plan accuracies (``assets/forced-plans.json``, :mod:`training.bundled.forced`) say how far that holds."""
    path = ROOT / "assets" / "forced-plans.json"
    entries = {e["regime"]: e for e in json.loads(path.read_text())} if path.exists() else {}
    e = entries.get("multiply-planning")
    if e is None:
        return ""
    general = [p["accuracy_where_fits"] for name, p in e["plans"].items() if name != "shortcut"]
    return (f" Study 2 called `multiply-planning` *planning-bound*; it is not: forced to use a general plan, its "
            f"model is right on {min(general):.1%}-{max(general):.1%} of samples (the shortcut, where it fits: "
            f"{e['plans']['shortcut']['accuracy_where_fits']:.1%}), so the regimes differ in the base policy's "
            "carry errors, not in whether execution is reliable (forced-plan accuracies: `assets/forced-plans.md`).")


def posthoc_lines(ph: dict) -> list[str]:
    """Study 2 before convergence (:mod:`training.study.posthoc`): labelled post hoc, as the reason for Study 3."""
    if not ph or not ph.get("regimes"):
        return []
    lines = ["## Before convergence (post hoc: the reason for Study 3)", "",
             "Not named before running, computed after every run had been seen, p-values uncorrected: leads, not "
             "findings. Study 3 ([plan](study3-plan.md), [page](study3.md)) tests the step-50 difference on fresh "
             "seeds. Paired by seed; 95% t intervals.", "",
             "| regime | comparison | training fitting-plan share, mean of steps 0-49 (points) | p | held-out "
             "accuracy at step 50 (points) | p |", "|---|---|---|---|---|---|"]
    for regime, comps in by_reliability(ph["regimes"]):
        for name, c in comps.items():
            f, a = c["fitted_early"], c["accuracy_50"]
            lines.append(f"| `{regime}` | {name} | {iv_text(f)} | {f['p']:.2g} | {iv_text(a)} | {a['p']:.2g} |")
    if ph.get("dose"):
        lines += ["", "Alpha dose-response (`multiply-planning`, each arm minus GRPO): steps until the 10-step mean "
                  "of the training fitting-plan share reaches 0.8:", ""]
        lines += [f"- alpha {d['alpha']}: {iv_text(d, ' steps')}" for d in
                  sorted(ph["dose"].values(), key=lambda d: d["alpha"])]
    return lines + [""]


def render(res: dict, cfg: StudyConfig, runtime: dict | None = None, figures: dict | None = None) -> str:
    figures = figures or {}
    planned: dict[str, dict[str, int]] = {}
    for arm in cfg.arms():
        planned.setdefault(arm.regime, {}).setdefault(arm.group, 0)
        planned[arm.regime][arm.group] += 1
    done = sum(n for r in res["counts"].values() for n in r.values())
    total = sum(n for r in planned.values() for n in r.values())
    lines = [
        "# Study 2: HICRA against GRPO and its placebo, and the paper's boundary condition", "",
        "Generated by `python -m training.study` from the compact records in `docs/study/runs/`; every number "
        "is computed by `training/study/analysis.py`, every sentence by `training/study/report.py` from those "
        "numbers.", "",
        "## Design (named before running, except where marked)", "",
        "- Task regimes: " + ", ".join(f"`{r}` (hard-product error {HARD_ERROR[r]})"
                                       for r in sorted(planned, key=reliability)) + ": the same "
        "plans and habits; only the base policy's carry errors in products by 7, 8 or 9 differ. Each run starts "
        "from "
        "its regime's bundled model and preset." + regime_names_clause(),
        f"- Arms: {'; '.join(f'{label(g)}' for g in GROUPS if g in cfg.groups.split(','))}. The main arms (GRPO, "
        "HICRA, placebo) run on the main seeds; the others in `multiply-planning` on the extra seeds. The "
        "placebo amplifies random spans with the planning mask's token budget; the entropy-only arm the "
        "highest-entropy tokens, as many as the planning tokens.",
        f"- Each run: {cfg.steps} steps; held-out evaluation every {cfg.eval_every} steps and at the end, on the "
        f"same {cfg.eval_n} problems x 4 samples (T=0.6) with the fixed evaluation seed {cfg.eval_seed}. Arms with "
        "the same seed see the same prompts and sampling random numbers: differences are paired by seed.",
        f"- **Primary outcome: {LABELS[PRIMARY]}.** Secondary (exploratory, no correction for their number): "
        + "; ".join(LABELS[k] for k in SECONDARY) + f" (threshold {cfg.threshold:+.2f})."
        + "".join(f" Not named in advance: {LABELS[k]}, {why}." for k, why in ADDED_LATER.items()),
        "- Intervals are 95% t intervals across seeds (paired by seed; Welch for the difference in differences "
        "between regimes). Power: the minimum detectable effect (MDE) at 80% power for the seeds run, from the "
        "measured paired sd. The main comparisons (HICRA - GRPO and HICRA - placebo in every regime) are one "
        "family: a main interval that excludes zero is also tested with the paired t test, its p-value "
        "adjusted by Holm's method across the family, and counted as a difference only if that holds (this "
        "correction was added when the first main interval excluded zero; it was not named before running).",
        f"- Seeds: the main arms on {len(cfg.list_of('seeds'))} seeds (the pilot), the extras on "
        f"{len(cfg.list_of('extra_seeds'))}. Top-up rule (added after the pilot runs of the first regimes had "
        "been seen, to meet the power target; not named before running): once a regime's pilot is complete, "
        "the paired sd of each main comparison's final accuracy over the pilot seeds sets how many seeds an MDE "
        f"of {cfg.target_mde:.1f} points needs, and the regime's main arms get the missing seeds (at most "
        f"{cfg.max_seeds} in all). It reads the pilot's sd only, never its mean difference, so it cannot "
        "steer the result toward either arm; the intervals below are the usual fixed-sample ones.",
        "- Cut to fit two CPU cores: " + f"{cfg.steps} steps per run, evaluations every {cfg.eval_every} steps, "
        "the extras on fewer seeds than the main arms, the placebo outside `multiply-planning` last.",
        "", f"Progress: {done} of {total} planned runs have records"
        + runtime_clause(runtime) + "." + (" **Interim**: every figure below is from the runs with records so far, "
                                           "not the study's result." if done < total else ""), "",
        "| regime | " + " | ".join(label(g) for g in GROUPS) + " |", "|---|" + "---|" * len(GROUPS)]
    for regime, groups in by_reliability(planned):
        have = res["counts"].get(regime, {})
        lines.append(f"| `{regime}` | " + " | ".join(f"{have.get(g, 0)} / {groups[g]}" if g in groups else "-"
                                                     for g in GROUPS) + " |")
    lines += ["", "## Main comparisons (primary outcome)", ""]
    any_main = False
    for regime, r in by_reliability(res["regimes"]):
        comps = r["comparisons"]
        for name in ("hicra-grpo", "hicra-placebo"):
            if name in comps:
                any_main = True
                c = comps[name][PRIMARY]
                lines.append(f"- `{regime}`: {primary_sentence(name, comps[name])}{power_clause(c, cfg)}")
    if not any_main:
        lines.append("No comparison has records yet.")
    plans = [top_up_sentence(r, res.get("top_up", {}).get(r), cfg) for r in sorted(planned, key=reliability)]
    if any(plans):
        lines += ["", "The top-up rule's decisions (from each regime's pilot):", ""] + [p for p in plans if p]
    lines += ["", f"The paper reports HICRA gains of {PAPER_GAINS}, and {PAPER_PLACEBO}; our figures are the "
              "differences above, on a two-digit multiplication task with a tiny model, so they test the mechanism, "
              "not the paper's numbers.", ""]
    if figures.get("accuracy"):
        lines += ["![held-out accuracy (top, at its evaluations) and training accuracy (bottom, every step, 10-step "
                  f"mean) per regime]({figures['accuracy']})", ""]
    lines += posthoc_lines(res.get("posthoc", {}))
    lines += ["## The boundary condition", "",
              "Hypothesis (the paper's, not established here): HICRA helps once execution is reliable, so HICRA - "
              "GRPO should be larger where the base policy's carries are reliable (`multiply-planning`) than "
              "where they fail half the time (`multiply-execution`).", ""]
    b = res.get("boundary", {})
    for regime, d in by_reliability(b.get("per_regime", {})):
        lines.append(f"- HICRA - GRPO in `{regime}` (hard-product error {HARD_ERROR[regime]}): "
                     f"{iv_text(d, ' points')}.")
    if "did" in b:
        d = b["did"]
        verdict = ("larger where execution is reliable, as the hypothesis expects" if sign(d) > 0 else
                   "smaller where execution is reliable, against the hypothesis" if sign(d) < 0 else
                   "not measurably different between the regimes")
        lines.append(f"- Difference in differences (`multiply-planning` minus `multiply-execution`): {did_text(b)}: "
                     f"HICRA's effect is {verdict}.")
    if "slope" in b and math.isnan(b["slope"]["mean"]):
        lines.append(f"- Trend: too few seeds to fit yet (n={b['slope']['n']}).")
    elif "slope" in b:
        d = b["slope"]
        per_tenth = {**d, "mean": d["mean"] / 10, "low": d["low"] / 10, "high": d["high"] / 10}
        lines.append(f"- Trend: HICRA - GRPO changes by {iv_text(per_tenth, ' points')} per 0.1 of hard-product "
                     "error" + (": a measurable trend." if sign(d) else ": no measurable trend."))
    if not b:
        lines.append("- Not enough regimes with records yet.")
    if figures.get("boundary"):
        lines += ["", f"![the boundary condition]({figures['boundary']})"]
    lines += ["", "## Secondary outcomes (exploratory)", "",
              "| regime | comparison | " + " | ".join(LABELS[k] for k in SECONDARY) + " |",
              "|---|---|" + "---|" * len(SECONDARY)]
    for regime, r in by_reliability(res["regimes"]):
        for name, c in r["comparisons"].items():
            cells = [secondary_cell(c[k]) for k in SECONDARY]
            lines.append(f"| `{regime}` | {name} | " + " | ".join(cells) + " |")
    lines += ["", "Shares are in percentage points; an interval that excludes zero here is a lead to test, not a "
              "finding: these comparisons are many and uncorrected.", ""]
    comps = res["regimes"].get("multiply-planning", {}).get("comparisons", {})
    extras = [n for n in comps if n not in ("hicra-grpo", "hicra-placebo")]
    if extras:
        lines += ["## `multiply-planning` extras: ablations and the alpha sweep (primary outcome against GRPO)", ""]
        lines += [f"- {primary_sentence(n, comps[n])}" for n in extras]
        if figures.get("alpha"):
            lines += ["", f"![alpha sweep]({figures['alpha']})"]
        lines.append("")
    return "\n".join(lines) + "\n"


def write_report(cfg: StudyConfig) -> Path:
    from training.study import figures as F

    from training.study import posthoc

    runs = load(cfg)
    res = analyse(cfg, runs)
    res["posthoc"] = posthoc.analyse(runs)
    out = ROOT / cfg.docs / "study"
    out.mkdir(parents=True, exist_ok=True)
    figs = {}
    if runs:
        figs["accuracy"] = "study/" + F.accuracy_curves(runs, out / "accuracy.png").name
    if res.get("boundary", {}).get("per_regime"):
        figs["boundary"] = "study/" + F.boundary(res, out / "boundary.png").name
    alpha = F.alpha_sweep(res, out / "alpha.png")
    if alpha:
        figs["alpha"] = "study/" + alpha.name
    runtime_path = out / "runtime.json"
    runtime = json.loads(runtime_path.read_text()) if runtime_path.exists() else None
    res["top_up"] = {r: top_up(cfg, r) for r in cfg.list_of("regimes", str)}  # what the rule decided, per regime
    (out / "results.json").write_text(json.dumps({"config": asdict(cfg), "results": res}, indent=2) + "\n")
    page = ROOT / cfg.docs / "study.md"
    page.write_text(render(res, cfg, runtime, figs))
    if cfg.docs == StudyConfig().docs:  # the committed study (not a test's or a trial's folder)
        update_readme_summary(ROOT / "docs" / "studies.md", summary(res, cfg, runtime))
    return page


def pace(runtime: dict | None) -> tuple[float, int] | None:
    """``(seconds a run, runs at a time)`` from ``runtime.json``, over the runs trained in one go."""
    if not runtime or not runtime.get("run_seconds") or not runtime.get("runs"):
        return None
    return runtime["run_seconds"] / runtime["runs"], max(1, runtime.get("workers") or 1)


def runtime_clause(runtime: dict | None) -> str:
    """The page's words on what the runs with records took (empty before any)."""
    p = pace(runtime)
    if p is None:
        return ""
    per_run, workers = p
    hours = runtime["run_seconds"] / 3600
    text = (f"; the {runtime['runs']} runs trained in one go took {hours:.1f} run-hours on {runtime.get('cores')} "
            f"cores, {workers} runs at a time (about {hours / workers:.1f} hours of wall time; "
            f"{per_run / 60:.1f} minutes a run)")
    if runtime.get("resumed_runs"):
        text += (f"; {runtime['resumed_runs']} resumed run(s) are left out of the pace (their time before the stop "
                 f"was not recorded)")
    return text


def summary(res: dict, cfg: StudyConfig, runtime: dict | None = None) -> str:
    """The README's few lines on the study: its progress, what it took, and the primary sentences, as
    computed."""
    done = sum(n for r in res["counts"].values() for n in r.values())
    total = len(cfg.arms())
    lines = [f"- Runs with records: {done} of {total}." + (
        f" Interim: {total - done} runs are still to train, so the lines below are not the study's result."
        if done < total else "")]
    if pace(runtime):
        per_run, workers = pace(runtime)
        lines.append(f"- Time: {per_run / 60:.1f} minutes a run, measured over {runtime['runs']} runs, "
                     f"{workers} at a time on {runtime.get('cores')} cores; at that pace the whole sweep is about "
                     f"{per_run * total / workers / 3600:.0f} hours of wall time.")
    for regime, r in by_reliability(res["regimes"]):
        for name in ("hicra-grpo", "hicra-placebo"):
            if name in r["comparisons"]:
                lines.append(f"- `{regime}`: {primary_sentence(name, r['comparisons'][name])}")
    did = res.get("boundary", {}).get("did")
    if did:
        lines.append("- Boundary condition, difference in differences (`multiply-planning` minus "
                     f"`multiply-execution`): "
                     f"{did_text(res['boundary'])}.")
    return "\n".join(lines)


def update_readme_summary(readme: Path, text: str, block: str = "study-summary") -> None:
    """Replace the block between the README's ``<!-- BLOCK:start -->`` and ``<!-- BLOCK:end -->`` markers
    (if it has them)."""
    start, end = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
    if not readme.exists():
        return
    body = readme.read_text()
    if start not in body or end not in body:
        return
    head, rest = body.split(start, 1)
    readme.write_text(head + start + "\n" + text + "\n" + end + rest.split(end, 1)[1])
