"""Issue 28, the runs' part: retention and low disk (items 2, 5), broken entries in the runs folder (6), the
cause of a failure and resume from a damaged checkpoint (7), the collapse guard (8), one run per --out (9) and
the CLI's calm errors (11). Each test reproduces the issue's report; docs/failures.md describes the behaviour.

Training here is tiny on purpose (the bundled model, 2 prompts x 4 responses, a few steps): the tests check
what a run records when it fails, not what it learns.
"""

import errno
import json
import logging
import math
import os
import time
from pathlib import Path

import pytest

from training.config import RunConfig, preset
from training.jobs import JobError, JobManager
from training.public import GB, PublicLimits, PublicPolicy
from training.runs import RunDir, read_jsonl

# 2 prompts x 4 responses of at most 32 tokens, no evaluation: a step is about a second on a laptop CPU.
SMALL = dict(prompts_per_step=2, group_size=4, max_new_tokens=32, eval_every=0, threads=1)


def fake_run(root: Path, name: str, state: str, ended: float, owner: str | None = None, job: bool = True):
    """A run folder as the trainer leaves it; ``job=False``: as the command line leaves it (no job.json)."""
    path = root / name
    path.mkdir()
    if job:
        data = {"name": name, "kind": "run", "submitted": ended, "algos": ["hicra"], "seeds": [0]}
        if owner:
            data["owner"] = owner
        (path / "job.json").write_text(json.dumps(data))
    (path / "config.json").write_text(json.dumps(RunConfig().to_json()))
    RunDir(path).set_status(state, step=2, ended=ended)
    (path / "checkpoints" / "step-2" / "adapter").mkdir(parents=True)
    (path / "checkpoints" / "step-2" / "state.pt").write_bytes(b"0" * 1000)
    (path / "metrics.jsonl").write_text('{"kind": "step", "step": 0}\n')
    return path


def checkpoints(root: Path) -> list[str]:
    return sorted(p.parent.parent.parent.name for p in root.glob("*/checkpoints/step-*/state.pt"))


# ------------------------------------------------------------ items 2 and 5: retention


def test_a_launch_refused_for_low_disk_deletes_nothing(tmp_path):
    """Item 2: 1 GiB free, 2 needed, and removing checkpoints cannot make it: refused, every checkpoint kept."""
    jobs = JobManager(tmp_path, max_concurrent=1)
    policy = PublicPolicy(jobs, PublicLimits(min_free_gb=2.0), disk_free=lambda: GB)
    for i, state in enumerate(["finished", "stopped", "failed", "finished"]):
        fake_run(tmp_path, f"r{i}", state, ended=100.0 + i, owner="v")
    with pytest.raises(JobError, match="needs 2 GiB .* so none were removed"):
        policy.make_room()
    assert checkpoints(tmp_path) == ["r0", "r1", "r2", "r3"]


