"""Study 3's page, ``DOCS/study3.md``: every sentence chosen by the numbers of :mod:`training.study.study3_analysis`.

:func:`render` is pure (analysis, deviations and the plan's commit in,
Markdown out), so a test feeds it synthetic results and checks that the
claims flip with the data: a difference is stated only when its Holm-level
interval excludes zero; otherwise the page says "not detected" and prints
the MDE. Before every planned seed has all its arms the page says the study
is incomplete and states no primary result (the plan's stopping rule).
"""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

from training.study.report import iv_text, runtime_clause, signed
from training.study.study3_analysis import (COMPARISONS, FAMILY, LABELS, PLAN_FILE, SECONDARY, Study3Config, analyse,
                                            configs, deviations, load, machines, mixed_seeds, seed_ranges)
from training.study.sweep import GROUPS, ROOT

NAMES = {"grpo": "GRPO", "hicra": "HICRA (alpha 0.2)", "placebo": "the placebo", "alpha-1.0": "HICRA alpha 1.0"}


def git(*args: str) -> str:
    """A git command's output in the repository ('' when git or the history is not there)."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance(cfg: Study3Config) -> dict:
    """The plan's commits (first and last touching it) and the first commit that added a Study 3 record, from git
    log; ``precedes`` says whether the plan's first commit is an ancestor of that record's commit."""
    log = git("log", "--format=%H %cI", "--", PLAN_FILE).splitlines()
    plan = log[-1].split() if log else []
    last = log[0].split() if log else []
    runs = (cfg.folder / "runs").relative_to(ROOT).as_posix() if cfg.folder.is_relative_to(ROOT) else ""
    added = git("log", "--diff-filter=A", "--format=%H %cI", "--", runs).splitlines() if runs else []
    first = added[-1].split() if added else []
    precedes = None
    if plan and first:
        precedes = subprocess.run(["git", "merge-base", "--is-ancestor", plan[0], first[0]], cwd=ROOT,
                                  capture_output=True).returncode == 0
    return {"plan": plan, "plan_last": last, "first_record": first, "precedes": precedes}


def provenance_lines(prov: dict) -> list[str]:
    if not prov.get("plan"):
        return [f"The plan `{PLAN_FILE}` has no commit in this checkout's history (a copy without git?): its "
                "precedence over the records cannot be checked here."]
    lines = [f"Pre-registration: `{PLAN_FILE}`, committed in `{prov['plan'][0]}` ({prov['plan'][1]})."]
    if prov.get("plan_last") and prov["plan_last"][0] != prov["plan"][0]:
        lines.append(f"The plan file was changed after that, last in `{prov['plan_last'][0]}`: `git diff "
                     f"{prov['plan'][0][:10]} {prov['plan_last'][0][:10]} -- {PLAN_FILE}` shows how.")
    if prov.get("first_record"):
        order = ("precedes it" if prov["precedes"] else "does **not** precede it (a deviation)")
        lines.append(f"The first Study 3 record was committed in `{prov['first_record'][0]}` "
                     f"({prov['first_record'][1]}); the plan's commit {order}.")
    else:
        lines.append("No Study 3 record is committed yet.")
    return lines


def primary_sentence(name: str, c: dict, seeds: int) -> str:
    """A co-primary's result: a difference only when its Holm-level interval excludes zero."""
    treated, base = (NAMES[g] for g in reversed(COMPARISONS[name]))
    d, h = c["difference"], c.get("holm_interval")
    if d["n"] < 2 or h is None or math.isnan(h["low"]):
        return f"{treated} - {base}: too few complete seeds for an interval ({iv_text(d, ' points')})."
    level = f"{100 * c['level']:g}%"
    holm_iv = f"[{signed(h['low'], 1)}, {signed(h['high'], 1)}]"
    power = (f"paired t p {c['p']:.3g}; paired sd {c['sd']:.2f} points; with these {seeds} seeds a difference of "
             f"{c['mde']:.1f} points or more would have been detected with 80% power (MDE, two-sided alpha 0.025)")
    if h["low"] > 0 or h["high"] < 0:
        side = "ahead of" if h["low"] > 0 else "behind"
        return (f"**{treated} is {side} {base} at step 50**: {iv_text(d, ' points')} (95% interval); Holm-adjusted "
                f"p {c['p_holm']:.3g}; its Holm-level {level} interval {holm_iv} excludes zero, so the study "
                f"counts it as a difference; {power}.")
    return (f"**Not detected**: {treated} - {base} at step 50, {iv_text(d, ' points')} (95% interval); "
            f"Holm-adjusted p {c['p_holm']:.3g}; its Holm-level {level} interval {holm_iv} includes zero; {power}.")


