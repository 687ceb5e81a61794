"""The study command: its arms, its statistics on hand-made runs, and one tiny sweep end to end."""

import json

import pytest

from training.runs import RunDir
from training.study.sweep import GROUPS, MAIN, StudyConfig, arm_command, main
from training.study.analysis import analyse, edges, load_runs, moving_average
from training.study.report import verdict, write_report

STEPS = 8


def test_arms_pair_seeds_and_put_the_main_comparison_first():
    arms = StudyConfig().arms()
    names = [a.name for a in arms]
    assert len(names) == len(set(names)) == 2 * 5 + 4 * 3
    assert [a.group for a in arms[:10]] == ["grpo", "hicra"] * 5  # seed by seed: a cut sweep keeps its pairs
    assert {a.group for a in arms[10:]} == set(GROUPS) - set(MAIN)
    mined = next(a for a in arms if a.group == "hicra-mined")
    cmd = arm_command(StudyConfig(out="x"), mined, threads=1, resume=True)
    assert cmd[cmd.index("--sg-set") + 1].endswith("mined-sg.json") and cmd[-1] == "--resume"
    generic = next(a for a in arms if a.group == "hicra-generic")
    assert (generic.algo, generic.sg_set) == ("hicra", "math-compact")


@pytest.mark.parametrize("args, message", [
    (["--groups", "grpo,nonsense"], "unknown group(s) nonsense"),
    (["--seeds", "0,x"], "--seeds: comma-separated whole numbers"),
    (["--ablation-seeds", "1,1"], "a seed appears twice"),
    (["--seeds", ""], "at least one seed"),
    (["--workers", "0"], "--workers must be at least 1"),
])
def test_bad_arguments_are_clear_errors(capsys, args, message):
    assert main(args + ["--out", "unused"]) == 2
    assert message in capsys.readouterr().err


def test_report_without_runs_says_what_to_do(tmp_path, capsys):
    with pytest.raises(ValueError, match="run the study first"):
        analyse(StudyConfig(out=str(tmp_path)), {})
    assert main(["--out", str(tmp_path), "--docs", str(tmp_path / "docs"), "--report-only"]) == 2
    assert "no finished GRPO arm" in capsys.readouterr().err


def test_moving_average_and_edges():
    y = moving_average(__import__("numpy").array([0.0, 2.0, 4.0, float("nan"), 8.0]), window=2)
    assert y.tolist() == [0.0, 1.0, 3.0, 4.0, 8.0]
    assert edges(__import__("numpy").arange(8.0)) == (0.5, 6.5)  # a quarter of 8 steps at each end


def _fake_run(root, name, steps, acc_by_step, sem_start, sem_end, exec_end):
    run = RunDir(root / name).create()
    for step in range(steps):
        f = step / (steps - 1)
        run.log({"kind": "step", "step": step, "acc/batch": 0.3 + 0.4 * f, "len/mean": 70.0,
                 "ppl_rel/execution": 1.0 - 0.5 * f, "ppl_rel/planning": 1.0 - 0.1 * f,
                 "ppl/execution": 1.05 - 0.02 * f, "ppl/planning": 1.3,
                 "entropy/execution": 0.2 - 0.1 * f, "entropy/planning": 0.4,
                 "semantic/entropy_bits": sem_start + (sem_end - sem_start) * f,
                 "semantic/other_conditional_bits": 2.0})
    for step, acc in acc_by_step.items():
        n = 400
        execution = round(n * (exec_end if step == steps else 0.5))
        correct = round(n * acc)
        run.log({"kind": "eval", "step": step, "eval/accuracy": acc, "eval/planning_ratio": 0.2,
                 "eval/errors/correct": correct, "eval/errors/execution": execution,
                 "eval/errors/strategy": n - correct - execution})
    run.set_status("finished", step=steps)