def test_low_disk_frees_finished_runs_only_never_a_checkpoint_to_resume_from(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
    removed = lambda: 4 - len(checkpoints(tmp_path))  # noqa: E731 - a fake disk: 1 GiB per removed run
    policy = PublicPolicy(jobs, PublicLimits(min_free_gb=2.5), disk_free=lambda: GB + removed() * GB,
                          sizes=lambda folder: GB)
    fake_run(tmp_path, "old-stopped", "stopped", ended=1.0, owner="v")
    fake_run(tmp_path, "old-failed", "failed", ended=2.0, owner="v")
    fake_run(tmp_path, "f1", "finished", ended=3.0, owner="v")
    fake_run(tmp_path, "f2", "finished", ended=4.0, owner="v")
    policy.make_room()  # 1 -> 2 -> 3 GiB: both finished runs' checkpoints, the stopped and failed keep theirs
    assert checkpoints(tmp_path) == ["old-failed", "old-stopped"]


@pytest.mark.parametrize("env, message", [
    ({"HICRA_LAB_MIN_FREE_GB": "inf"}, "HICRA_LAB_MIN_FREE_GB must be a finite number"),
    ({"HICRA_LAB_MIN_FREE_GB": "nan"}, "HICRA_LAB_MIN_FREE_GB must be a finite number"),
    ({"HICRA_LAB_MIN_FREE_GB": "-1"}, "HICRA_LAB_MIN_FREE_GB must be at least 0, got -1"),
    ({"HICRA_LAB_KEEP_CHECKPOINTS": "-3"}, "HICRA_LAB_KEEP_CHECKPOINTS must be at least 0"),
])
def test_nonsense_retention_settings_are_refused_at_start_up(env, message):
    with pytest.raises(ValueError, match=message):
        PublicLimits.from_env(env)


def test_a_free_space_demand_beyond_the_whole_disk_is_refused_at_start_up(tmp_path):
    with pytest.raises(ValueError, match="HICRA_LAB_MIN_FREE_GB .* is more than the whole disk"):
        PublicPolicy(JobManager(tmp_path, max_concurrent=1), PublicLimits(min_free_gb=1e9))


def test_retention_never_touches_a_command_line_run(tmp_path):
    """Item 5: a small keep setting and visitor runs; the oldest run, from the command line, stays whole."""
    jobs = JobManager(tmp_path, max_concurrent=1)
    policy = PublicPolicy(jobs, PublicLimits(max_queue=1, keep_runs=3, keep_checkpoints=0), disk_free=lambda: 0,
                          sizes=lambda folder: GB)
    fake_run(tmp_path, "cli", "finished", ended=1.0, job=False)
    fake_run(tmp_path, "private", "finished", ended=2.0)  # app-launched before public mode: no owner
    for i in range(5):
        fake_run(tmp_path, f"v{i}", "finished", ended=10.0 + i, owner="v")
    policy.prune()
    with pytest.raises(JobError):  # no disk at all: refused, and still nothing outside the visitors' runs
        policy.make_room()
    assert sorted(jobs.names()) == ["cli", "private", "v2", "v3", "v4"]
    assert checkpoints(tmp_path) == ["cli", "private"]


# ------------------------------------------------------------ item 6: broken entries


@pytest.fixture()
def broken_runs(tmp_path):
    """A runs folder with a link to another folder, a run whose status.json is null, and a queued run."""
    runs, elsewhere = tmp_path / "runs", tmp_path / "elsewhere"
    jobs = JobManager(runs, max_concurrent=1)
    elsewhere.mkdir()
    (elsewhere / "status.json").write_text('{"state": "finished"}')
    (elsewhere / "keep.txt").write_text("not the lab's")
    (runs / "link").symlink_to(elsewhere)
    (runs / "nulled").mkdir()
    (runs / "nulled" / "status.json").write_text("null")
    jobs.path_of("waiting").mkdir()
    (runs / "waiting" / "job.json").write_text(json.dumps({"name": "waiting", "kind": "run", "submitted": 1.0}))
    RunDir(runs / "waiting").set_status("queued", step=0)
    started = []

    def start(name, path):  # stands in for the training process, which would mark its run finished
        started.append(name)
        RunDir(path).set_status("finished")

    jobs._start = start
    return jobs, elsewhere, started


def test_a_bad_entry_does_not_stop_the_queue(broken_runs, caplog):
    jobs, elsewhere, started = broken_runs
    with caplog.at_level(logging.WARNING, logger="training.jobs"):
        jobs.schedule()
        jobs.schedule()
    assert started == ["waiting"]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 2 and all(m.startswith("scheduler: skipping") for m in said), said  # once each
    assert "symbolic link" in jobs.problems["link"] and "status.json holds null" in jobs.problems["nulled"]


def test_a_bad_entry_is_listed_with_its_message_and_can_be_deleted(broken_runs):
    jobs, elsewhere, _ = broken_runs
    listing = {j["name"]: j for j in jobs.list()}
    assert listing["link"]["state"] == "broken" and "is a symbolic link, not a run" in listing["link"]["error"]
    assert listing["nulled"]["state"] == "broken" and "status.json holds null" in listing["nulled"]["error"]
    assert jobs.info("nulled")["state"] == "broken"
    with pytest.raises(JobError, match="symbolic link"):
        jobs.resume("link")
    jobs.delete("link")
    jobs.delete("nulled")
    assert jobs.names() == ["waiting"]
    assert (elsewhere / "keep.txt").read_text() == "not the lab's"  # the link went, not what it pointed to


# ------------------------------------------------------------ item 7: the cause of a failure


def test_a_full_disk_fails_the_run_and_says_so(tmp_path, monkeypatch):
    """No space after the first step: every new file fails with ENOSPC. The run is marked failed (its
    status.json rewritten in place), with the cause, instead of staying 'running'."""
    import training.runs
    from training.arms import train

    full = {"on": False}
    append, write_text = training.runs.append_jsonl, Path.write_text

    def append_or_fail(path, record):
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        append(path, record)
        full["on"] = record.get("kind") == "step"  # the disk fills after the first step

    def write_or_fail(self, *args, **kwargs):
        if full["on"] and self.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(training.runs, "append_jsonl", append_or_fail)
    monkeypatch.setattr(Path, "write_text", write_or_fail)
    with pytest.raises(OSError):
        list(train(preset("tiny-cpu", steps=3, checkpoint_every=10, **SMALL), tmp_path / "run"))
    full["on"] = False
    status = json.loads((tmp_path / "run" / "status.json").read_text())
    assert status["state"] == "failed" and status["cause"] == "disk-full", status
    assert status["error"].startswith("the disk is full (No space left on device writing ")


def test_a_vanished_process_gets_its_cause_from_its_exit_and_log(tmp_path):
    from training.guard import cause_of_exit

    jobs = JobManager(tmp_path, max_concurrent=1)
    path = jobs.path_of("full")
    path.mkdir()
    (path / "job.json").write_text(json.dumps({"name": "full", "kind": "run", "submitted": 0}))
    (path / "log.txt").write_text("step 3/10\nOSError: [Errno 28] No space left on device: 'x'\n")
    RunDir(path).set_status("running", pid=999_999_999, step=3)
    info = jobs.info("full")
    assert info["state"] == "failed" and info["cause"] == "disk-full" and "full disk" in info["error"]
    assert cause_of_exit(-9, "")[0] == "killed" and "out-of-memory killer" in cause_of_exit(-9, "")[1]
    assert cause_of_exit(1, "torch.OutOfMemoryError: CUDA out of memory")[0] == "out-of-memory"
    assert cause_of_exit(2, "error: unknown task 'x'\n") == ("failed", "unknown task 'x'")


def test_out_of_memory_is_named_as_such():
    """A real allocation the machine cannot make (4 PiB: refused at once, nothing is allocated)."""
    import torch

    from training.guard import failure_cause

    with pytest.raises(RuntimeError) as caught:
        torch.empty(2**50, dtype=torch.float32)
    cause, message = failure_cause(caught.value)
    assert cause == "out-of-memory" and message.startswith("out of memory (RuntimeError: ")
    assert failure_cause(OSError(errno.ENOSPC, "No space left on device", "m.jsonl"))[0] == "disk-full"
    assert failure_cause(KeyError("x")) == ("crashed", "KeyError: 'x'")


def test_a_status_the_disk_will_not_take_is_kept_until_it_can_be_written(tmp_path, monkeypatch):
    import training.runs

    jobs = JobManager(tmp_path, max_concurrent=1)
    path = jobs.path_of("gone")
    path.mkdir()
    (path / "job.json").write_text(json.dumps({"name": "gone", "kind": "run", "submitted": 0}))
    (path / "log.txt").write_text("MemoryError\n")
    RunDir(path).set_status("running", pid=999_999_999, step=3)

    def no_space(*_, **__):
        raise OSError(errno.ENOSPC, "No space left on device")

    real = training.runs.write_json_atomic
    monkeypatch.setattr(training.runs, "write_json_atomic", no_space)
    assert jobs.info("gone")["cause"] == "out-of-memory"  # known, not yet written
    assert RunDir(path).status()["state"] == "running"
    monkeypatch.setattr(training.runs, "write_json_atomic", real)  # space again
    time.sleep(0.01)
    assert jobs.info("gone")["cause"] == "out-of-memory"
    assert RunDir(path).status()["cause"] == "out-of-memory" and "ran out of memory" in RunDir(path).status()["error"]


def test_resume_falls_back_to_the_newest_readable_checkpoint(tmp_path, caplog):
    from training.arms import train

    out = tmp_path / "run"
    cfg = preset("tiny-cpu", steps=2, checkpoint_every=1, **SMALL)
    list(train(cfg, out))
    (out / "checkpoints" / "step-2" / "adapter" / "adapter_model.safetensors").write_bytes(b"torn")
    with caplog.at_level(logging.WARNING, logger="training.arms"):
        records = list(train(preset("tiny-cpu", steps=3, checkpoint_every=1, **SMALL), out, resume=True))
    assert [r["step"] for r in records if r["kind"] == "step"] == [1, 2]  # from step-1: steps 1 and 2 again
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "finished" and status["start_step"] == 1
    assert status["resume_note"].startswith("resumed from step-1, the newest checkpoint that could be read; "
                                            "skipped step-2 (SafetensorError")
    assert "resumed from step-1" in caplog.text
    for ckpt in ("step-1", "step-2", "step-3"):
        (out / "checkpoints" / ckpt / "state.pt").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match=r"no checkpoint can be read \(step-3 \(UnpicklingError"):
        list(train(preset("tiny-cpu", steps=4, checkpoint_every=1, **SMALL), out, resume=True))