def secondary_sentence(name: str, c: dict) -> str:
    treated, base = (NAMES[g] for g in reversed(COMPARISONS[name]))
    d = c["difference"]
    seen = "its 95% interval excludes zero (a lead, not a test)" if d["n"] > 1 and (d["low"] > 0 or d["high"] < 0) \
        else "its 95% interval includes zero"
    stats = "" if math.isnan(c["mde"]) else \
        f"; paired t p {c['p']:.3g}, paired sd {c['sd']:.2f} points, MDE {c['mde']:.1f} points"
    return f"{treated} - {base} at step 50: {iv_text(d, ' points')}: {seen}{stats}."


def render(res: dict, cfg: Study3Config, devs: list[str], prov: dict, figures: dict | None = None,
           runtime: dict | None = None, where: dict[str, dict] | None = None,
           unmixed: dict | None = None) -> str:
    """The page. ``where``: :func:`machines`; ``unmixed``: :func:`analyse` without the seeds whose arms ran on
    more than one machine (a check the plan did not name; only once the study is complete)."""
    n_plan, n_done = len(res["planned_seeds"]), len(res["seeds"])
    total = len(cfg.arms())
    done = sum(res["counts"].values())
    lines = ["# Study 3: HICRA at a fixed step budget (pre-registered)", "",
             "Generated by `python -m training.study.study3` from the compact records in `docs/study3/runs/`; every "
             "number is computed by `training/study/study3_analysis.py`, every sentence by "
             "`training/study/study3_report.py`. The plan: [study3-plan.md](study3-plan.md).", "",
             *provenance_lines(prov), "",
             "## Design (the plan's)", "",
             f"- Regime `{cfg.regimes}`; arms: " + "; ".join(NAMES.get(g, GROUPS[g].label) for g in
                                                          cfg.list_of("groups", str)) + ".",
             f"- {cfg.steps} steps per run (the fixed budget); held-out evaluation every {cfg.eval_every} steps on "
             f"{cfg.eval_n} problems x {cfg.eval_samples} samples (T=0.6, evaluation seed {cfg.eval_seed}); "
             f"seeds {res['planned_seeds'][0]}-{res['planned_seeds'][-1]} ({n_plan}), paired by seed.",
             "- Primary: HICRA - GRPO held-out accuracy at step 50; co-primary: HICRA - placebo; Holm over the two "
             "(the smaller p at 0.025, the other at 0.05 if the first holds). MDE at 80% power, two-sided alpha "
             "0.025, from the measured paired sd. Dose arm (HICRA alpha 1.0) and the rest: secondary, uncorrected.",
             "", f"Progress: {done} of {total} planned runs have records; {n_done} of {n_plan} seeds are complete "
                 f"(all four arms){runtime_clause(runtime)}.", "",
             "Run (resumable; a call may stop anywhere, the next one continues): `python -m training.study.study3 "
             "--workers 2` (add `--max-runs N` to stop after N runs; `--dry-run` lists what would train). Commit "
             "`docs/study3/runs/` after each call; `python -m training.study.study3 --report-only` redraws this "
             "page from the committed records on a fresh clone.", ""]
    lines += ["## Primary and co-primary", ""]
    if not res["complete"]:
        lines.append(f"**Incomplete**: {n_done} of {n_plan} planned seeds are complete. The pre-registered "
                     "analysis needs every planned seed, so no primary result is stated (the plan's stopping "
                     "rule).")
    else:
        lines += [f"- {primary_sentence(n, res['comparisons'][n]['accuracy'], n_done)}" for n in FAMILY
                  if n in res["comparisons"]]
    lines += ["", "## Dose arm (secondary)", ""]
    dose = [n for n in COMPARISONS if n not in FAMILY and n in res["comparisons"]]
    if res["complete"] and dose:
        lines += [f"- {secondary_sentence(n, res['comparisons'][n]['accuracy'])}" for n in dose]
    else:
        lines.append("Not stated before the study is complete.")
    if res["complete"]:
        lines += ["", "## Secondary outcomes (exploratory, uncorrected)", "",
                  "| comparison | " + " | ".join(LABELS[k] for k in SECONDARY) + " |",
                  "|---|" + "---|" * len(SECONDARY)]
        for name, c in res["comparisons"].items():
            lines.append(f"| {name} | " + " | ".join(iv_text(c[k]["difference"], digits=2) for k in SECONDARY) + " |")
        fit_n = {n: c["steps_to_fit"]["difference"]["n"] for n, c in res["comparisons"].items()}
        if any(k < n_done for k in fit_n.values()):
            lines += ["", "The steps until the fitted share reaches 0.8 exist only for seeds where both arms of a "
                          "comparison reach it within the 50 steps (" + ", ".join(f"{n}: {k} of {n_done}" for n, k in
                                                                              fit_n.items()) +
                      "): that column compares the seeds that got there, not all seeds."]
        lines += ["", "Mean held-out accuracy (points) by step, complete seeds:", "",
                  "| arm | " + " | ".join(f"step {s}" for s in next(iter(res["curves"].values()), {})) + " |",
                  "|---|" + "---|" * len(next(iter(res["curves"].values()), {}))]
        lines += [f"| {NAMES.get(g, g)} | " + " | ".join(f"{v:.1f}" for v in curve.values()) + " |"
                  for g, curve in res["curves"].items()]
    if figures and figures.get("accuracy"):
        lines += ["", f"![held-out accuracy by step]({figures['accuracy']})"]
    if where:
        lines += ["", "## Where the runs ran", "",
                  "From each record's `status.json` (`machine`). Every run trains on the CPU. Machines may differ "
                  "in the last bits of their arithmetic, so a seed rerun elsewhere can sample different text.", ""]
        lines += [f"- seeds {seed_ranges(row['seeds'])}: {label}" for label, row in where.items()]
        split = mixed_seeds(where)
        if split:
            lines += ["", f"The arms of seed(s) {seed_ranges(split)} ran on more than one machine: their paired "
                          "differences mix machines."]
            if res["complete"] and unmixed and unmixed.get("comparisons"):
                lines += ["", f"Without seed(s) {seed_ranges(split)} (a check the plan did not name; same "
                              "analysis, no Holm step):", ""]
                lines += [f"- {NAMES[COMPARISONS[n][1]]} - {NAMES[COMPARISONS[n][0]]} at step 50: "
                          f"{iv_text(unmixed['comparisons'][n]['accuracy']['difference'], ' points')} (95% interval)"
                          for n in FAMILY if n in unmixed["comparisons"]]
        else:
            lines += ["", "The arms of each seed ran on one machine, so no paired difference mixes machines."]
        step0 = sorted({a for row in where.values() for a in row["step0"]})
        if len(where) > 1 and len(step0) == 1:
            lines += ["", f"The step-0 evaluation (the same base model and evaluation seed in every run) gives "
                          f"held-out accuracy {100 * step0[0]:.3f}% in every run on every machine (the same number of "
                          "correct samples out of 3,880)."]
        elif len(step0) > 1:
            lines += ["", "The step-0 evaluation (the same base model and evaluation seed in every run) differs "
                          "between runs: " + "; ".join(f"{label.split(';')[0]}: " + ", ".join(
                              f"{100 * a:.3f}%" for a in row["step0"]) for label, row in where.items())
                      + ". The machines' sampling does not agree exactly."]
    lines += ["", "## Deviations from the plan", ""]
    lines += [f"- {d}" for d in devs] if devs else ["None."]
    return "\n".join(lines) + "\n"


