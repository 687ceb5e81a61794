"""The trainer on the bundled tiny model (CPU, seconds)."""

import dataclasses

import pytest
import torch

from training.config import preset
from training.arms import train
from training.loop import Trainer
from training.runs import read_jsonl

# Small on purpose: 2 prompts x 4 responses of at most 48 tokens keep a step
# well under a second; evaluation is off unless a test needs it.
SMALL = dict(prompts_per_step=2, group_size=4, max_new_tokens=48, eval_every=0, threads=2, kl_every=1)


def lora_and_base(model):
    lora = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}
    base = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}
    return lora, base


def fixed_episode(trainer):
    ep = trainer.collect(0)
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0])  # both groups mixed
    return dataclasses.replace(ep, rewards=rewards)


def test_one_step_changes_lora_and_not_base():
    trainer = Trainer(preset("tiny-cpu", algo="hicra", **SMALL))
    lora0, base0 = lora_and_base(trainer.model)
    metrics = trainer.update(fixed_episode(trainer), 0)
    lora1, base1 = lora_and_base(trainer.model)
    assert any(not torch.equal(lora0[n], lora1[n]) for n in lora0)
    assert all(torch.equal(base0[n], base1[n]) for n in base0)
    assert metrics["grad/norm"] > 0
    assert 0 < metrics["planning/ratio"] < 1


def test_hicra_alpha_zero_is_exactly_grpo():
    states = []
    for algo, alpha in (("grpo", 0.2), ("hicra", 0.0)):
        trainer = Trainer(preset("tiny-cpu", algo=algo, alpha=alpha, **SMALL))
        trainer.update(fixed_episode(trainer), 0)
        states.append(lora_and_base(trainer.model)[0])
    assert all(torch.equal(states[0][n], states[1][n]) for n in states[0])


def test_hicra_differs_from_grpo_when_alpha_positive():
    states = []
    for algo in ("grpo", "hicra"):
        trainer = Trainer(preset("tiny-cpu", algo=algo, alpha=0.5, **SMALL))
        trainer.update(fixed_episode(trainer), 0)
        states.append(lora_and_base(trainer.model)[0])
    assert any(not torch.equal(states[0][n], states[1][n]) for n in states[0])


@pytest.mark.parametrize("algo", ["hicra-released", "hicra-entropy", "hicra-placebo"])
def test_variants_run(algo):
    trainer = Trainer(preset("tiny-cpu", algo=algo, **SMALL))
    metrics = trainer.update(fixed_episode(trainer), 0)
    assert metrics["grad/norm"] > 0


def test_run_writes_the_run_directory(tmp_path):
    cfg = preset("tiny-cpu", steps=2, checkpoint_every=1, **{**SMALL, "eval_every": 2}, eval_n=4, eval_samples=2)
    records = list(train(cfg, tmp_path / "run"))
    lines = read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["kind"] for r in lines] == ["eval", "step", "step", "eval"] == [r["kind"] for r in records]
    step = lines[1]
    for key in ("reward/mean", "acc/batch", "len/mean", "entropy/planning", "entropy/execution",
                "nll/planning", "ppl_rel/execution", "semantic/entropy_bits", "planning/ratio",
                "overlap/planning_high_share", "loss/policy", "clip/fraction", "kl/k3", "grad/norm", "lr",
                "speed/tokens_per_s"):
        assert key in step, key
    assert step["ppl_rel/execution"] == pytest.approx(1.0)  # step 0 is its own baseline
    assert (tmp_path / "run" / "checkpoints" / "step-2" / "adapter" / "adapter_config.json").exists()
    assert read_jsonl(tmp_path / "run" / "samples.jsonl")
    import json
    assert json.loads((tmp_path / "run" / "status.json").read_text())["state"] == "finished"


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    cfg = preset("tiny-cpu", steps=3, checkpoint_every=1, **SMALL)
    full = [r for r in train(cfg, tmp_path / "full") if r["kind"] == "step"]
    list(train(preset("tiny-cpu", steps=2, checkpoint_every=1, **SMALL), tmp_path / "part"))
    # simulate a crash after step 2's checkpoint: a torn line at the end of metrics.jsonl
    with open(tmp_path / "part" / "metrics.jsonl", "a") as f:
        f.write('{"kind": "step", "step": 2, "rew')
    resumed = list(train(cfg, tmp_path / "part", resume=True))
    assert [r["step"] for r in resumed] == [2]
    lines = [r for r in read_jsonl(tmp_path / "part" / "metrics.jsonl") if r["kind"] == "step"]
    assert [r["step"] for r in lines] == [0, 1, 2]
    for a, b in zip(full, lines):
        for key in ("reward/mean", "loss/policy", "entropy/execution", "kl/k3", "grad/norm"):
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9), key