def test_statistics_on_hand_made_runs(tmp_path):
    """HICRA is exactly 10 points above GRPO on every seed: a zero-width interval above zero.
    The placebo moves up on one seed and down on another: no measurable difference."""
    cfg = StudyConfig(out=str(tmp_path / "runs"), docs=str(tmp_path / "docs"), seeds="0,1,2", ablation_seeds="0,1",
                      groups="grpo,hicra,hicra-placebo", steps=STEPS, eval_every=4, threshold=0.55)
    root = tmp_path / "runs"
    for seed, final in enumerate([0.5, 0.6, 0.7]):
        _fake_run(root, f"grpo-s{seed}", STEPS, {0: 0.3, 4: final - 0.1, 8: final}, 4.0, 3.0, 0.3)
        _fake_run(root, f"hicra-s{seed}", STEPS, {0: 0.3, 4: final, 8: final + 0.1}, 4.0, 3.5, 0.2)
    _fake_run(root, "hicra-placebo-s0", STEPS, {0: 0.3, 4: 0.4, 8: 0.55}, 4.0, 3.0, 0.3)
    _fake_run(root, "hicra-placebo-s1", STEPS, {0: 0.3, 4: 0.5, 8: 0.55}, 4.0, 3.0, 0.3)
    (root / "study.json").write_text(json.dumps({"train_seconds": 120.0, "cores": 2, "workers": 2}))

    res = analyse(cfg, load_runs(cfg))
    hicra = res["groups"]["hicra"]
    assert hicra["final_minus_grpo"]["mean"] == pytest.approx(0.1)
    assert hicra["final_minus_grpo"]["low"] == pytest.approx(0.1) and verdict(hicra["final_minus_grpo"]) == "higher"
    # steps to 55%: GRPO is 0.4/0.5/0.6 at step 4 and 0.5/0.6/0.7 at step 8; HICRA 0.1 higher
    assert res["groups"]["grpo"]["steps_to_threshold"] == {"0": None, "1": 8, "2": 4}
    assert hicra["steps_to_threshold"] == {"0": 8, "1": 4, "2": 4}
    placebo = res["groups"]["hicra-placebo"]["final_minus_grpo"]
    assert placebo["n"] == 2 and placebo["mean"] == pytest.approx(0.0)
    assert verdict(placebo) == "no measurable difference"
    phases = res["phases"]
    assert phases["ppl_rel/execution"]["change"]["mean"] < 0  # execution consolidates
    assert phases["semantic/entropy_bits"]["change"]["high"] < 0  # and semantic entropy falls here
    assert phases["errors/execution"]["8"] == pytest.approx(0.3) and phases["errors/strategy"]["0"] > 0
    assert res["semantic_end_hicra_minus_grpo"]["mean"] > 0
    assert res["groups"]["grpo"]["final_execution_errors"]["mean"] == pytest.approx(0.3)

    page = write_report(cfg).read_text()
    assert "HICRA minus GRPO, paired by seed: +10.0 points [+10.0, +10.0] (**higher**)" in page
    assert "Phase 2 (strategy exploration): does not appear." in page
    assert "2 minutes of training for 8 runs on 2 CPU cores" in page
    assert "--seeds 0,1,2 --ablation-seeds 0,1" in page
    for png in ("dynamics", "accuracy", "semantic-errors", "ablations"):
        assert (tmp_path / "docs" / "study" / f"{png}.png").stat().st_size > 10_000
    saved = json.loads((tmp_path / "docs" / "study" / "results.json").read_text())
    assert saved["groups"]["hicra"]["final_minus_grpo"]["mean"] == pytest.approx(0.1)


def test_a_tiny_sweep_end_to_end(tmp_path, capsys):
    """Two arms of two steps each, trained by subprocesses; a rerun keeps the finished arms."""
    args = ["--out", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs"), "--preset", "tiny-smoke",
            "--groups", "grpo,hicra", "--seeds", "0", "--steps", "2", "--eval-every", "1", "--eval-n", "2"]
    assert main(args) == 0
    assert "report:" in capsys.readouterr().out
    page = (tmp_path / "docs" / "study.md").read_text()
    assert "model `tiny`, task `multiply`" in page and "GRPO" in page
    first = json.loads((tmp_path / "runs" / "study.json").read_text())["train_seconds"]
    assert main(args) == 0  # nothing left to train: the report is redrawn
    assert json.loads((tmp_path / "runs" / "study.json").read_text())["train_seconds"] == first
    for arm in ("grpo-s0", "hicra-s0"):
        assert RunDir(tmp_path / "runs" / arm).status()["state"] == "finished"


def test_the_guide_summarises_a_study(tmp_path):
    from lab.ui.guide_tab import study_summary

    assert study_summary(tmp_path) is None  # no study: no section
    results = {"groups": {"grpo": {"final_accuracy": {"mean": 0.6, "low": 0.55, "high": 0.65, "n": 5}},
                          "hicra": {"final_accuracy": {"mean": 0.62, "low": 0.57, "high": 0.67, "n": 5},
                                    "final_minus_grpo": {"mean": 0.02, "low": -0.01, "high": 0.05, "n": 5}}}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    text = study_summary(tmp_path)
    assert "+2.0 points [-1.0, +5.0], **no measurable difference**" in text and "5 seeds" in text