# ------------------------------------------------------------ item 8: the collapse guard


def test_the_collapse_watch_rules():
    from training.guard import Collapsed, CollapseWatch

    watch = CollapseWatch(0.5, 3, 0, vocab_size=783, lr=1.0, max_grad_norm=0.0)  # limit 0.5 ln 783 = 3.33 nats
    for step, entropy in enumerate([0.1, 4.0, 4.0, 0.2, 4.0, 4.0]):  # broken streaks: no trip
        watch.check(step, {"entropy/all": entropy, "reward/mean": 0.0})
    with pytest.raises(Collapsed, match=r"collapsed at step 6: the mean token entropy \(4.50 nats\) has been at "
                                        r"least 3.33 nats \(0.5 of the uniform maximum, ln 783 = 6.66\) for 3 "
                                        r"steps since step 4.*gradient clipping off"):
        watch.check(6, {"entropy/all": 4.5, "reward/mean": 0.0})
    off = CollapseWatch(0.0, 1, 0, vocab_size=783, lr=1.0, max_grad_norm=1.0)
    off.check(0, {"entropy/all": 6.6, "reward/mean": 0.0})  # collapse_entropy 0: off
    reward = CollapseWatch(0.0, 3, 2, vocab_size=783, lr=1.0, max_grad_norm=1.0)
    for step, r in enumerate([0.0, 0.0, 0.0, 0.25, 0.0]):  # zeros before any reward do not count
        reward.check(step, {"entropy/all": 0.1, "reward/mean": r})
    with pytest.raises(Collapsed, match="mean reward has been exactly 0 for 2 steps"):
        reward.check(5, {"entropy/all": 0.1, "reward/mean": 0.0})
    with pytest.raises(ValueError, match="collapse_entropy must be a number from 0 to 1"):
        RunConfig(collapse_entropy=1.5).validate()