def test_compare_arms_are_fair_and_do_not_interfere(tmp_path):
    from training.arms import compare_arms, train_arms

    cfg = preset("tiny-cpu", steps=2, alpha=0.0, **SMALL)  # alpha 0: HICRA must equal GRPO exactly
    arms = compare_arms(cfg, ["grpo", "hicra"], [0], tmp_path / "ab")
    assert [out.name for _, out in arms] == ["grpo-s0", "hicra-s0"]
    list(train_arms(arms))
    grpo = [r for r in read_jsonl(tmp_path / "ab" / "grpo-s0" / "metrics.jsonl") if r["kind"] == "step"]
    hicra = [r for r in read_jsonl(tmp_path / "ab" / "hicra-s0" / "metrics.jsonl") if r["kind"] == "step"]
    solo = [r for r in train(dataclasses.replace(cfg, algo="grpo"), tmp_path / "solo") if r["kind"] == "step"]
    for a, b, c in zip(grpo, hicra, solo):
        for key in ("reward/mean", "len/mean", "loss/policy", "grad/norm", "kl/k3", "entropy/planning"):
            assert a[key] == b[key] == pytest.approx(c[key], rel=1e-6, abs=1e-9), key


def test_compare_rejects_bad_sweeps(tmp_path):
    from training.arms import compare_arms

    cfg = preset("tiny-cpu")
    with pytest.raises(ValueError, match="at least one"):
        compare_arms(cfg, [], [0], tmp_path)
    with pytest.raises(ValueError, match="must not repeat"):
        compare_arms(cfg, ["grpo", "grpo"], [0], tmp_path)
    with pytest.raises(ValueError, match="algo must be one of"):
        compare_arms(cfg, ["ppo"], [0], tmp_path)


def test_micro_batches_give_the_whole_batch_step():
    results = []
    for groups in (0, 1):  # the whole batch at once; one group at a time
        trainer = Trainer(preset("tiny-cpu", algo="hicra", micro_batch_groups=groups, **SMALL))
        before = lora_and_base(trainer.model)[0]
        metrics = trainer.update(fixed_episode(trainer), 0)
        results.append((lora_and_base(trainer.model)[0], metrics))
    (a, ma), (b, mb) = results
    assert any(not torch.equal(a[n], before[n]) for n in a)
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6, rtol=1e-5), name
    for key in ("loss/policy", "kl/k3", "clip/fraction", "ratio/mean", "entropy/planning", "planning/ratio"):
        assert ma[key] == pytest.approx(mb[key], rel=1e-5, abs=1e-7), key


@pytest.mark.parametrize("lean", [True, False])
def test_activation_checkpointing_changes_memory_not_the_step(lean):
    results = []
    for recompute in (False, True):
        trainer = Trainer(preset("tiny-cpu", algo="hicra", activation_checkpointing=recompute, lean_decoder=lean,
                                 **SMALL))
        assert trainer.model.get_base_model().model.layers[0].gradient_checkpointing is recompute
        metrics = trainer.update(fixed_episode(trainer), 0)
        results.append((lora_and_base(trainer.model)[0], metrics))
    (a, ma), (b, mb) = results
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6, rtol=1e-5), name
    assert ma["loss/policy"] == pytest.approx(mb["loss/policy"], rel=1e-5, abs=1e-7)


def test_kl_is_measured_every_step_when_penalised_else_every_kl_every_steps(tmp_path):
    cfg = preset("tiny-cpu", steps=3, **{**SMALL, "kl_every": 2})
    steps = [r for r in train(cfg, tmp_path / "diag") if r["kind"] == "step"]
    assert ["kl/k3" in r for r in steps] == [True, False, True]
    cfg = preset("tiny-cpu", steps=2, kl_coef=0.05, **{**SMALL, "kl_every": 2})
    steps = [r for r in train(cfg, tmp_path / "penalised") if r["kind"] == "step"]
    assert all("kl/k3" in r for r in steps)


FLAT_MIXED_FLAT = [1.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize("algo, rewards", [
    ("hicra", FLAT_MIXED_FLAT), ("hicra-placebo", FLAT_MIXED_FLAT), ("hicra-released", FLAT_MIXED_FLAT),
    ("grpo", [0.0] * 12),  # every group flat: no backward pass at all, Adam's momentum still moves
])
def test_groups_without_signal_skip_the_backward_pass_and_change_nothing(algo, rewards, monkeypatch):
    """Equal-reward groups get a forward pass for their metrics only; the step is the one a
    backward pass through every group gives (to float rounding), metrics included."""
    import training.loop as loop

    cfg = preset("tiny-cpu", algo=algo, **{**SMALL, "prompts_per_step": 3, "micro_batch_groups": 1})
    real, plans, results = loop.plan_parts, [], []
    for skip in (True, False):
        def plan(rewards, group_size, per, skip_still, skip=skip):
            plans.append(real(rewards, group_size, per, skip_still and skip))
            return plans[-1]

        monkeypatch.setattr(loop, "plan_parts", plan)
        trainer = Trainer(cfg)
        first = dataclasses.replace(trainer.collect(0), rewards=torch.tensor([1.0, 0.0] * 6))
        trainer.update(first, 0)  # a step with signal everywhere, so that Adam has momentum
        ep = dataclasses.replace(trainer.collect(1), rewards=torch.tensor(rewards))
        metrics = trainer.update(ep, 1)
        results.append((lora_and_base(trainer.model)[0], metrics))
    skipped = plans[1]
    assert [grad for _, grad in skipped] == ([True, False, False] if rewards[4] != rewards[5] else [False] * 3)
    (a, ma), (b, mb) = results
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6, rtol=1e-5), name
    for key in ("loss/policy", "kl/k3", "clip/fraction", "ratio/mean", "entropy/planning", "entropy/execution",
                "nll/planning", "planning/ratio", "overlap/planning_high_share", "adv/planning_mean", "grad/norm"):
        assert ma[key] == pytest.approx(mb[key], rel=1e-5, abs=1e-7), key


