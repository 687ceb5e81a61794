"""Study 3's analysis and page on synthetic records: the claims flip with the data.

No training: each synthetic run is a few eval and step records, as the
trainer writes them, with a chosen step-50 accuracy; seeds are few (8) to
keep the test fast, which the page then lists as a deviation from the plan.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from training.study import study3_analysis as A
from training.study import study3_report as R
from training.study.report import signed
from training.study.study3_analysis import Study3Config
from training.study.sweep import ROOT

SEEDS = list(range(100, 108))  # 8 seeds: enough for intervals, few enough to be quick
NOISE = np.array([0.9, -1.1, 0.4, -0.2, 1.3, -0.8, -0.6, 0.1])  # zero-mean per-seed noise (points)
NOISE = NOISE - NOISE.mean()


def run(acc50: float, fitted_rate: float = 0.02) -> list[dict]:
    """One run's records: evaluations at 0, 25, 50 (accuracy ``acc50`` points at 50), 50 training steps."""
    evals = [{"kind": "eval", "step": s, "eval/accuracy": a / 100, "eval/pass_at_k": min(1, a / 100 + 0.1),
              "eval/plan/fitted": 0.5 + s / 100, "eval/errors/correct": round(a * 10),
              "eval/errors/execution": round((100 - a) * 5), "eval/errors/strategy": round((100 - a) * 5)}
             for s, a in ((0, 32.0), (25, (32.0 + acc50) / 2), (50, acc50))]
    steps = [{"kind": "step", "step": i, "plan/fitted": min(1.0, 0.45 + fitted_rate * i)} for i in range(50)]
    return evals + steps


def runs_with(hicra_minus_grpo: np.ndarray, hicra_minus_placebo: np.ndarray) -> dict:
    base = 57.0 + 2 * NOISE  # GRPO's step-50 accuracy per seed
    grpo = {s: run(b) for s, b in zip(SEEDS, base)}
    hicra = {s: run(b + d) for s, b, d in zip(SEEDS, base, hicra_minus_grpo)}
    placebo = {s: run(b + d - e) for s, b, d, e in zip(SEEDS, base, hicra_minus_grpo, hicra_minus_placebo)}
    dose = {s: run(b + d + 1.0, fitted_rate=0.03) for s, b, d in zip(SEEDS, base, hicra_minus_grpo)}
    return {"grpo": grpo, "hicra": hicra, "placebo": placebo, "alpha-1.0": dose}


def cfg() -> Study3Config:
    return Study3Config(seeds=",".join(map(str, SEEDS)), docs="/nonexistent-docs")


def page(runs: dict) -> tuple[dict, str]:
    c = cfg()
    res = A.analyse(c, runs)
    text = R.render(res, c, A.deviations(c, {}, res), {"plan": ["abc123", "2026-12-04"], "first_record": []})
    return res, text


def shift_for_p(p: float, noise: np.ndarray) -> float:
    """The mean shift that gives ``noise + shift`` a paired-t two-sided p of exactly ``p``."""
    n = len(noise)
    return float(student_t.ppf(1 - p / 2, n - 1) * noise.std(ddof=1) / math.sqrt(n))


def test_a_clear_difference_is_claimed_for_both_co_primaries():
    res, text = page(runs_with(3.0 + 0.3 * NOISE, 2.5 + 0.3 * NOISE))
    c = res["comparisons"]["hicra-grpo"]["accuracy"]
    assert c["difference"]["mean"] == pytest.approx(3.0)
    assert c["holm_interval"]["low"] > 0
    assert "**HICRA (alpha 0.2) is ahead of GRPO at step 50**" in text
    assert "**HICRA (alpha 0.2) is ahead of the placebo at step 50**" in text
    assert "Not detected" not in text.split("## Dose arm")[0]
    head = text.split("## Dose arm")[0]  # a difference, too, states its p, paired sd and MDE (the plan's analysis)
    assert f"paired t p {c['p']:.3g}; paired sd {c['sd']:.2f} points; with these 8 seeds a difference of " \
           f"{c['mde']:.1f} points" in head
    dose = res["comparisons"]["alpha-1.0-grpo"]["accuracy"]
    assert f"paired t p {dose['p']:.3g}, paired sd {dose['sd']:.2f} points, MDE {dose['mde']:.1f} points" in text


def test_no_difference_says_not_detected_and_prints_the_mde():
    res, text = page(runs_with(0.0 + NOISE, -NOISE))
    head = text.split("## Dose arm")[0]
    assert head.count("**Not detected**") == 2
    mde = res["comparisons"]["hicra-grpo"]["accuracy"]["mde"]
    assert f"a difference of {mde:.1f} points or more" in head
    assert "ahead of" not in head and "behind" not in head


