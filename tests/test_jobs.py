"""The job manager: names, the queue limit, stop / resume, rediscovery after a restart, the scheduler."""

import dataclasses
import json
import time

import pytest

from training.config import preset
from training.jobs import JobError, JobManager
from training.runs import RunDir

# Two steps of the smallest useful batch: each job is a few seconds of work.
TINY = dict(steps=2, prompts_per_step=2, group_size=4, max_new_tokens=32, eval_every=0, threads=1)
# A job is seconds of work, but the test machine is shared and can be slow for minutes: wait on the run's
# state (status.json) with a limit far above what a job needs.
WAIT_S = 900


def wait_for(manager, name, states, timeout=WAIT_S):
    """Poll the run's status on disk until it is in ``states`` or has ended; unlike ``list()`` this starts
    nothing (the scheduler thread does)."""
    deadline = time.time() + timeout
    while True:
        info = manager.info(name)
        if info["state"] in {*states, "finished", "failed", "stopped"} or time.time() > deadline:
            break
        time.sleep(0.5)
    assert info["state"] in states, f"{name} did not reach {states} in {timeout} s: {info}"
    return info


@pytest.fixture()
def manager(tmp_path):
    """A manager with its scheduler thread (as the app has), polling often so the tests are quick."""
    jobs = JobManager(tmp_path, max_concurrent=1).start_scheduler(poll_s=0.2)
    yield jobs
    jobs.close()


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65, "sp ace", "/abs", "..", "a\\b"])
def test_names_cannot_leave_the_runs_folder(tmp_path, name):
    with pytest.raises(JobError, match="not allowed"):
        JobManager(tmp_path, max_concurrent=1).path_of(name)


def test_queue_limit_and_order(tmp_path, manager):
    jobs = manager
    first = jobs.submit("first", preset("tiny-cpu", **TINY))
    second = jobs.submit("second", preset("tiny-cpu", **TINY))
    assert first["state"] == "running" and second["state"] == "queued"
    with pytest.raises(JobError, match="already exists"):
        jobs.submit("first", preset("tiny-cpu", **TINY))
    wait_for(jobs, "first", {"finished"})
    info = wait_for(jobs, "second", {"finished"})
    assert info["step"] == 2 and info["duration_s"] > 0
    records = jobs.tail("second")
    assert [r["step"] for r in records if r["kind"] == "step"] == [0, 1]
    assert jobs.tail("second", since=1)[0]["step"] == 1


def test_stop_queued_resume_and_delete(tmp_path, manager):
    jobs = manager
    jobs.submit("busy", preset("tiny-cpu", **TINY))
    jobs.submit("waiting", preset("tiny-cpu", **TINY))
    assert jobs.stop("waiting")["state"] == "stopped"
    with pytest.raises(JobError, match="is running; stop it first"):
        jobs.delete("busy")
    wait_for(jobs, "busy", {"finished"})
    assert jobs.resume("waiting")["state"] in ("queued", "running")
    wait_for(jobs, "waiting", {"finished"})
    jobs.delete("waiting")
    assert "waiting" not in jobs.names()


def test_a_dead_running_job_is_marked_failed_after_a_restart(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
    path = jobs.path_of("ghost")
    path.mkdir()
    (path / "job.json").write_text(json.dumps({"name": "ghost", "kind": "run", "submitted": 0}))
    RunDir(path).set_status("running", pid=999_999_999, step=3)
    info = JobManager(tmp_path, max_concurrent=1).info("ghost")
    assert info["state"] == "failed" and "ended without finishing" in info["error"]


def test_a_sweep_runs_as_one_job(tmp_path, manager):
    jobs = manager
    jobs.submit("ab", preset("tiny-cpu", **TINY), algos=["grpo", "hicra"], seeds=[0])
    info = wait_for(jobs, "ab", {"finished", "failed"})
    assert info["state"] == "finished", (tmp_path / "ab" / "log.txt").read_text()
    assert info["arms"] == ["grpo-s0", "hicra-s0"]
    assert len([r for r in jobs.tail("ab", arm="hicra-s0") if r["kind"] == "step"]) == 2


def test_a_queued_run_starts_by_itself_when_the_previous_one_ends(manager, tmp_path):
    """Nobody lists the runs or calls schedule(): the scheduler thread starts the queued run."""
    manager.submit("one", preset("tiny-cpu", **TINY))
    manager.submit("two", preset("tiny-cpu", **TINY))
    deadline = time.time() + WAIT_S
    while RunDir(tmp_path / "two").status().get("state") == "queued" and time.time() < deadline:
        time.sleep(0.5)  # reads status.json only: nothing here can start a run
    one, two = RunDir(tmp_path / "one").status(), RunDir(tmp_path / "two").status()
    assert one["state"] == "finished", (tmp_path / "one" / "log.txt").read_text()
    assert two["state"] in ("running", "finished") and two["started"] >= one["ended"]
    assert wait_for(manager, "two", {"finished", "failed"})["state"] == "finished"


def test_the_scheduler_survives_a_vanished_runs_folder_and_stops_on_close(tmp_path, caplog):
    import shutil

    jobs = JobManager(tmp_path / "runs", max_concurrent=1).start_scheduler(poll_s=0.05)
    shutil.rmtree(tmp_path / "runs")
    time.sleep(0.5)
    assert jobs._scheduler.is_alive()
    jobs.close()
    assert jobs._scheduler is None
    warnings = [r.getMessage() for r in caplog.records if r.name == "training.jobs"]
    assert len(warnings) == 1 and warnings[0].startswith("scheduler: FileNotFoundError"), warnings


def test_submit_refuses_absurd_settings_before_queueing(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
    with pytest.raises(ValueError, match="group_size must be a whole number from 1 to 512, got 10,000"):
        jobs.submit("huge", dataclasses.replace(preset("tiny-cpu"), group_size=10_000))
    with pytest.raises(ValueError, match="alpha must be a finite number"):
        jobs.submit("nan", dataclasses.replace(preset("tiny-cpu"), alpha=float("nan")))
    assert jobs.names() == [] and list(tmp_path.iterdir()) == []