def test_step_record_reports_the_sampler_policy_disagreement():
    """sampler/logp_gap: mean |logp_sampler - logp_policy| on the sampled tokens. The sampler (a
    float32 copy with the LoRA delta merged) and the policy hold the same weights: float rounding."""
    trainer = Trainer(preset("tiny-cpu", **{**SMALL, "lr": 1e-2}))
    trainer.update(fixed_episode(trainer), 0)  # a non-zero adapter, so the merge has something to merge
    record = trainer.train_step()
    assert 0 <= record["sampler/logp_gap"] < 1e-4, record["sampler/logp_gap"]


def test_sweep_evaluates_at_the_last_step_keeps_samples_and_reports_progress(tmp_path):
    """Evaluations every eval_every steps and at the last one; each keeps eval_keep_samples samples, sample 0 of
    every problem first; every arm's status.json (and the sweep's) says where it is and how fast it goes."""
    import json

    from training.arms import compare_arms, train_arms
    from training.progress import read_progress
    from training.runs import RunDir

    # 3 steps with an evaluation every 2: evaluations at 0, 2 and 3 (the last step); 3 problems x 2 samples,
    # 4 kept; one thread (a loaded 2-core machine runs a single thread faster than two)
    cfg = preset("tiny-cpu", steps=3, checkpoint_every=3, **{**SMALL, "eval_every": 2, "threads": 1}, eval_n=3,
                 eval_samples=2, eval_keep_samples=4)
    arms = compare_arms(cfg, ["grpo", "hicra"], [0], tmp_path / "ab")
    sweep = RunDir(tmp_path / "ab").create()
    records = list(train_arms(arms, sweep=sweep))
    for arm in ("grpo-s0", "hicra-s0"):
        evals = [r for r in read_jsonl(tmp_path / "ab" / arm / "metrics.jsonl") if r["kind"] == "eval"]
        assert [r["step"] for r in evals] == [0, 2, 3]
        assert all(r["time/eval_s"] >= 0 for r in evals)
        samples = read_jsonl(tmp_path / "ab" / arm / "samples.jsonl")
        assert [(s["step"], s["problem"], s["sample"]) for s in samples if s["step"] == 3] == \
            [(3, 0, 0), (3, 1, 0), (3, 2, 0), (3, 0, 1)]
        assert len(samples) == 12 and {"prompt", "text", "correct", "error"} <= set(samples[0])
        status = json.loads((tmp_path / "ab" / arm / "status.json").read_text())
        assert (status["state"], status["step"], status["steps"], status["start_step"]) == ("finished", 3, 3, 0)
        assert status["step_s"] > 0 and status["eval_s"] is not None and status["phase"] is None
        assert status["machine"]["torch"] and status["machine"]["cpus"] >= 1  # which machine ran it (studies)
    assert sum(r["kind"] == "eval" for _, r in records) == 6
    assert sweep.status()["arm_steps"] == {"grpo-s0": 3, "hicra-s0": 3} and sweep.status()["step"] == 3
    p = read_progress(tmp_path / "ab", state="finished")
    assert (p.step, p.steps, p.fraction, p.eta_s) == (3, 3, 1.0, 0.0)


def test_kept_samples_order():
    from training.loop import kept_samples

    class Task:
        def prompt(self, p):
            return f"Q{p}"

        def reward(self, p, t):
            return float(t == "right")

        def classify(self, p, t):
            return "correct" if t == "right" else "execution"

    texts = [["right", "wrong"], ["wrong", "right"]]
    kept = kept_samples(5, [10, 11], texts, Task(), keep=3)
    assert [(s["problem"], s["sample"], s["prompt"], s["correct"], s["error"]) for s in kept] == [
        (0, 0, "Q10", True, "correct"), (1, 0, "Q11", False, "execution"), (0, 1, "Q10", False, "execution")]
    assert kept_samples(5, [10, 11], texts, Task(), keep=0) == []
    assert len(kept_samples(5, [10, 11], texts, Task(), keep=64)) == 4
