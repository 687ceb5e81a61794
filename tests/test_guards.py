"""Guards: absurd settings are refused before a model loads; a diverging run fails at its step, clearly."""

import dataclasses
import json
import math

import pytest
import torch

from training.config import PRESET_HELP, PRESETS, RunConfig, preset
from training.runs import check_run_folder, read_jsonl

# Small on purpose: 2 prompts x 4 responses of at most 32 tokens, no evaluation: a step is well under a second.
SMALL = dict(prompts_per_step=2, group_size=4, max_new_tokens=32, eval_every=0, threads=1, checkpoint_every=1)


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize("field, value, message", [
    ("alpha", math.nan, "alpha must be a finite number"),
    ("alpha", -1.0, "alpha must be a number from 0 to 10"),
    ("lr", math.inf, "lr must be a finite number"),
    ("lr", 5.0, "lr must be a number from 0 to 1"),
    ("steps", 10**9, "steps must be a whole number from 1 to 1,000,000, got 1,000,000,000"),
    ("steps", 0, "steps must be a whole number from 1"),
    ("steps", 2.5, "steps must be a whole number, got 2.5"),
    ("group_size", 10_000, "group_size must be a whole number from 1 to 512, got 10,000"),
    ("prompts_per_step", 5000, "prompts_per_step must be a whole number from 1 to 1,024"),
    ("max_new_tokens", 10**6, "max_new_tokens must be a whole number from 1 to 32,768"),
    ("eval_n", 10**7, "eval_n must be a whole number from 1 to 100,000"),
    ("eval_samples", 0, "eval_samples must be a whole number from 1 to 256"),
    ("temperature", 0.0, "temperature must be above 0"),
    ("temperature", math.nan, "temperature must be a finite number"),
    ("lora_r", 4096, "lora_r must be a whole number from 1 to 1,024"),
    ("checkpoint_every", 0, "checkpoint_every must be a whole number from 1"),
    ("seed", -1, "seed must be a whole number from 0"),
    ("lean_decoder", "yes", "lean_decoder must be true or false"),
    ("algo", "ppo", "algo must be one of grpo, hicra"),
    ("task", " ", "task must name a task"),
    ("model", None, "model must be a string"),
])
def test_validate_refuses_absurd_settings(field, value, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**{field: value}).validate()


def test_validate_allows_the_presets_and_real_gpu_sizes():
    for name in PRESETS:
        preset(name)
    big = preset("qwen1.5b-math", prompts_per_step=512, group_size=16, max_new_tokens=32_768, steps=100_000)
    assert big.prompts_per_step * big.group_size == 8192
    with pytest.raises(ValueError, match="at most 65,536 responses a step"):
        preset("tiny-cpu", prompts_per_step=1024, group_size=512)


@pytest.mark.parametrize("out, message", [
    ("", "must have a name of its own"), (".", "must have a name of its own"),
    ("..", "must have a name of its own"), ("runs/..", "must have a name of its own"),
    ("/", "must have a name of its own"), ("x" * 300, "is 300 bytes, the file system allows 255"),
    ("runs/" + "é" * 128, "is 256 bytes"),
])
def test_run_folder_names_that_cannot_be_run_folders(out, message):
    with pytest.raises(ValueError, match=message):
        check_run_folder(out)
    assert check_run_folder("runs/my-run/").name == "my-run"


# ----------------------------------------------------------------------- CLI


@pytest.fixture()
def no_model(monkeypatch):
    """Fails the test if anything tries to load a model."""
    import training.arms
    import training.engine.modeling

    def refuse(*_, **__):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(training.arms, "Backbone", refuse)
    monkeypatch.setattr(training.engine.modeling, "load_model", refuse)


@pytest.mark.parametrize("args, message", [
    (["--alpha", "nan"], "alpha must be a finite number, got nan"),
    (["--steps", "1000000000"], "steps must be a whole number from 1 to 1,000,000"),
    (["--group-size", "10000"], "group_size must be a whole number from 1 to 512"),
    (["--lr", "inf"], "lr must be a finite number, got inf"),
    (["--out", ""], "the run folder must have a name of its own, not ''"),
    (["--out", ".."], "the run folder must have a name of its own, not '..'"),
    (["--out", "x" * 300], "run folder name too long"),
])
@pytest.mark.parametrize("command", ["run", "compare"])
def test_cli_refuses_before_any_model_loads(command, args, message, tmp_path, monkeypatch, capsys, no_model):
    from training.__main__ import main

    monkeypatch.chdir(tmp_path)
    argv = [command, "--out", str(tmp_path / "run"), *args]  # a later --out wins
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "run").exists() and list(tmp_path.iterdir()) == []