def test_a_95_interval_that_excludes_zero_is_not_claimed_when_holm_does_not_hold():
    # H1 at p = 0.04 (its 95% interval excludes zero), H2 null: Holm tests H1 at 0.025, so no claim.
    h1 = NOISE + shift_for_p(0.04, NOISE)
    res, text = page(runs_with(h1, 0.1 * NOISE))
    c = res["comparisons"]["hicra-grpo"]["accuracy"]
    assert c["p"] == pytest.approx(0.04, rel=1e-6)
    assert c["difference"]["low"] > 0 and c["level"] == 0.975 and c["holm_interval"]["low"] < 0
    assert "HICRA (alpha 0.2) - GRPO at step 50" in text and "Holm-level 97.5% interval" in text
    assert "is ahead of GRPO" not in text


def test_holm_second_step_at_005_once_the_first_holds():
    # H2 clear (first step), H1 at p = 0.04: tested at 0.05 after H2 holds, so it is claimed.
    res, text = page(runs_with(NOISE + shift_for_p(0.04, NOISE), 4.0 + 0.2 * NOISE))
    assert res["comparisons"]["hicra-placebo"]["accuracy"]["level"] == 0.975
    assert res["comparisons"]["hicra-grpo"]["accuracy"]["level"] == 0.95
    assert "is ahead of GRPO at step 50" in text and "Holm-level 95% interval" in text


def test_a_negative_difference_reads_behind():
    _, text = page(runs_with(-3.0 + 0.3 * NOISE, -3.0 + 0.3 * NOISE))
    assert "**HICRA (alpha 0.2) is behind GRPO at step 50**" in text


def test_incomplete_states_no_primary_result():
    runs = runs_with(3.0 + 0.3 * NOISE, 3.0 + 0.3 * NOISE)
    del runs["placebo"][SEEDS[-1]]  # one seed lacks an arm
    res, text = page(runs)
    assert res["seeds"] == SEEDS[:-1] and not res["complete"]
    assert "**Incomplete**" in text and "ahead of" not in text
    assert any("lack a complete set of arms" in d for d in A.deviations(cfg(), {}, res))


def test_deviations_list_config_and_record_mismatches():
    res, _ = page(runs_with(NOISE, NOISE))
    good = {k: v for k, v in A.PLAN_EVAL.items()} | {"task": A.PLAN_REGIME, "alpha": 0.2}
    bad = good | {"eval_samples": 4}
    devs = A.deviations(cfg(), {("hicra", 100): good, ("hicra", 101): bad}, res)
    assert any("seeds" in d and "100-150" in d for d in devs)  # the test's 8 seeds are not the plan's 51
    assert any(d.startswith("record hicra-s101: eval_samples 4") for d in devs)
    assert not any("hicra-s100" in d for d in devs)
    hand = [f"{what} ({why})" for what, why in A.DEVIATIONS]  # listed by hand, with their reasons
    assert A.deviations(Study3Config(), {}, {"seeds": []}) == hand  # the plan's own config: no other


def test_the_secondary_outcomes_are_computed_per_run():
    o = A.outcomes(run(60.0), 50)
    assert o["accuracy"] == pytest.approx(60.0) and o["accuracy_mid"] == pytest.approx(46.0)
    assert o["steps_to_fit"] == 22.0  # the 10-step mean ending at i is 0.45 + 0.02 (i - 4.5): >= 0.8 first at 22
    assert o["execution_errors"] == pytest.approx(100 * 200 / 1000)


def test_the_plan_config_runs_seed_by_seed_on_fresh_seeds():
    arms = Study3Config().arms()
    assert len(arms) == 4 * 51
    assert [a.group for a in arms[:4]] == list(A.PLAN_GROUPS) and {a.seed for a in arms[:4]} == {100}
    used = {int(p.name.rsplit("-s", 1)[1]) for folder in ("study", "phases")
            for p in (ROOT / "docs" / folder / "runs").glob("*/*")}
    assert used and not used & set(A.PLAN_SEEDS)


def test_report_only_writes_the_page_without_records(tmp_path):
    docs = tmp_path / "docs"
    c = Study3Config(docs=str(docs))
    path = R.write_report(c)
    text = path.read_text()
    assert path == docs / "study3.md" and "**Incomplete**: 0 of 51" in text
    assert json.loads((docs / "study3" / "results.json").read_text())["results"]["seeds"] == []


