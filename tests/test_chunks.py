"""Training in chunks (training/chunks.py): a run split into chunks is the run in one go, bit for bit on CPU."""

import json

import pytest
import torch
from safetensors.torch import load_file

from training.arms import train
from training.chunks import CHUNKS_FILE, Pace, measure_pace, run_chunk, steps_done, steps_per_chunk
from training.config import preset, save_config
from training.runs import read_jsonl

# Small on purpose: the bundled tiny model, 2 prompts x 4 responses of at most 32 tokens, 5 steps: a few
# seconds a run on one CPU thread, and enough steps for three chunks, two evaluations and a checkpoint
# that falls inside a chunk. One thread: the same float sums in every run, so "bit for bit" holds.
SMALL = dict(prompts_per_step=2, group_size=4, max_new_tokens=32, threads=1, kl_every=1, steps=5,
             eval_every=2, eval_n=3, eval_samples=1, checkpoint_every=3)
CLOCK = ("time", "time/step_s", "time/rollout_s", "time/eval_s", "speed/tokens_per_s")  # wall clock, not results


def results(folder):
    """metrics.jsonl and samples.jsonl without wall-clock fields, and the final adapter's tensors."""
    lines = [{k: v for k, v in r.items() if k not in CLOCK} for r in read_jsonl(folder / "metrics.jsonl")]
    samples = read_jsonl(folder / "samples.jsonl")
    adapter = load_file(str(folder / "checkpoints" / f"step-{SMALL['steps']}" / "adapter" / "adapter_model.safetensors"))
    return lines, samples, adapter


def queued(folder, cfg):
    """A run folder as the job manager leaves it: the config, nothing else."""
    folder.mkdir(parents=True)
    save_config(cfg, folder / "config.json")
    return folder


def same(a, b):
    lines_a, samples_a, adapter_a = a
    lines_b, samples_b, adapter_b = b
    assert lines_a == lines_b  # every metric, exactly (floats compared as written)
    assert samples_a == samples_b
    assert adapter_a.keys() == adapter_b.keys()
    for key in adapter_a:
        assert torch.equal(adapter_a[key], adapter_b[key]), key


