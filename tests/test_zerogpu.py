"""The app on ZeroGPU (lab/zerogpu.py): runs driven in chunks from the app's process, owners in turn;
and, off ZeroGPU, the app exactly as before.

No ZeroGPU here: the chunk function is called through a stand-in for ``spaces.GPU`` that behaves as the real
one does when its worker dies (the app sees an exception; the worker's ``except`` blocks never run). With the
``spaces`` package installed (requirements-dev.txt) its decorator is checked to be a no-op off ZeroGPU.
"""

import json
import time

import pytest
import torch
from safetensors.torch import load_file

from lab import zerogpu
from lab.zerogpu import ChunkRunner, ZeroGPUJobs, ZeroGPUSettings, next_run, on_zerogpu
from training.arms import train
from training.chunks import CHUNKS_FILE, run_chunk
from training.config import preset
from training.jobs import JobError, JobManager
from training.runs import RunDir, read_jsonl

# Small on purpose, as in tests/test_chunks.py: the tiny model, 2 x 4 responses of at most 32 tokens, 4 steps.
SMALL = dict(prompts_per_step=2, group_size=4, max_new_tokens=32, threads=1, kl_every=1, steps=4,
             eval_every=2, eval_n=3, eval_samples=1, checkpoint_every=50)
CLOCK = ("time", "time/step_s", "time/rollout_s", "time/eval_s", "speed/tokens_per_s")


class Killed(BaseException):
    """The ZeroGPU worker process dies at the call's duration: nothing in it runs on."""


def stand_in_gpu(fn):
    """What ``spaces.GPU`` does on ZeroGPU, minus the GPU: the call runs ``fn``; a worker that dies reaches the
    app as an error ('GPU task aborted' in spaces/zero/wrappers.py)."""
    def call(*args):
        try:
            return fn(*args)
        except Killed:
            raise RuntimeError("ZeroGPU worker error: GPU task aborted") from None
    return call


def chunk(path, n_steps, duration_s):
    return run_chunk(path, n_steps)


def manager(tmp_path, duration_s=120, call=None, **settings):
    s = ZeroGPUSettings(duration_s=duration_s, **settings)
    return ZeroGPUJobs(tmp_path / "runs", settings=s,
                       runner=ChunkRunner(s, call=call or stand_in_gpu(chunk), backoff_s=0.0))


def drive(jobs, limit=50):
    """Chunks until no run is left, as the runner's thread would; returns the runs served, in order."""
    order = []
    while (name := jobs.runner.step()) is not None:
        order.append(name)
        assert len(order) <= limit
    return order


def results(folder, steps):
    lines = [{k: v for k, v in r.items() if k not in CLOCK} for r in read_jsonl(folder / "metrics.jsonl")]
    adapter = load_file(str(folder / "checkpoints" / f"step-{steps}" / "adapter" / "adapter_model.safetensors"))
    return lines, adapter


@pytest.fixture(scope="module")
def one_go(tmp_path_factory):
    folder = tmp_path_factory.mktemp("one-go") / "run"
    list(train(preset("tiny-cpu", **SMALL), folder))
    return results(folder, SMALL["steps"])


def assert_same(a, b):
    assert a[0] == b[0]
    assert a[1].keys() == b[1].keys() and all(torch.equal(a[1][k], b[1][k]) for k in a[1])


# ----------------------------------------------------------------------------------- off ZeroGPU: as before

@pytest.mark.parametrize("value, zero", [(None, False), ("", False), ("0", False), ("false", False),
                                         ("1", True), ("t", True), ("true", True), ("True", True)])
def test_detection_is_the_spaces_packages_rule(value, zero):
    env = {} if value is None else {"SPACES_ZERO_GPU": value}
    assert on_zerogpu(env) is zero
    spaces_config = pytest.importorskip("spaces.config")
    assert spaces_config.boolean(env.get("SPACES_ZERO_GPU")) is zero


def test_off_zerogpu_the_chunk_function_is_undecorated_and_spaces_gpu_is_a_no_op(monkeypatch):
    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    assert not on_zerogpu()
    assert zerogpu.gpu_chunk is zerogpu._chunk
    f = lambda: None  # noqa: E731
    assert zerogpu.gpu(f, duration=60) is f
    spaces = pytest.importorskip("spaces")
    assert spaces.GPU(duration=60)(f) is f


def test_off_zerogpu_the_app_starts_runs_as_processes_as_before(tmp_path, monkeypatch):
    from lab.ui import context

    monkeypatch.delenv("SPACES_ZERO_GPU", raising=False)
    monkeypatch.setenv("HICRA_LAB_DATA", str(tmp_path))
    monkeypatch.setattr(context, "_manager", None)
    context.settings.cache_clear()
    try:
        jobs = context.jobs()
        assert type(jobs) is JobManager and jobs.max_concurrent >= 1
        jobs.close()
    finally:
        context.settings.cache_clear()


# ------------------------------------------------------------------------------------------ on ZeroGPU

