"""Study 3's design and numbers: HICRA at a fixed step budget, as pre-registered in ``docs/study3-plan.md``.

The design (:class:`Study3Config`) is Study 2's sweep (:mod:`training.study.sweep`)
with the plan's settings: one regime, four arms, 51 fresh seeds, 50 steps,
every held-out problem x 8 samples. Its runs go seed by seed (all four arms
of a seed before the next), so a sweep cut short holds complete quadruples.

The analysis (:func:`analyse`) uses complete seeds only (every arm has
records), pairs arms by seed, and tests the two co-primaries (:data:`FAMILY`)
with Holm's method: the smaller p at 0.025, the other at 0.05 if the first
held, else at 0.025. Each comparison's *Holm-level interval* is the t
interval at that level, so "its Holm-level interval excludes zero" is the
same statement as "its Holm-adjusted p is below 0.05". The MDE is at 80%
power, two-sided alpha 0.025 (the plan's). :func:`deviations` compares the
config and every record with the plan; nothing here reads a mean difference
to decide what runs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

from training.hierarchy.stats import holm, mean_ci, minimum_detectable_effect, sd, t_test_p
from training.runs import read_jsonl
from training.study.posthoc import steps_to_share
from training.study.sweep import Arm, StudyConfig, finished

PLAN_FILE = "docs/study3-plan.md"
PLAN_SEEDS = tuple(range(100, 151))  # 51 fresh seeds (Study 2: 0-12; the phases study: 0-4)
PLAN_GROUPS = ("grpo", "hicra", "placebo", "alpha-1.0")
PLAN_REGIME = "multiply-execution"
PLAN_EVAL = {"steps": 50, "eval_every": 25, "eval_n": 485, "eval_samples": 8, "eval_temperature": 0.6,
             "eval_seed": 0}
FAMILY = ("hicra-grpo", "hicra-placebo")  # the co-primaries: one family for Holm
COMPARISONS = {  # name -> (baseline group, treated group): treated minus baseline, paired by seed
    "hicra-grpo": ("grpo", "hicra"),
    "hicra-placebo": ("placebo", "hicra"),
    "alpha-1.0-grpo": ("grpo", "alpha-1.0"),
    "alpha-1.0-hicra": ("hicra", "alpha-1.0"),
}
ALPHA_FIRST = 0.025  # Holm's first step over two; the MDE's two-sided alpha
FIT_TARGET = 0.8  # "steps to fitting plans": the 10-step mean of the training fitted share reaches this
WINDOW = 10
DEVIATIONS: tuple[tuple[str, str], ...] = (  # (what differs from the plan, why): appended by hand, with reasons
    ("while the study was incomplete, the page generator drew the arms' held-out accuracy curves over the "
     "complete seeds (docs/study3/accuracy.png, committed with the first records in 298651d and redrawn with "
     "later ones) and wrote the interim comparisons into results.json: an interim look the plan rules out",
     "a generator bug found before any interim figure or number was read; nothing was changed because of "
     "them, and the generator now draws the figure and writes the comparisons only once every planned seed "
     "is complete"),
)
LABELS = {
    "accuracy": "held-out accuracy at step 50 (points)",
    "accuracy_mid": "held-out accuracy at step 25 (points)",
    "auc": "mean held-out accuracy over steps 0-50, trapezoid (points)",
    "pass_at_k": "held-out pass@8 at step 50 (points)",
    "fitted": "held-out share of first plans that fit, step 50 (points)",
    "fitted_train": "training share of first plans that fit, mean over steps 0-49 (points)",
    "steps_to_fit": "steps until the 10-step mean of the training fitted share reaches 0.8",
    "execution_errors": "held-out execution errors at step 50 (points of samples, taxonomy v1)",
    "strategy_errors": "held-out strategy errors at step 50 (points of samples, taxonomy v1)",
}
SECONDARY = tuple(k for k in LABELS if k != "accuracy")


@dataclass(frozen=True)
class Study3Config(StudyConfig):
    out: str = field(default="runs/study3", metadata={"help": "where the runs train (checkpoints; not committed)"})
    docs: str = field(default="docs", metadata={"help": "the page DOCS/study3.md; figures, results and compact "
                                                      "records in DOCS/study3/"})
    regimes: str = field(default=PLAN_REGIME, metadata={"help": "task regime (the plan: multiply-execution)"})
    seeds: str = field(default=",".join(map(str, PLAN_SEEDS)), metadata={"help": "seeds (the plan: 100-150)"})
    extra_seeds: str = field(default="", metadata={"help": "unused in Study 3"})
    groups: str = field(default=",".join(PLAN_GROUPS), metadata={"help": "arms (the plan: grpo, hicra, "
                                                                         "placebo, alpha-1.0)"})
    steps: int = field(default=PLAN_EVAL["steps"], metadata={"help": "optimizer steps per run (the fixed budget)"})
    eval_every: int = field(default=PLAN_EVAL["eval_every"], metadata={"help": "held-out evaluation every N steps"})
    eval_n: int = field(default=PLAN_EVAL["eval_n"], metadata={"help": "held-out problems (485: all of them)"})
    eval_samples: int = field(default=PLAN_EVAL["eval_samples"], metadata={"help": "samples per held-out problem"})
    max_seeds: int = field(default=0, metadata={"help": "no top-up in Study 3 (keep 0)"})

    @property
    def folder(self):
        return super().folder.parent / "study3"

    def arms(self) -> list[Arm]:
        """Seed by seed, every arm of a seed before the next: a cut leaves complete seeds."""
        super().arms()  # the same checks of regimes, groups and ranges
        groups = self.list_of("groups", str)
        return [Arm(r, g, s) for s in self.list_of("seeds") for r in self.list_of("regimes", str) for g in groups]


# ------------------------------------------------------------------ outcomes


def _at(evals: list[dict], step: int, key: str) -> float:
    row = next((r for r in evals if r.get("step") == step), None)
    return float("nan") if row is None or row.get(key) is None else float(row[key])


def outcomes(records: list[dict], step: int) -> dict[str, float]:
    """One run's outcomes (shares in points) at the fixed budget ``step``."""
    evals = [r for r in records if r.get("kind") == "eval"]
    steps = [r for r in records if r.get("kind") == "step" and r["step"] < step]
    out = {"accuracy": 100 * _at(evals, step, "eval/accuracy"),
           "accuracy_mid": 100 * _at(evals, step // 2, "eval/accuracy"),
           "pass_at_k": 100 * _at(evals, step, "eval/pass_at_k"),
           "fitted": 100 * _at(evals, step, "eval/plan/fitted")}
    curve = [(r["step"], r["eval/accuracy"]) for r in evals if r["step"] <= step]
    xs, ys = zip(*curve) if curve else ((), ())
    out["auc"] = 100 * float(np.trapezoid(ys, xs) / (xs[-1] - xs[0])) if len(xs) > 1 else float("nan")
    fitted = np.array([r.get("plan/fitted", np.nan) for r in steps], dtype=float)
    out["fitted_train"] = 100 * float(np.nanmean(fitted)) if len(fitted) else float("nan")
    out["steps_to_fit"] = steps_to_share(steps, "plan/fitted", FIT_TARGET, WINDOW)
    row = next((r for r in evals if r.get("step") == step), {})
    total = sum(row.get(f"eval/errors/{k}", 0) for k in ("correct", "execution", "strategy"))
    for kind in ("execution", "strategy"):
        out[f"{kind}_errors"] = 100 * row.get(f"eval/errors/{kind}", 0) / total if total else float("nan")
    return out


def compare(a: dict[int, dict], b: dict[int, dict], seeds: list[int]) -> dict:
    """``b`` minus ``a`` on ``seeds``, every outcome: the 95% interval, the paired sd, p, and the MDE."""
    out = {}
    for key in LABELS:
        diffs = [b[s][key] - a[s][key] for s in seeds]
        spread = sd(diffs)
        n = len([d for d in diffs if not math.isnan(d)])
        out[key] = {"difference": asdict(mean_ci(diffs)), "sd": spread, "p": t_test_p(diffs), "diffs": diffs,
                    "mde": minimum_detectable_effect(spread, n, level=1 - ALPHA_FIRST)}
    return out


def holm_levels(p: dict[str, float]) -> dict[str, float]:
    """The confidence level at which each co-primary is tested by Holm's method (two comparisons, 0.05).

    >>> holm_levels({"a": 0.01, "b": 0.04})  # a holds at 0.025, so b is tested at 0.05
    {'a': 0.975, 'b': 0.95}
    >>> holm_levels({"a": 0.03, "b": 0.04})  # a fails at 0.025: b is tested at 0.025 too
    {'a': 0.975, 'b': 0.975}
    """
    ranked = sorted((v, k) for k, v in p.items() if not math.isnan(v))
    levels = {k: 1 - 0.05 / len(p) for k in p}
    held = True
    for i, (v, k) in enumerate(ranked):
        alpha = 0.05 / (len(ranked) - i)
        levels[k] = 1 - alpha if held else 1 - 0.05 / len(ranked)
        held = held and v < alpha
    return levels


def complete_seeds(runs: dict, groups: list[str]) -> list[int]:
    """Seeds with records in every arm, in order (the plan analyses complete quadruples only)."""
    have = [set(runs.get(g, {})) for g in groups]
    return sorted(set.intersection(*have)) if have else []


def load(cfg: Study3Config) -> dict[str, dict[int, list[dict]]]:
    """group -> seed -> records, for every finished run with records in ``DOCS/study3/runs``."""
    out: dict = {}
    for arm in cfg.arms():
        folder = cfg.records(arm)
        if finished(folder, cfg.steps):
            out.setdefault(arm.group, {})[arm.seed] = read_jsonl(folder / "metrics.jsonl")
    return out


def configs(cfg: Study3Config) -> dict[tuple[str, int], dict]:
    """(group, seed) -> the run's recorded ``config.json``, for the finished runs."""
    import json

    return {(a.group, a.seed): json.loads((cfg.records(a) / "config.json").read_text())
            for a in cfg.arms() if finished(cfg.records(a), cfg.steps)}


def machine_label(status: dict) -> str:
    """One line for the machine a run's ``status.json`` names (runs from before it was recorded: 'not recorded')."""
    m = status.get("machine")
    if not isinstance(m, dict):
        return "not recorded"
    return (f"{m.get('processor', '?')}, {m.get('cpus', '?')} cores; python {m.get('python', '?')}, torch "
            f"{m.get('torch', '?')}, transformers {m.get('transformers', '?')}, peft {m.get('peft', '?')}")


def machines(cfg: Study3Config) -> dict[str, dict]:
    """Machine line -> ``{"seeds": seeds with a finished run there, "step0": the distinct step-0 held-out
    accuracies}``. Step 0 evaluates the same base model with the same evaluation seed in every run, so equal
    step-0 accuracies on two machines say their sampling agrees on 3,880 samples."""
    import json

    out: dict[str, dict[str, set]] = {}
    for a in cfg.arms():
        folder = cfg.records(a)
        if finished(folder, cfg.steps):
            status = json.loads((folder / "status.json").read_text())
            row = out.setdefault(machine_label(status), {"seeds": set(), "step0": set()})
            row["seeds"].add(a.seed)
            row["step0"].add(_at([r for r in read_jsonl(folder / "metrics.jsonl") if r.get("kind") == "eval"], 0,
                                 "eval/accuracy"))
    return {k: {"seeds": sorted(v["seeds"]), "step0": sorted(v["step0"])} for k, v in sorted(out.items())}


def mixed_seeds(where: dict[str, dict]) -> list[int]:
    """Seeds whose arms ran on more than one machine (rows of :func:`machines`): their pairs mix machines."""
    count: dict[int, int] = {}
    for row in where.values():
        for s in row["seeds"]:
            count[s] = count.get(s, 0) + 1
    return sorted(s for s, n in count.items() if n > 1)


def seed_ranges(seeds: list[int]) -> str:
    """``[100, 101, 102, 105]`` -> ``'100-102, 105'``."""
    parts, start = [], None
    for i, s in enumerate(seeds):
        start = s if start is None else start
        if i + 1 == len(seeds) or seeds[i + 1] != s + 1:
            parts.append(f"{start}" if start == s else f"{start}-{s}")
            start = None
    return ", ".join(parts)


def analyse(cfg: Study3Config, runs: dict | None = None) -> dict:
    """Every number the page prints, from ``runs`` (default: the committed records)."""
    runs = load(cfg) if runs is None else runs
    groups = cfg.list_of("groups", str)
    seeds = complete_seeds(runs, groups)
    per = {g: {s: outcomes(runs[g][s], cfg.steps) for s in seeds} for g in groups}
    comps = {name: compare(per[a], per[b], seeds) for name, (a, b) in COMPARISONS.items()
             if a in per and b in per}
    family = {n: comps[n]["accuracy"]["p"] for n in FAMILY if n in comps}
    adjusted, levels = holm(family), holm_levels(family)
    for name in family:
        c = comps[name]["accuracy"]
        diffs = [d for d in c["diffs"] if not math.isnan(d)]
        c.update(p_holm=adjusted[name], level=levels[name], holm_interval=asdict(mean_ci(diffs, levels[name])))
    arms = {g: {k: asdict(mean_ci([per[g][s][k] for s in seeds])) for k in LABELS} for g in groups}
    curves = {g: mean_curve([runs[g][s] for s in seeds]) for g in groups if g in runs}
    return {"seeds": seeds, "planned_seeds": cfg.list_of("seeds"), "groups": groups, "comparisons": comps,
            "arms": arms, "curves": curves, "counts": {g: len(runs.get(g, {})) for g in groups},
            "complete": len(seeds) == len(cfg.list_of("seeds")) and len(seeds) > 1}


def mean_curve(runs: list[list[dict]]) -> dict[int, float]:
    """Step -> mean held-out accuracy (points) over ``runs``: the page's small table of the curve."""
    steps: dict[int, list[float]] = {}
    for recs in runs:
        for r in recs:
            if r.get("kind") == "eval":
                steps.setdefault(r["step"], []).append(100 * r["eval/accuracy"])
    return {s: float(np.mean(v)) for s, v in sorted(steps.items())}


def deviations(cfg: Study3Config, recorded: dict[tuple[str, int], dict], res: dict,
               where: dict[str, dict] | None = None) -> list[str]:
    """Every way the config, the records, the seeds run and the machines differ from the plan (with the
    hand-kept list). ``where``: :func:`machines`."""
    out = [f"{what} ({why})" for what, why in DEVIATIONS]
    if where and len(where) > 1:
        mixed = mixed_seeds(where)
        out.append(f"the runs trained on {len(where)} machines (" + "; and ".join(where) + "), where the plan "
                   "foresaw one (\"Where the runs ran\" compares their step-0 evaluations)"
                   + (f"; the arms of seed(s) {seed_ranges(mixed)} are split across machines, so the page repeats "
                      "the co-primary comparisons without them" if mixed else ""))
    if tuple(cfg.list_of("seeds")) != PLAN_SEEDS:
        out.append(f"seeds {cfg.seeds} instead of the plan's 100-150")
    if tuple(cfg.list_of("groups", str)) != PLAN_GROUPS:
        out.append(f"arms {cfg.groups} instead of the plan's {', '.join(PLAN_GROUPS)}")
    if cfg.list_of("regimes", str) != [PLAN_REGIME]:
        out.append(f"regime(s) {cfg.regimes} instead of the plan's {PLAN_REGIME}")
    for key, want in PLAN_EVAL.items():
        if key in cfg.__dataclass_fields__ and getattr(cfg, key) != want:
            out.append(f"{key} {getattr(cfg, key)} instead of the plan's {want}")
    alphas = {"grpo": None, "hicra": 0.2, "placebo": 0.2, "alpha-1.0": 1.0}
    for (group, seed), conf in sorted(recorded.items()):
        bad = [f"{k} {conf.get(k)}" for k, want in PLAN_EVAL.items() if conf.get(k) != want]
        if conf.get("task") != PLAN_REGIME:
            bad.append(f"task {conf.get('task')}")
        if alphas.get(group) is not None and conf.get("alpha") != alphas[group]:
            bad.append(f"alpha {conf.get('alpha')}")
        if bad:
            out.append(f"record {group}-s{seed}: " + ", ".join(bad) + " (the plan's settings differ)")
    missing = len(cfg.list_of("seeds")) - len(res["seeds"])
    if missing and res["seeds"]:
        out.append(f"{missing} planned seed(s) lack a complete set of arms: the analysis uses "
                   f"{len(res['seeds'])} complete seeds")
    return out
