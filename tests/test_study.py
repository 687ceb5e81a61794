"""Study 2: its arms, its statistics and its page on synthetic records (the sentences follow the numbers)."""

import json
import math

import numpy as np
import pytest

from training.study import report
from training.study.analysis import analyse, outcomes
from training.study.cli import main
from training.study.sweep import StudyConfig, arm_command, keep_records

CFG = StudyConfig(seeds="0,1,2,3,4,5,6,7,8,9", extra_seeds="0,1,2", max_seeds=0)  # no top-up: the plan as set


def test_arms_in_priority_order_with_complete_pairs_first():
    arms = CFG.arms()
    assert len({(a.regime, a.name) for a in arms}) == len(arms)
    first = arms[:30]  # the planning-bound main comparison, seed by seed
    assert {a.regime for a in first} == {"multiply-planning"}
    assert [a.group for a in first[:3]] == ["grpo", "hicra", "placebo"]
    assert [a.regime for a in arms[30:50]] == ["multiply-execution"] * 20  # then the boundary's far end
    assert arms[-1].group == "placebo" and arms[-1].regime != "multiply-planning"  # cut first when time runs out
    extras = [a for a in arms if a.group.startswith(("alpha", "entropy", "released"))]
    assert len(extras) == 5 * 3 and {a.regime for a in extras} == {"multiply-planning"}


def test_arm_command_uses_the_regime_preset_and_a_fixed_eval_seed():
    arm = next(a for a in CFG.arms() if a.group == "alpha-0.5")
    cmd = arm_command(CFG, arm, threads=1, resume=True)
    assert cmd[cmd.index("--preset") + 1] == "tiny-planning"
    assert (cmd[cmd.index("--algo") + 1], cmd[cmd.index("--alpha") + 1]) == ("hicra", "0.5")
    assert cmd[cmd.index("--eval-seed") + 1] == "0" and cmd[-1] == "--resume"
    entropy = next(a for a in CFG.arms() if a.group == "entropy")
    cmd = arm_command(CFG, entropy, 1, False)
    assert cmd[cmd.index("--algo") + 1] == "hicra-entropy-matched"


def test_a_run_cut_off_before_its_first_checkpoint_starts_over(tmp_path):
    """Its folder exists but holds nothing to resume: the command overwrites it (the trainer refuses an existing
    --out otherwise, which failed every such run of a sweep's next call)."""
    from dataclasses import replace

    cfg = replace(CFG, out=str(tmp_path))
    arm = cfg.arms()[0]
    assert "--overwrite" not in arm_command(cfg, arm, 1, False)
    (tmp_path / arm.regime / arm.name).mkdir(parents=True)
    (tmp_path / arm.regime / arm.name / "metrics.jsonl").write_text('{"kind": "eval", "step": 0}\n')
    assert arm_command(cfg, arm, 1, False)[-1] == "--overwrite"
    assert arm_command(cfg, arm, 1, True)[-1] == "--resume"


@pytest.mark.parametrize("args, message", [
    (["--groups", "grpo,nonsense"], "unknown regime or group 'nonsense'"),
    (["--seeds", "0,x"], "--seeds: comma-separated values"),
    (["--seeds", "1,1"], "appears twice"),
    (["--steps", "0"], "--steps must be at least 1"),
    (["--max-seeds", "-1"], "--max-seeds must be 0"),
])
def test_bad_settings_are_refused(args, message, capsys):
    assert main(args + ["--report-only"]) == 2
    assert message in capsys.readouterr().err


def records(final: float, start: float = 0.35, steps: int = 100, semantic: float = 3.5) -> list[dict]:
    out = [{"kind": "eval", "step": 0, "eval/accuracy": start, "eval/pass_at_k": 0.5, "eval/plan/fitted": 0.35}]
    out += [{"kind": "step", "step": s, "semantic/entropy_bits": semantic, "semantic/cluster_bits": 2.0}
            for s in range(steps)]
    out += [{"kind": "eval", "step": 50, "eval/accuracy": (start + final) / 2},
            {"kind": "eval", "step": steps, "eval/accuracy": final, "eval/pass_at_k": 0.8, "eval/plan/fitted": 0.9}]
    return out


def test_outcomes_on_hand_worked_numbers():
    o = outcomes(records(0.75), threshold=0.1)
    assert o["final_accuracy"] == 0.75 and o["pass_at_k"] == 0.8 and o["fitted"] == 0.9
    assert o["auc"] == pytest.approx((0.35 + 0.55) / 2 * 0.5 + (0.55 + 0.75) / 2 * 0.5)
    assert o["steps_to"] == 50.0 and o["semantic"] == 3.5
    assert math.isnan(o["steps_to_train"])  # these records carry no training accuracy