def test_a_run_driven_in_chunks_by_the_app_is_the_run_in_one_go(tmp_path, one_go):
    jobs = manager(tmp_path, duration_s=120)
    jobs.submit("r", preset("tiny-cpu", **SMALL))
    assert jobs.info("r")["state"] == "running" and jobs.info("r")["phase"] == "waiting for the GPU"
    jobs.start_scheduler(poll_s=0.2)
    try:
        deadline = time.time() + 600  # a loaded 2-core machine: minutes, not seconds
        while jobs.info("r")["state"] == "running" and time.time() < deadline:
            time.sleep(0.5)
    finally:
        jobs.close()
    assert jobs.info("r")["state"] == "finished"
    chunks = read_jsonl(jobs.path_of("r") / CHUNKS_FILE)
    assert chunks[0]["steps"] == 1 and len(chunks) >= 2  # the first chunk measures, the next ones are planned
    assert_same(results(jobs.path_of("r"), SMALL["steps"]), one_go)


def test_a_chunk_cut_off_is_retried_smaller_from_the_last_completed_step(tmp_path, one_go, monkeypatch):
    from training.loop import Trainer

    real, calls = Trainer.train_step, {"n": 0}

    def cut_off_in_the_second_chunk(self):
        calls["n"] += 1
        if calls["n"] == 3:  # the first chunk (3 steps) dies in its third step, before any checkpoint
            raise Killed
        return real(self)

    monkeypatch.setattr(Trainer, "train_step", cut_off_in_the_second_chunk)
    monkeypatch.setattr("training.chunks.steps_per_chunk", lambda *a, **k: min(3, k.get("steps_left", 3)))
    jobs = manager(tmp_path)
    jobs.submit("r", preset("tiny-cpu", **SMALL))
    drive(jobs)
    assert jobs.info("r")["state"] == "finished"
    chunks = read_jsonl(jobs.path_of("r") / CHUNKS_FILE)
    assert [(c["start"], c["steps"], c["state"]) for c in chunks] == \
        [(0, 3, "cut off"), (0, 1, "running"), (1, 3, "finished")]  # retried at half size, from the start
    lost = sum(1 for c in chunks if c["state"] == "cut off")
    assert lost == 1 and calls["n"] - SMALL["steps"] <= 3  # steps begun twice: at most the chunk cut off
    assert_same(results(jobs.path_of("r"), SMALL["steps"]), one_go)


def test_a_run_whose_chunks_never_come_back_fails_with_a_message_and_resumes(tmp_path):
    def dead(path, n_steps, duration_s):
        raise RuntimeError("ZeroGPU quota exceeded")

    jobs = manager(tmp_path, call=dead, retries=2)
    jobs.submit("r", preset("tiny-cpu", **SMALL))
    assert drive(jobs) == ["r"] * 3
    info = jobs.info("r")
    assert info["state"] == "failed" and "3 chunks in a row" in info["error"] and "quota" in info["error"]
    jobs.runner.call = stand_in_gpu(chunk)
    jobs.resume("r")
    drive(jobs)
    assert jobs.info("r")["state"] == "finished"


def test_a_step_longer_than_a_call_fails_the_run_and_says_what_to_do(tmp_path):
    jobs = manager(tmp_path, duration_s=10)
    jobs.submit("r", preset("tiny-cpu", **SMALL))
    (jobs.path_of("r") / "metrics.jsonl").write_text(json.dumps({"kind": "step", "step": 0, "time/step_s": 60.0}) + "\n")
    drive(jobs)
    info = jobs.info("r")
    assert info["state"] == "failed" and "longer than a ZeroGPU call" in info["error"]


def fake(path, n_steps, duration_s, served, chunks_each=3):
    """A chunk that trains nothing: each run finishes after ``chunks_each`` calls."""
    name = path.rsplit("/", 1)[-1]
    served.append(name)
    done = served.count(name) >= chunks_each
    return {"state": "finished" if done else "running", "error": None}


def test_visitors_chunks_take_turns(tmp_path):
    served = []
    jobs = manager(tmp_path, call=lambda p, k, d: fake(p, k, d, served))
    jobs.submit("a1", preset("tiny-cpu", **SMALL), owner="alice")
    jobs.submit("a2", preset("tiny-cpu", **SMALL), owner="alice")
    jobs.submit("b1", preset("tiny-cpu", **SMALL), owner="bob")
    drive(jobs)
    owners = ["alice" if n.startswith("a") else "bob" for n in served]
    assert owners[:6] == ["alice", "bob"] * 3  # bob's one run gets as many chunks as alice's two together
    assert served[:6] == ["a1", "b1", "a2", "b1", "a1", "b1"]
    assert all(jobs.info(n)["state"] == "finished" for n in ("a1", "a2", "b1"))


def test_at_most_active_runs_take_turns_and_the_rest_wait_queued(tmp_path):
    served = []
    jobs = manager(tmp_path, call=lambda p, k, d: fake(p, k, d, served, chunks_each=1), active=2)
    for name in ("x", "y", "z"):
        jobs.submit(name, preset("tiny-cpu", **SMALL))
    assert [jobs.info(n)["state"] for n in ("x", "y", "z")] == ["running", "running", "queued"]
    drive(jobs)
    jobs.schedule()  # the job manager's thread starts z when a slot frees
    drive(jobs)
    assert served == ["x", "y", "z"]