def write_report(cfg: Study3Config) -> Path:
    """Analyse the records and write the page, ``results.json`` and (with records) the accuracy figure."""
    from training.study import figures as F

    runs = load(cfg)
    res = analyse(cfg, runs)
    where = machines(cfg)
    devs = deviations(cfg, configs(cfg), res, where)
    out = cfg.folder
    out.mkdir(parents=True, exist_ok=True)
    figs = {}
    figure = out / "accuracy.png"
    if res["complete"]:
        complete = {g: {s: runs[g][s] for s in res["seeds"]} for g in res["groups"]}
        figs["accuracy"] = "study3/" + F.accuracy_curves({cfg.regimes: complete}, figure).name
    elif figure.exists():  # drawn by an earlier version while incomplete: an interim look the plan rules out
        figure.unlink()
    prov = provenance(cfg)
    safe = {k: v for k, v in res.items() if k not in ("comparisons", "arms", "curves")}
    if res["complete"]:  # the plan's stopping rule: no interim look at any difference, on the page or here
        safe["arms"], safe["curves"] = res["arms"], res["curves"]
        safe["comparisons"] = {n: {k: {kk: vv for kk, vv in v.items() if kk != "diffs"} for k, v in c.items()}
                               for n, c in res["comparisons"].items()}
    (out / "results.json").write_text(json.dumps({"results": safe, "deviations": devs, "provenance": prov},
                                                 indent=2, default=str) + "\n")
    page = cfg.folder.parent / "study3.md"
    runtime_path = out / "runtime.json"
    runtime = json.loads(runtime_path.read_text()) if runtime_path.exists() else None
    mixed = mixed_seeds(where)
    unmixed = None
    if res["complete"] and mixed:  # the co-primaries without the pairs that mix machines
        unmixed = analyse(cfg, {g: {s: r for s, r in by_seed.items() if s not in mixed} for g, by_seed in runs.items()})
    page.write_text(render(res, cfg, devs, prov, figs, runtime, where, unmixed))
    return page