def test_steps_to_threshold_on_the_training_accuracy_running_mean():
    from training.study.analysis import WINDOW, steps_to_train

    # accuracy 0.3 for 20 steps, then 0.5: the 10-step mean first reaches 0.3 + 0.15 in the window 18..27
    # (two 0.3s and eight 0.5s: 0.46; the window before it: 0.44)
    steps = [{"kind": "step", "step": s, "acc/batch": 0.3 if s < 20 else 0.5} for s in range(40)]
    assert WINDOW == 10
    assert steps_to_train(steps, 0.15) == 27.0
    assert math.isnan(steps_to_train(steps, 0.3))  # never 0.6
    assert math.isnan(steps_to_train(steps[:9], 0.1))  # shorter than a window


def test_an_outcome_equal_in_every_run_is_reported_as_without_resolution():
    res = analyse(CFG, synthetic(+0.05, 0.0))
    c = res["regimes"]["multiply-planning"]["comparisons"]["hicra-grpo"]
    assert c["steps_to"]["constant"] == 50.0  # every synthetic run passes the threshold by step 50
    page = report.render(res, CFG)
    assert "no resolution (every run: 50)" in page and "Not named in advance" in page


def synthetic(hicra_gain_planning: float, hicra_gain_execution: float, seeds: int = 10) -> dict:
    rng = np.random.default_rng(0)
    runs = {}
    for regime, gain in (("multiply-planning", hicra_gain_planning), ("multiply-execution", hicra_gain_execution)):
        groups = runs.setdefault(regime, {})
        for s in range(seeds):
            base = 0.6 + rng.normal(0, 0.02)
            groups.setdefault("grpo", {})[s] = records(base)
            jitter = (-1) ** s * 0.005  # mean zero over an even number of seeds, sd > 0
            groups.setdefault("hicra", {})[s] = records(base + gain + jitter)
            if regime == "multiply-planning":
                groups.setdefault("placebo", {})[s] = records(base - jitter)
    return runs


def test_the_report_conclusions_flip_with_the_data():
    helps = analyse(CFG, synthetic(+0.05, 0.0))
    page = report.render(helps, CFG)
    assert "`multiply-planning`: HICRA ends ahead of GRPO" in page
    assert "`multiply-planning`: HICRA ends ahead of the placebo" in page
    assert "larger where execution is reliable, as the hypothesis expects" in page
    assert "it holds after Holm's correction for the 3 main comparisons" in page
    hurts = analyse(CFG, synthetic(-0.05, 0.0))
    page = report.render(hurts, CFG)
    assert "`multiply-planning`: HICRA ends behind GRPO" in page
    assert "smaller where execution is reliable, against the hypothesis" in page
    none = analyse(CFG, synthetic(0.0, 0.0))
    page = report.render(none, CFG)
    assert "No difference detected between HICRA and GRPO" in page and "80% power" in page
    assert "not measurably different between the regimes" in page
    assert "ends ahead" not in page and "ends behind" not in page


def test_power_and_boundary_statistics_are_reported():
    res = analyse(CFG, synthetic(+0.05, 0.0))
    c = res["regimes"]["multiply-planning"]["comparisons"]["hicra-grpo"]["final_accuracy"]
    assert c["difference"]["n"] == 10 and c["difference"]["mean"] == pytest.approx(5.0, abs=1.0)
    assert 0 < c["sd"] < 3 and not math.isnan(c["mde"])
    did = res["boundary"]["did"]
    assert did["low"] > 0 and res["boundary"]["slope"]["high"] < 0  # bigger gain at hard-product error 0


def test_report_only_on_committed_records_writes_the_page(tmp_path, monkeypatch):
    from training.study import sweep

    monkeypatch.setattr(sweep, "ROOT", tmp_path)
    monkeypatch.setattr(report, "ROOT", tmp_path)
    cfg = StudyConfig(seeds="0,1,2", extra_seeds="0", steps=100)
    for arm in cfg.arms()[:6]:  # two complete seed triples of the planning-bound main comparison
        run = tmp_path / "run" / arm.name
        run.mkdir(parents=True)
        final = 0.6 if arm.group == "grpo" else 0.62
        (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records(final)))
        (run / "config.json").write_text("{}")
        (run / "status.json").write_text(json.dumps({"state": "finished", "step": 100}))
        keep_records(run, cfg.records(arm))
    page = report.write_report(cfg)
    text = page.read_text()
    assert "Progress: 6 of" in text and "`multiply-planning`" in text
    assert "**Interim**" in text and "Interim:" in report.summary(report.analyse(cfg), cfg)
    assert (tmp_path / "docs" / "study" / "accuracy.png").exists()


def test_runtime_keeps_resumed_runs_out_of_the_pace(tmp_path):
    import json

    from training.study import report
    from training.study.sweep import StudyConfig, record_runtime

    cfg = StudyConfig(docs=str(tmp_path))
    record_runtime(cfg, 300.0)
    record_runtime(cfg, 240.0)
    record_runtime(cfg, 16.0, resumed=True)  # its time before the stop was never recorded
    info = json.loads((tmp_path / "study" / "runtime.json").read_text())
    assert (info["runs"], info["run_seconds"], info["resumed_runs"], info["resumed_run_seconds"]) == (2, 540.0, 1, 16.0)
    res = {"counts": {}, "regimes": {}}
    assert "- Time: 4.5 minutes a run, measured over 2 runs" in report.summary(res, cfg, info)