def test_study2_post_hoc_summary_from_the_committed_records():
    """The post hoc reason for Study 3 (training/study/posthoc.py) on Study 2's committed records: the early
    fitting-plan share is higher under HICRA in all six main comparisons, and steps to 80% fitting plans fall
    with alpha."""
    from training.study import posthoc
    from training.study.analysis import load
    from training.study.sweep import StudyConfig

    ph = posthoc.analyse(load(StudyConfig()))
    early = [c["fitted_early"] for comps in ph["regimes"].values() for c in comps.values()]
    assert len(early) == 6 and all(e["low"] > 0 for e in early)
    assert ph["regimes"]["multiply-execution"]["hicra-grpo"]["accuracy_50"]["mean"] == pytest.approx(2.32, abs=0.01)
    dose = [d["mean"] for d in sorted(ph["dose"].values(), key=lambda d: d["alpha"])]
    assert dose == sorted(dose, reverse=True) and dose[-1] < -5


def test_taxonomy_v2_counts_a_worse_than_best_plan_as_planning():
    """Version 2 differs from version 1 only on a failure inside a fitting plan that is not the best one."""
    from training.tasks import get_task
    from training.tasks.multiply import Problem
    from training.tasks.shortcut import best_plans, classify, classify_v2

    task = get_task("multiply-execution")
    same, other = Problem(47, 48), Problem(47, 23)
    slip = " Let's split the second number: 48 = 40 + 8. 47 * 40 = 1880. 47 * 8 = 366. 1880 + 366 = 2246."
    assert best_plans(same) == ("shortcut",)
    assert classify(same, slip + " So the answer is 2246.") == "execution"
    assert task.classify_v2(same, slip + " So the answer is 2246.") == "strategy"
    short = " Let's use the same-tens trick: 47 + 8 = 55. 55 * 40 = 2200. 7 * 8 = 56. 2200 + 56 = 2250."
    assert classify(same, short + " So the answer is 2250.") == classify_v2(same, short + " So the answer is 2250.") \
        == "execution"  # the best plan, slipped: still execution
    assert "shortcut" not in best_plans(other) and best_plans(other)


def test_evaluations_and_training_steps_log_taxonomy_v2_beside_v1():
    """Both versions are counted on the same samples: v2 moves failures from execution to strategy, never back."""
    from training.evaluate import evaluate
    from training.engine.modeling import load_model
    from training.tasks import get_task

    task = get_task("multiply-execution")
    lm = load_model("assets/tiny-execution")
    figures, _ = evaluate(lm, task, n=24, samples=2, temperature=0.6, seed=0)
    v1, v2 = figures["errors"], figures["plan_figures"]
    assert v1["execution"] + v1["strategy"] == v2["errors_v2/execution"] + v2["errors_v2/strategy"]
    assert v2["errors_v2/strategy"] >= v1["strategy"] and v2["errors_v2/execution"] <= v1["execution"]


def test_forced_plan_ceilings_by_class_and_by_problem():
    """training/bundled/forced.py's ceilings on hand-made 0/1 results: two problems (one same-tens), 2 samples."""
    from training.bundled.forced import ceilings
    from training.tasks.multiply import Problem
    from training.tasks.shortcut import STRATEGIES

    problems = [Problem(47, 48), Problem(47, 23)]
    correct = {s: np.zeros((2, 2)) for s in STRATEGIES}
    correct["shortcut"][0] = [1, 1]  # right on the same-tens problem
    correct["split"][1] = [1, 0]  # half right on the other
    c = ceilings(correct, problems)
    assert c["best_by_class"] == {"same tens": "shortcut", "other": "split"}
    assert c["class"] == pytest.approx((1.0 + 0.5) / 2)
    # per problem: chosen on sample 0, scored on sample 1 (and back): problem 1 scores 0 one way, 0 the other
    assert c["problem"] == pytest.approx((1.0 + 0.0) / 2)


def test_the_page_says_where_each_seed_ran_and_whether_a_pair_mixes_machines():
    c = cfg()
    res = A.analyse(c, runs_with(NOISE + 1, NOISE))
    prov = {"plan": ["abc123", "2026-12-04"], "first_record": []}
    status = {"machine": {"processor": "x86_64", "cpus": 16, "python": "3.12.3", "torch": "2.11.0",
                          "transformers": "5.25.0", "peft": "0.21.2"}}
    assert A.machine_label(status).startswith("x86_64, 16 cores; python 3.12.3, torch 2.11.0")
    assert A.machine_label({}) == "not recorded"
    one = R.render(res, c, [], prov, where={"big": {"seeds": [100, 101, 102, 105], "step0": [0.25]},
                                            "small": {"seeds": [103, 104], "step0": [0.25]}})
    assert "- seeds 100-102, 105: big" in one and "no paired difference mixes machines" in one
    assert "accuracy 25.000% in every run on every machine (the same" in one
    mixed = R.render(res, c, [], prov, where={"big": {"seeds": [100, 101], "step0": [0.25]},
                                              "small": {"seeds": [101, 102], "step0": [0.5]}})
    assert "seed(s) 101 ran on more than one machine" in mixed and "no paired difference" not in mixed
    assert "does not agree exactly" in mixed and "every machine" not in mixed
    assert "Where the runs ran" not in R.render(res, c, [], prov)


