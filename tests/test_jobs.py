"""The job manager: names, the queue limit, stop / resume, rediscovery after a restart."""

import json
import time

import pytest

from training.config import preset
from training.jobs import JobError, JobManager
from training.runs import RunDir

# Two steps of the smallest useful batch: each job is a few seconds of work.
TINY = dict(steps=2, prompts_per_step=2, group_size=4, max_new_tokens=32, eval_every=0, threads=1)


def wait_for(manager, name, states, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = next(j for j in manager.list() if j["name"] == name)
        if info["state"] in states:
            return info
        time.sleep(0.5)
    raise AssertionError(f"{name} did not reach {states}: {info}")


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "x" * 65, "sp ace", "/abs", "..", "a\\b"])
def test_names_cannot_leave_the_runs_folder(tmp_path, name):
    with pytest.raises(JobError, match="not allowed"):
        JobManager(tmp_path, max_concurrent=1).path_of(name)


def test_queue_limit_and_order(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
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


def test_stop_queued_resume_and_delete(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
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


def test_a_sweep_runs_as_one_job(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
    jobs.submit("ab", preset("tiny-cpu", **TINY), algos=["grpo", "hicra"], seeds=[0])
    info = wait_for(jobs, "ab", {"finished", "failed"})
    assert info["state"] == "finished", (tmp_path / "ab" / "log.txt").read_text()
    assert info["arms"] == ["grpo-s0", "hicra-s0"]
    assert len([r for r in jobs.tail("ab", arm="hicra-s0") if r["kind"] == "step"]) == 2