def test_numbers_that_round_to_zero_carry_no_minus_sign():
    assert report.signed(-0.04, 1) == "+0.0" and report.signed(-0.06, 1) == "-0.1"
    d = {"mean": -0.001, "low": -0.3, "high": 0.3, "n": 24}
    assert report.iv_text(d, " points") == "+0.0 points [-0.3, +0.3] (n=24)"


def test_a_comparison_short_of_the_power_target_says_how_many_seeds_would_reach_it():
    from training.hierarchy.stats import minimum_detectable_effect

    c = {"sd": 2.31, "mde": minimum_detectable_effect(2.31, 10)}
    text = report.seeds_needed(c)
    assert "above the design's target of 2.0 points; at this sd the target needs 13 seeds" in text
    assert minimum_detectable_effect(2.31, 13) <= 2.0 < minimum_detectable_effect(2.31, 12)
    assert report.seeds_needed({"sd": 1.0, "mde": minimum_detectable_effect(1.0, 10)}) == ""


def test_a_comparison_on_one_seed_is_not_called_a_null_result():
    res = analyse(CFG, synthetic(0.0, 0.0, seeds=1))
    page = report.render(res, CFG)
    assert "HICRA against GRPO: too few seeds to test yet" in page and "No difference detected" not in page
    assert "nan" not in page and "(1 seeds)" not in page and "Trend: too few seeds to fit yet" in page


def write_pilot(cfg, finals: dict[str, list[float]]) -> None:
    """Finished compact records for each main group on the pilot seeds, with these final accuracies."""
    for group, values in finals.items():
        for seed, final in zip(cfg.list_of("seeds"), values):
            dest = cfg.records(sweep_arm(cfg, group, seed))
            dest.mkdir(parents=True, exist_ok=True)
            (dest / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records(final)))
            (dest / "status.json").write_text(json.dumps({"state": "finished", "step": cfg.steps}))


def sweep_arm(cfg, group, seed):
    from training.study.sweep import Arm

    return Arm(cfg.list_of("regimes", str)[0], group, seed)


def test_top_up_reads_the_pilots_sd_and_never_its_mean(tmp_path, monkeypatch):
    from training.study import sweep

    monkeypatch.setattr(sweep, "ROOT", tmp_path)
    cfg = StudyConfig(regimes="multiply-execution", seeds="0,1,2,3", extra_seeds="0", max_seeds=20)
    base = [0.50, 0.50, 0.50, 0.50]
    write_pilot(cfg, {"grpo": base, "placebo": base})
    assert sweep.top_up(cfg, "multiply-execution") is None  # HICRA's pilot is not complete
    write_pilot(cfg, {"hicra": [0.50, 0.54, 0.50, 0.54]})  # differences 0, 4, 0, 4 points: sd 2.31
    plan = sweep.top_up(cfg, "multiply-execution")
    assert round(plan["sd"]["hicra-grpo"], 2) == 2.31 and plan["needed"] == 13
    assert plan["added"] == list(range(4, 13))  # 13 seeds in all
    added = [a for a in cfg.arms() if a.seed >= 4]
    assert [a.group for a in added[:3]] == ["grpo", "hicra", "placebo"] and len(added) == 9 * 3
    write_pilot(cfg, {"hicra": [0.60, 0.64, 0.60, 0.64]})  # the same sd, 10 points higher: the same plan
    assert sweep.top_up(cfg, "multiply-execution")["added"] == plan["added"]
    capped = StudyConfig(regimes="multiply-execution", seeds="0,1,2,3", extra_seeds="0", max_seeds=8)
    assert sweep.top_up(capped, "multiply-execution") == {**plan, "needed": None, "added": [4, 5, 6, 7]}
    write_pilot(cfg, {"hicra": [0.51, 0.512, 0.508, 0.51]})  # sd 0.16 points: the pilot is enough
    assert sweep.top_up(cfg, "multiply-execution")["added"] == []
    assert sweep.top_up(StudyConfig(regimes="multiply-execution", seeds="0,1,2,3", max_seeds=0),
                        "multiply-execution") is None
    lines = report.top_up_sentence("multiply-execution", plan, cfg)
    assert "the target needs 13 seeds; topped up with seeds 4-12." in lines
    res = {**analyse(cfg, {}), "top_up": {"multiply-execution": plan}}  # the page reads the plan, not the disk
    assert "topped up with seeds 4-12" in report.render(res, cfg)


def test_a_main_interval_that_fails_holms_correction_is_not_counted():
    res = analyse(CFG, synthetic(0.0042, 0.0))  # a 0.42-point gain, paired sd about 0.53 points
    c = res["regimes"]["multiply-planning"]["comparisons"]["hicra-grpo"]["final_accuracy"]
    assert c["p"] < 0.05 <= c["p_holm"] and c["family"] == 3
    assert c["p_holm"] == pytest.approx(min(1.0, 3 * c["p"]))  # the smallest p of three: x3
    page = report.render(res, CFG)
    assert "HICRA ends ahead of GRPO by this comparison's own interval" in page
    assert "so the study does not count it as a difference" in page