@pytest.fixture(scope="module")
def one_go(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one-go") / "run"
    list(train(preset("tiny-cpu", **SMALL), folder))
    return results(folder)


def test_a_run_in_chunks_is_the_run_in_one_go(tmp_path, one_go):
    folder = queued(tmp_path / "run", preset("tiny-cpu", **SMALL))
    summaries = [run_chunk(folder, k) for k in (2, 1, 4)]  # 2 + 1 + the last 2 (the chunk of 4 stops at 5)
    assert [(s["start"], s["end"], s["state"]) for s in summaries] == \
        [(0, 2, "running"), (2, 3, "running"), (3, 5, "finished")]
    same(results(folder), one_go)
    assert json.loads((folder / "status.json").read_text())["state"] == "finished"
    assert len(read_jsonl(folder / CHUNKS_FILE)) == 3


class Killed(BaseException):
    """A ZeroGPU call cut off at its duration: the worker process dies, nothing in it runs on (no except, no
    status written), and the app sees an error."""


def test_a_chunk_cut_off_loses_at_most_its_own_steps(tmp_path, one_go, monkeypatch):
    from training.loop import Trainer

    folder = queued(tmp_path / "run", preset("tiny-cpu", **SMALL))
    assert run_chunk(folder, 2)["end"] == 2
    real = Trainer.train_step
    taken = []

    def dies_on_the_second_step(self):
        if len(taken) == 1:
            raise Killed
        taken.append(self.step)
        return real(self)

    monkeypatch.setattr(Trainer, "train_step", dies_on_the_second_step)
    with pytest.raises(Killed):
        run_chunk(folder, 3)  # step 2 (the run's third) done, cut off in the next one
    # Nothing before the cut chunk's start is lost; here the checkpoint every 3 steps even kept its first step.
    assert steps_done(folder) == 3
    monkeypatch.setattr(Trainer, "train_step", real)
    assert run_chunk(folder, 3)["end"] == 5  # the retry resumes from the last completed step
    same(results(folder), one_go)


def test_a_first_chunk_cut_off_starts_over_without_a_second_step_0_evaluation(tmp_path, one_go, monkeypatch):
    from training.loop import Trainer

    folder = queued(tmp_path / "run", preset("tiny-cpu", **SMALL))
    monkeypatch.setattr(Trainer, "train_step", lambda self: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        run_chunk(folder, 2)  # the step-0 evaluation was written, then the call was cut off
    monkeypatch.undo()
    for k in (3, 3):
        run_chunk(folder, k)
    same(results(folder), one_go)


SWEEP = {**SMALL, "steps": 3, "eval_every": 0}


def steps_of(folder):
    return [{k: v for k, v in r.items() if k not in CLOCK} for r in read_jsonl(folder / "metrics.jsonl")]


def queued_sweep(folder):
    folder = queued(folder, preset("tiny-cpu", **SWEEP))
    (folder / "job.json").write_text(json.dumps({"kind": "compare", "algos": ["grpo", "hicra"], "seeds": [0]}))
    return folder


@pytest.fixture(scope="module")
def sweep_one_go(tmp_path_factory):
    from training.arms import compare_arms, train_arms

    folder = tmp_path_factory.mktemp("sweep-one-go")
    list(train_arms(compare_arms(preset("tiny-cpu", **SWEEP), ["grpo", "hicra"], [0], folder)))
    return folder


def test_a_sweep_in_chunks_is_the_sweep_in_one_go(tmp_path, sweep_one_go):
    from training.runs import RunDir

    folder = queued_sweep(tmp_path / "sweep")
    assert [run_chunk(folder, 2)["state"] for _ in range(2)] == ["running", "finished"]
    for arm in ("grpo-s0", "hicra-s0"):
        assert steps_of(sweep_one_go / arm) == steps_of(folder / arm) and len(steps_of(folder / arm)) == 3
    assert RunDir(folder).status()["state"] == "finished"


def test_a_diverged_arm_stops_alone_and_the_sweep_fails_when_the_others_are_done(tmp_path, sweep_one_go,
                                                                                 monkeypatch):
    from training.guard import Diverged
    from training.loop import Trainer
    from training.runs import RunDir

    real = Trainer.train_step

    def hicra_diverges_at_step_1(self):
        if self.cfg.algo == "hicra" and self.step == 1:
            raise Diverged(1, "the loss (loss/policy)", self.cfg.lr, torch.float32)
        return real(self)

    monkeypatch.setattr(Trainer, "train_step", hicra_diverges_at_step_1)
    folder = queued_sweep(tmp_path / "sweep")
    first = run_chunk(folder, 2)
    assert first["state"] == "running" and list(first["diverged"]) == ["hicra-s0"]
    last = run_chunk(folder, 2)  # grpo's last step; hicra is left out
    assert last["state"] == "failed" and "diverged at step 1" in last["error"]
    assert steps_of(folder / "grpo-s0") == steps_of(sweep_one_go / "grpo-s0")  # the other arm, undisturbed
    assert len(steps_of(folder / "hicra-s0")) == 1
    assert RunDir(folder).status()["state"] == "failed" and RunDir(folder / "grpo-s0").status()["state"] == "finished"


def test_pace_is_measured_from_the_run(tmp_path):
    folder = queued(tmp_path / "run", preset("tiny-cpu", **SMALL))
    assert measure_pace(folder) == Pace()
    run_chunk(folder, 2)
    pace = measure_pace(folder)
    assert pace.step_s > 0 and pace.eval_s > 0 and pace.overhead_s > 0
    assert steps_per_chunk(pace, duration_s=1e6, eval_every=2, steps_left=3) == 3


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_a_chunk_takes_at_least_one_whole_step(tmp_path, bad):
    folder = queued(tmp_path / "run", preset("tiny-cpu", **SMALL))
    with pytest.raises(ValueError, match="at least one step"):
        run_chunk(folder, bad)


def test_the_planner_leaves_a_margin():
    pace = Pace(step_s=3.0, eval_s=0.0, overhead_s=0.0)
    assert steps_per_chunk(pace, 60, eval_every=0, margin=0.0) == 20
    assert steps_per_chunk(pace, 60, eval_every=0, margin=0.5) == 10
    with pytest.raises(ValueError):
        steps_per_chunk(pace, 60, eval_every=0, margin=1.0)