def test_mixed_machines_are_a_deviation_and_the_co_primaries_are_repeated_without_the_mixed_seeds():
    c = cfg()
    runs = runs_with(NOISE + 1, NOISE + 2)
    res = A.analyse(c, runs)
    where = {"big": {"seeds": [100, 101], "step0": [0.25]}, "small": {"seeds": [101, 102, 103, 104, 105, 106, 107],
                                                                     "step0": [0.25]}}
    assert A.mixed_seeds(where) == [101] and A.seed_ranges([100, 101, 102, 105]) == "100-102, 105"
    devs = A.deviations(c, {}, res, where)
    assert any(d.startswith("the runs trained on 2 machines (big; and small)") and "seed(s) 101 are split" in d
               for d in devs)
    assert not any("machines" in d for d in A.deviations(c, {}, res, {"one": where["small"]}))
    unmixed = A.analyse(c, {g: {s: r for s, r in by.items() if s != 101} for g, by in runs.items()})
    text = R.render(res, c, devs, {"plan": ["abc123", "2026-12-04"], "first_record": []}, where=where,
                    unmixed=unmixed)
    d = unmixed["comparisons"]["hicra-grpo"]["accuracy"]["difference"]
    assert d["n"] == 7 and d["mean"] == pytest.approx(1 + NOISE[[0, *range(2, 8)]].mean())
    assert "Without seed(s) 101 (a check the plan did not name" in text
    assert f"- HICRA (alpha 0.2) - GRPO at step 50: {signed(d['mean'], 1)} points" in text


def test_the_same_numbers_check_flags_a_changed_field_and_ignores_times_and_new_fields():
    import importlib.util

    spec = importlib.util.spec_from_file_location("same", ROOT / "bench" / "study3_same_numbers.py")
    same = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(same)
    old = [{"kind": "eval", "step": 0, "eval/accuracy": 0.25, "time/eval_s": 1.0}]
    assert same.differences(old, [{**old[0], "time/eval_s": 2.0, "eval/errors_v2/strategy": 3}]) == []
    assert same.differences(old, [{**old[0], "eval/accuracy": 0.5}]) == [
        "eval step 0: eval/accuracy 0.25 then, 0.5 now"]
    assert same.differences(old, old * 2) == ["1 records then, 2 now"]


def test_an_incomplete_study_writes_no_difference_anywhere(tmp_path):
    """The plan rules out interim looks: while seeds are missing, neither the page, nor results.json, nor a
    figure shows the arms' accuracies or their differences."""
    c = Study3Config(docs=str(tmp_path / "docs"), seeds="100,101,102")
    runs = runs_with(NOISE + 2, NOISE)
    for arm in c.arms()[:-1]:  # the last seed lacks its last arm
        folder = c.records(arm)
        folder.mkdir(parents=True)
        (folder / "status.json").write_text(json.dumps({"state": "finished", "step": 50}))
        (folder / "config.json").write_text("{}")
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in runs[arm.group][arm.seed]))
    (tmp_path / "docs" / "study3").mkdir(parents=True, exist_ok=True)
    (tmp_path / "docs" / "study3" / "accuracy.png").write_bytes(b"old")  # drawn by an older version
    text = R.write_report(c).read_text()
    saved = json.loads((tmp_path / "docs" / "study3" / "results.json").read_text())["results"]
    assert saved["seeds"] == [100, 101] and not saved["complete"] and "**Incomplete**" in text
    assert not {"comparisons", "arms", "curves"} & set(saved)
    assert not (tmp_path / "docs" / "study3" / "accuracy.png").exists() and "accuracy by step" not in text


def test_the_page_says_when_steps_to_fit_compares_only_the_seeds_that_got_there():
    runs = runs_with(NOISE + 1, NOISE)
    _, text = page(runs)
    assert "exist only for seeds where both arms" not in text  # every synthetic run reaches 0.8
    runs["grpo"][SEEDS[0]] = run(57.0, fitted_rate=0.001)  # one GRPO run never reaches it
    res, text = page(runs)
    assert res["comparisons"]["hicra-grpo"]["steps_to_fit"]["difference"]["n"] == 7
    assert "hicra-grpo: 7 of 8, hicra-placebo: 8 of 8" in text and "not all seeds" in text