def test_cli_eval_checks_its_settings_before_loading(capsys, no_model):
    from training.__main__ import main

    assert main(["eval", "--n", "0"]) == 2
    assert capsys.readouterr().err == "error: --n must be a whole number from 1 to 100,000, got 0\n"
    assert main(["eval", "--temperature", "nan"]) == 2
    assert capsys.readouterr().err == "error: --temperature must be a finite number, got nan\n"


def test_cli_turns_a_run_folder_oserror_into_one_line(tmp_path, capsys, no_model):
    from training.__main__ import main

    (tmp_path / "file").write_text("not a folder")
    assert main(["run", "--out", str(tmp_path / "file" / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Not a directory") and len(err.strip().splitlines()) == 1, err


def test_cli_help_lists_the_presets_and_ranges(capsys, monkeypatch):
    from training.__main__ import main

    monkeypatch.setenv("COLUMNS", "2000")  # argparse wraps (and splits hyphenated names) at the terminal's width

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert set(PRESET_HELP) == set(PRESETS)
    for name in PRESETS:
        assert f"{name}: {PRESET_HELP[name]}" in out
    assert "--group-size GROUP_SIZE responses per prompt (G) (default 8; 1-512)" in out


# ----------------------------------------------------------- divergence guard


def lora_weights(trainer):
    return {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "lora_" in n}


def test_a_nan_loss_stops_before_the_optimizer_step(monkeypatch):
    from training import algos
    from training.guard import Diverged
    from training.loop import Trainer

    trainer = Trainer(preset("tiny-cpu", **SMALL))
    trainer.train_step()
    before = lora_weights(trainer)
    original = algos.policy_loss

    def nan_loss(*args, **kwargs):
        loss, metrics = original(*args, **kwargs)
        return loss * math.nan, {**metrics, "loss/policy": math.nan, "loss/total": math.nan}

    monkeypatch.setattr(algos, "policy_loss", nan_loss)
    with pytest.raises(Diverged, match=r"diverged at step 1: the loss \(loss/policy, loss/total\) is not finite"):
        trainer.train_step()
    assert trainer.step == 1  # the step was not counted, and not taken:
    after = lora_weights(trainer)
    assert all(torch.equal(before[n], after[n]) for n in before)


def test_a_nan_gradient_and_an_infinite_learning_rate_are_caught():
    from training.guard import Diverged
    from training.loop import Trainer

    trainer = Trainer(preset("tiny-cpu", **SMALL))
    # both groups mixed, so both get a backward pass (a flat group has none: its gradient is zero)
    episode = dataclasses.replace(trainer.collect(0), rewards=torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 1.0]))
    hook = trainer.params[0].register_hook(lambda grad: grad * math.nan)
    with pytest.raises(Diverged, match=r"step 0: the gradient norm \(nan\) is not finite"):
        trainer.update(episode, 0)
    hook.remove()
    trainer.lr_at = lambda step: math.inf  # what --lr inf did before validation refused it
    with pytest.raises(Diverged, match="step 0: a LoRA weight, after the optimizer step, is not finite"):
        trainer.update(episode, 0)


def test_a_diverged_run_fails_with_its_step_cause_and_last_good_checkpoint(tmp_path, monkeypatch):
    """The run folder after a divergence at step 2: failed, the message, metrics up to step 1."""
    from training.arms import train
    from training.guard import Diverged
    from training.loop import Trainer

    original = Trainer.lr_at
    monkeypatch.setattr(Trainer, "lr_at", lambda self, step: math.inf if step >= 2 else original(self, step))
    with pytest.raises(Diverged):
        list(train(preset("tiny-cpu", steps=4, **SMALL), tmp_path / "run"))
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and status["step"] == 2
    error = status["error"]
    assert error.startswith("the run diverged at step 2: a LoRA weight")
    assert "learning rate (lr 0.0003) is too high" in error and "float32" in error
    assert f"last good checkpoint: {tmp_path / 'run' / 'checkpoints' / 'step-2'}" in error
    steps = [r["step"] for r in read_jsonl(tmp_path / "run" / "metrics.jsonl") if r["kind"] == "step"]
    assert steps == [0, 1]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["step-1", "step-2"]


def test_cli_lr_inf_past_validation_gives_a_failed_run(tmp_path, monkeypatch, capsys):
    """`--lr inf` with validation switched off: the guard is the second line of defence."""
    from training.__main__ import main

    monkeypatch.setattr(RunConfig, "validate", lambda self: self)
    out = tmp_path / "inf"
    assert main(["run", "--preset", "tiny-cpu", *sum(([f"--{k.replace('_', '-')}", str(v)]
                                                      for k, v in SMALL.items()), []),
                 "--steps", "3", "--lr", "inf", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (  # as the README quotes it
        "error: the run diverged at step 0: a LoRA weight, after the optimizer step, is not finite. Likely cause: "
        "the learning rate (lr inf) is too high for this model (the model runs in float32, so precision is an "
        "unlikely cause); lower --lr and keep --max-grad-norm on. Metrics end at the last finite step; no "
        "checkpoint yet (one every 1 steps)."), err
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and status["error"] == err[len("error: "):]
    assert [r for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "step"] == []


def test_in_a_sweep_only_the_diverged_arm_fails(tmp_path, monkeypatch):
    from training.arms import compare_arms, train_arms
    from training.guard import Diverged
    from training.loop import Trainer

    original = Trainer.lr_at
    monkeypatch.setattr(Trainer, "lr_at", lambda self, step: math.inf if self.cfg.algo == "hicra" and step >= 1
                        else original(self, step))
    arms = compare_arms(preset("tiny-cpu", steps=2, **SMALL), ["grpo", "hicra"], [0], tmp_path)
    with pytest.raises(Diverged, match="hicra-s0 diverged at step 1"):
        list(train_arms(arms))
    grpo = json.loads((tmp_path / "grpo-s0" / "status.json").read_text())
    hicra = json.loads((tmp_path / "hicra-s0" / "status.json").read_text())
    assert grpo["state"] == "finished" and grpo["step"] == 2
    assert hicra["state"] == "failed" and hicra["step"] == 1
    assert [r["step"] for r in read_jsonl(tmp_path / "hicra-s0" / "metrics.jsonl")] == [0]


# ------------------------------------------------------------------ calm CLI


def test_hub_data_sets_fail_at_once_when_the_hub_cannot_be_reached(tmp_path):
    """No offline flag set, the hub unreachable (forced, so no machine downloads anything): offline mode
    is switched on and the missing data set fails with the message, without datasets' retries."""
    import os
    import subprocess
    import sys

    script = ("import training.engine.modeling as m; m.hub_reachable = lambda: False\n"
              "from training.tasks import math_qa\n"
              "try:\n    math_qa.load('gsm8k')\nexcept math_qa.TaskDataError as err:\n    print(err)\n")
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                         env={**env, "HF_HOME": str(tmp_path)}, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert "cannot load openai/gsm8k" in out.stdout, out.stderr
    assert "Retrying" not in out.stderr and "thrown while requesting" not in out.stderr, out.stderr


def test_mine_shows_one_progress_display_when_output_is_not_a_terminal(tmp_path):
    """Into a pipe: one line per stage, no carriage returns, no bar of transformers' own."""
    import random
    import subprocess
    import sys
    from pathlib import Path

    from training.tasks import multiply

    rng = random.Random(0)
    problems = multiply.problems("train")
    with open(tmp_path / "corpus.jsonl", "w") as f:
        for _ in range(200):  # enough solutions for a few dozen n-grams
            trace = multiply.write_trace(rng.choice(problems), rng)
            f.write(json.dumps({"text": trace.text, "correct": trace.correct}) + "\n")
    out = subprocess.run([sys.executable, "-m", "lab.mine", str(tmp_path / "corpus.jsonl"), "--out",
                          str(tmp_path / "grams.json"), "--cache-dir", str(tmp_path / "cache")],
                         capture_output=True, text=True, timeout=600, cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert "\r" not in out.stderr and "Loading weights" not in out.stderr and "it/s" not in out.stderr, out.stderr
    assert any(line.endswith("% embedding n-grams") for line in lines)
    assert lines[-1].endswith("100% done") and len(lines) <= 12, lines