# The collapse needs rewards that differ within a group (a flat group has no gradient), so responses long
# enough to finish an answer: 128 tokens. Measured by bench/collapse_entropy.py (2 x 4, 128 tokens): --lr 1
# --max-grad-norm 0 --warmup 1 takes the mean token entropy from 0.09 to 3.8-4.7 nats after one step; lr 3e-4
# stays at 0.08-0.10 nats over 10 steps.
COLLAPSE = dict(SMALL, max_new_tokens=128, checkpoint_every=100)


def test_a_healthy_short_run_does_not_trip_the_collapse_guard(tmp_path):
    from training.arms import train

    records = list(train(preset("tiny-cpu", steps=4, collapse_steps=1, **COLLAPSE), tmp_path / "ok"))
    assert json.loads((tmp_path / "ok" / "status.json").read_text())["state"] == "finished"
    assert max(r["entropy/all"] for r in records) < 0.1 * math.log(783)  # far below the 0.5 limit


def test_a_collapsing_run_fails_with_its_step_and_a_message(tmp_path, capsys):
    """The issue's reproduction, `--lr 1 --max-grad-norm 0`, ended "finished" with exit code 0."""
    from training.__main__ import main

    out = tmp_path / "lr1"
    flags = sum(([f"--{k.replace('_', '-')}", str(v)] for k, v in COLLAPSE.items()), [])
    assert main(["run", *flags, "--steps", "6", "--lr", "1", "--max-grad-norm", "0", "--warmup", "1",
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after the planning-coverage warning
    assert err.startswith("error: the run collapsed at step 3: the mean token entropy") and "since step 1" in err
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and status["cause"] == "collapsed" and status["step"] == 4
    steps = [r for r in read_jsonl(out / "metrics.jsonl") if r["kind"] == "step"]
    assert [r["step"] for r in steps] == [0, 1, 2, 3]  # the collapsed step's record is kept: it shows it
    assert all(r["entropy/all"] >= 0.5 * math.log(783) for r in steps[1:])


# ------------------------------------------------------------ items 9 and 11: the command line


@pytest.fixture()
def no_model(monkeypatch):
    """Fails the test if anything tries to load a model or train."""
    import training.arms
    import training.engine.modeling

    def refuse(*_, **__):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(training.arms, "Backbone", refuse)
    monkeypatch.setattr(training.engine.modeling, "load_model", refuse)


def test_a_second_run_into_the_same_out_is_refused(tmp_path, capsys, no_model, monkeypatch):
    import training.arms
    from training.__main__ import main

    out = fake_run(tmp_path, "first", "finished", ended=1.0, job=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    for command in ("run", "compare"):
        assert main([command, "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert "already holds a run's records: add --resume to continue it, --overwrite to replace it" in err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert main(["run", "--out", str(out), "--resume", "--overwrite"]) == 2
    monkeypatch.setattr(training.arms, "train", lambda cfg, path, resume: iter(()))  # no training: the folder
    assert main(["run", "--out", str(out), "--overwrite"]) == 0
    assert sorted(p.name for p in out.rglob("*")) == ["checkpoints", "config.json"]  # the old records went


@pytest.mark.parametrize("device, message", [
    ("banana", "device must be empty (a GPU if there is one), cpu, cuda or cuda:N, got 'banana'"),
    ("cuda:7", "device cuda:7: this machine has "),
])
def test_a_device_the_machine_lacks_is_refused_before_anything(device, message, tmp_path, capsys, no_model):
    from training.__main__ import main

    import torch

    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    for argv in (["run", "--out", str(tmp_path / "run")], ["compare", "--out", str(tmp_path / "run")],
                 ["eval", "--n", "2"]):
        assert main([*argv, "--device", device]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--task", "nope"], "unknown task 'nope'"),
    (["--model", "/no/such/model"], "no such model folder"),
])
def test_a_run_that_cannot_start_leaves_no_half_made_folder(args, message, tmp_path, capsys):
    from training.__main__ import main

    assert main(["run", "--out", str(tmp_path / "run"), *args, "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_batch_the_task_or_the_memory_cannot_hold_is_one_line(tmp_path, capsys, monkeypatch):
    """More prompts a step than the task has problems: a message, not 'Sample larger than population'. Out of
    memory (a 1024 x 64 batch on a laptop; stood in for here, a real one would take the machine's memory):
    one line and exit 1 (and the folder goes: the run wrote no record)."""
    from training.__main__ import main
    from training.loop import Trainer

    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps({"question": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n"
                          for i in range(10)))
    small = ["--threads", "1", "--eval-every", "0", "--group-size", "2", "--max-new-tokens", "8"]
    assert main(["run", "--out", str(tmp_path / "qa"), "--task", f"jsonl:{qa}", "--sg-set", "reasoning",
                 "--prompts-per-step", "64", *small]) == 2
    assert "prompts_per_step (64) is more than the " in capsys.readouterr().err
    assert not (tmp_path / "qa").exists()

    def no_memory(self):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you "
                           "tried to allocate 85899345920 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(Trainer, "train_step", no_memory)
    assert main(["run", "--out", str(tmp_path / "big"), "--prompts-per-step", "2", *small]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: out of memory (RuntimeError: [enforce fail"), err
    assert list(tmp_path.iterdir()) == [qa]


def test_summary_of_a_damaged_run_prints_what_it_can(tmp_path, capsys):
    from training.__main__ import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "status.json").write_text("null")
    (run / "config.json").write_text("{not json")
    (run / "metrics.jsonl").write_text(
        '{"kind": "eval", "step": 0, "time": 1.0, "eval/accuracy": 0.5, "eval/pass_at_k": 0.75}\n'
        '{"kind": "eval", "step": 5, "time": null, "eval/accuracy": null}\n'
        '{"kind": "eval"}\n[1, 2]\n{"kind": "eval", "st\n')
    assert main(["summary", str(run)]) == 0
    out, err = capsys.readouterr()
    assert "    0      0.0         0.500   0.750" in out and "state ?" in out
    assert "2 evaluation records without a step, time, accuracy or pass@k skipped" in err