def test_stop_ends_a_waiting_run_at_once_and_resume_queues_it_again(tmp_path):
    served = []
    jobs = manager(tmp_path, call=lambda p, k, d: fake(p, k, d, served))
    jobs.submit("r", preset("tiny-cpu", **SMALL))
    jobs.runner.step()
    assert jobs.stop("r")["state"] == "stopped"
    assert jobs.runner.step() is None
    jobs.resume("r")
    drive(jobs)
    assert jobs.info("r")["state"] == "finished" and served == ["r"] * 3


def test_stop_during_a_chunk_takes_effect_at_its_end(tmp_path):
    served = []

    def stopped_meanwhile(path, k, d):
        assert jobs.stop("r")["state"] == "running"  # a visitor clicks Stop while the chunk is on the GPU
        return fake(path, k, d, served)

    jobs = manager(tmp_path, call=stopped_meanwhile)
    jobs.submit("r", preset("tiny-cpu", **SMALL))
    assert drive(jobs) == ["r"]
    assert jobs.info("r")["state"] == "stopped" and served == ["r"]


def test_public_modes_check_before_a_start_applies(tmp_path):
    jobs = manager(tmp_path)

    def refuse(name):
        raise JobError("the lab's disk is full")

    jobs.before_launch = refuse
    jobs.submit("r", preset("tiny-cpu", **SMALL))
    assert jobs.info("r")["state"] == "failed" and jobs.runner.active() == []


def test_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("HICRA_LAB_ZEROGPU_DURATION", "90")
    monkeypatch.setenv("HICRA_LAB_ZEROGPU_ACTIVE", "2")
    s = ZeroGPUSettings.from_env()
    assert (s.duration_s, s.active, s.margin) == (90, 2, 0.3)
    monkeypatch.setenv("HICRA_LAB_ZEROGPU_MARGIN", "1.5")
    with pytest.raises(ValueError, match="HICRA_LAB_ZEROGPU_MARGIN"):
        ZeroGPUSettings.from_env()


def test_next_run_with_nothing_waiting():
    assert next_run([], {}) is None


# ------------------------------------------------------------------------------- the Space's preset

def test_the_space_preset_fits_public_mode_and_a_zerogpu_call():
    from lab.ui.context import PUBLIC_MAX_STEPS, PUBLIC_MODELS
    from training.tasks import get_task, resolve_sg_set

    cfg = preset("space-qwen0.5b")
    assert cfg.model in PUBLIC_MODELS and cfg.steps <= PUBLIC_MAX_STEPS
    assert cfg.activation_checkpointing and cfg.sg_set == "reasoning"
    assert cfg.prompts_per_step * cfg.group_size <= 32 and cfg.max_new_tokens <= 256  # a step in one call
    assert resolve_sg_set(cfg.sg_set, get_task("multiply")).phrases  # the preset's planning phrases load offline


def test_the_space_presets_code_path_on_the_tiny_model_in_chunks(tmp_path):
    # The preset as it is but for what needs the hub (the model, GSM8K) and sizes cut for a CPU test:
    # 2 prompts, 16 tokens, 2 steps, an evaluation of 2 problems. LoRA r 32, micro-batches of 2 groups and
    # activation checkpointing stay the preset's.
    cfg = preset("space-qwen0.5b", model="tiny", task="multiply", prompts_per_step=2, max_new_tokens=16, steps=2,
                 eval_every=2, eval_n=2, eval_samples=1, threads=1)
    jobs = manager(tmp_path)
    jobs.submit("space", cfg)
    assert drive(jobs) == ["space", "space"]  # a first chunk of one step (it measures), then the rest
    assert jobs.info("space")["state"] == "finished"
    records = read_jsonl(jobs.path_of("space") / "metrics.jsonl")
    assert [r["kind"] for r in records] == ["eval", "step", "step", "eval"]


def test_the_space_benchmark_dry_runs_on_a_cpu(tmp_path):
    """bench/space_step.py (bash bench/space_check.sh on a GPU) on the bundled model's shapes: every figure written."""
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "space.json"
    subprocess.run([sys.executable, "bench/space_step.py", "--arch", "tiny", "--device", "cpu", "--max-new", "8",
                    "--steps", "1", "--warmup", "0", "--eval-n", "2", "--prompt-tokens", "20", "--json", str(out)],
                   check=True, cwd=Path(__file__).resolve().parent.parent, capture_output=True, timeout=600)
    figures = json.loads(out.read_text())
    assert figures["settings"]["preset"] == "space-qwen0.5b" and figures["settings"]["group_size"] == 8
    for key in ("load_s", "step_s", "eval_s", "checkpoint_s"):
        assert figures[key] > 0, key
    assert set(figures["chunk_steps"]) == {"60", "120"}
