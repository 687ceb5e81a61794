"""Study 2, post hoc: what its records show before convergence (the reason for Study 3).

None of these measures was named before Study 2 ran; the page labels them
post hoc, and they are leads that Study 3 (``docs/study3-plan.md``) tests on
fresh seeds. From the committed records, paired by seed:

* the early window: the mean of the training fitting-plan share
  (``plan/fitted``) over steps 0-49, HICRA - GRPO and HICRA - placebo per
  regime, with the paired t test's p (uncorrected);
* held-out accuracy at step 50 (the evaluation before the primary's);
* the alpha dose-response in the planning-bound regime's extras: the steps
  until the 10-step mean of the training fitting-plan share reaches 0.8, each
  alpha minus GRPO.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from training.hierarchy.stats import mean_ci, t_test_p

EARLY = 50  # the early window: steps 0-49
FIT_TARGET = 0.8
WINDOW = 10
ALPHAS = {"alpha-0.1": 0.1, "hicra": 0.2, "alpha-0.5": 0.5, "alpha-1.0": 1.0}


def steps_to_share(steps: list[dict], key: str = "plan/fitted", target: float = FIT_TARGET,
                   window: int = WINDOW) -> float:
    """The last step of the first ``window``-step window whose mean of ``key`` reaches ``target`` (nan if none).

    >>> steps_to_share([{"step": i, "plan/fitted": i / 10} for i in range(20)], window=2)
    9.0
    """
    rows = [r for r in steps if r.get(key) is not None]
    values = np.array([r[key] for r in rows], dtype=float)
    if len(values) < window:
        return float("nan")
    means = np.convolve(values, np.ones(window) / window, mode="valid")
    hits = np.flatnonzero(means >= target)
    return float(rows[hits[0] + window - 1]["step"]) if len(hits) else float("nan")


def per_run(records: list[dict]) -> dict[str, float]:
    steps = [r for r in records if r.get("kind") == "step"]
    early = [r["plan/fitted"] for r in steps if r["step"] < EARLY and r.get("plan/fitted") is not None]
    at50 = [r["eval/accuracy"] for r in records if r.get("kind") == "eval" and r.get("step") == EARLY]
    return {"fitted_early": 100 * float(np.mean(early)) if early else float("nan"),
            "accuracy_50": 100 * at50[0] if at50 else float("nan"),
            "steps_to_fit": steps_to_share(steps)}


def paired(a: dict[int, dict], b: dict[int, dict], key: str) -> dict:
    seeds = sorted(set(a) & set(b))
    diffs = [b[s][key] - a[s][key] for s in seeds]
    return {**asdict(mean_ci(diffs)), "p": t_test_p(diffs)}


def analyse(runs: dict) -> dict:
    """``runs``: regime -> group -> seed -> records (Study 2's :func:`training.study.analysis.load`)."""
    out: dict = {"regimes": {}, "dose": {}}
    for regime, groups in runs.items():
        per = {g: {s: per_run(r) for s, r in seeds.items()} for g, seeds in groups.items()}
        comps = {}
        for base in ("grpo", "placebo"):
            if base in per and "hicra" in per:
                comps[f"hicra-{base}"] = {k: paired(per[base], per["hicra"], k)
                                          for k in ("fitted_early", "accuracy_50")}
        out["regimes"][regime] = comps
        if regime == "multiply-planning" and "grpo" in per:
            out["dose"] = {g: {"alpha": ALPHAS[g], **paired(per["grpo"], per[g], "steps_to_fit")}
                           for g in ALPHAS if g in per}
    return out
