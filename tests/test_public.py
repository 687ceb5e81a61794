"""Public mode (training/public.py, lab/ui/public_handlers.py) on fake run folders: owner ids, the queue
share, retention and the disk check."""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from training.jobs import JobError, JobManager
from training.public import GB, PublicLimits, PublicPolicy
from training.runs import RunDir

TOKEN_A = "a" * 24
TOKEN_B = "b" * 24


def fake_run(jobs, name, state, ended=None, owner=None, arms=(), submitted=None):
    """A run folder as the trainer leaves it: job, status, metrics, samples and a checkpoint (per arm)."""
    path = jobs.path_of(name)
    path.mkdir()
    job = {"name": name, "kind": "compare" if arms else "run", "submitted": submitted or ended or time.time(),
           "algos": ["hicra"], "seeds": [0]}
    if owner:
        job["owner"] = owner
    (path / "job.json").write_text(json.dumps(job))
    RunDir(path).set_status(state, step=2, ended=ended)
    for folder in [path / a for a in arms] or [path]:
        (folder / "checkpoints" / "step-2" / "adapter").mkdir(parents=True)
        (folder / "checkpoints" / "step-2" / "adapter" / "adapter_model.safetensors").write_bytes(b"0" * 1000)
        (folder / "metrics.jsonl").write_text('{"kind": "step", "step": 0}\n')
        (folder / "samples.jsonl").write_text('{"step": 0, "text": "x"}\n')
    return path


@pytest.fixture()
def stand_in():
    """A process the job manager takes for a live training run (its command line names 'training')."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "training-stand-in"])
    deadline = time.time() + 60  # until its command line shows (what the job manager reads)
    while b"training-stand-in" not in Path(f"/proc/{proc.pid}/cmdline").read_bytes() and time.time() < deadline:
        time.sleep(0.05)
    yield proc.pid
    proc.kill()
    proc.wait()


def test_owner_ids_are_opaque_stable_and_strongest_first(tmp_path):
    policy = PublicPolicy(JobManager(tmp_path, max_concurrent=1))
    a = policy.visitor(token=TOKEN_A, session="s1")
    assert a.kind == "browser" and len(a.ids) == 2 and TOKEN_A not in a.owner and len(a.owner) == 32
    assert policy.visitor(token=TOKEN_A, session="s2").owner == a.owner  # a reload: new session, same token
    assert policy.visitor(token=TOKEN_B).owner != a.owner
    signed_in = policy.visitor(hf_user="alice", token=TOKEN_A)
    assert signed_in.kind == "huggingface" and signed_in.user == "alice"
    assert signed_in.owns({"owner": a.owner})  # runs started before signing in stay yours
    assert not policy.visitor(session="s1").owns({})  # a run without an owner belongs to nobody
    # Another lab (another secret) gives the same token another id; the id never shows the token.
    other = PublicPolicy(JobManager(tmp_path / "other", max_concurrent=1)).visitor(token=TOKEN_A)
    assert other.owner != a.owner
    assert (tmp_path / ".owner-secret").stat().st_mode & 0o777 == 0o600
    with pytest.raises(JobError, match="owner_token must be 16 to 128"):
        policy.visitor(token="short")


def test_only_the_owner_may_act(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
    policy = PublicPolicy(jobs)
    a, b = policy.visitor(token=TOKEN_A), policy.visitor(token=TOKEN_B)
    fake_run(jobs, "mine", "finished", ended=1.0, owner=a.owner)
    fake_run(jobs, "cli", "finished", ended=2.0)
    assert policy.check_owner(a, "mine", "stop it")["name"] == "mine"
    with pytest.raises(JobError, match="belongs to another visitor: you can watch and compare it, "
                                       "but only they can delete it"):
        policy.check_owner(b, "mine", "delete it")
    with pytest.raises(JobError, match="started outside this public lab's pages"):
        policy.check_owner(a, "cli", "stop it")
    with pytest.raises(JobError, match="no run named"):
        policy.check_owner(a, "missing", "stop it")


def test_queue_share_and_cap_say_how_many_runs_are_ahead(tmp_path, stand_in):
    jobs = JobManager(tmp_path, max_concurrent=1)
    policy = PublicPolicy(jobs, PublicLimits(max_runs_per_owner=1, max_queue=2, keep_runs=10),
                          disk_free=lambda: 100 * GB)
    a, b, c = (policy.visitor(session=s) for s in ("a", "b", "c"))
    path = fake_run(jobs, "a-run", "running", owner=a.owner, submitted=1.0)
    RunDir(path).set_status("running", pid=stand_in)
    fake_run(jobs, "b-run", "queued", owner=b.owner, submitted=2.0)
    with pytest.raises(JobError, match=r"you already have 1 run queued or running \('a-run': running\); "
                                       "this public lab allows 1 per visitor"):
        policy.admit(a)
    with pytest.raises(JobError, match=r"'b-run': queued with 1 run ahead of it"):
        policy.admit(b)
    policy.admit(c)  # a share of their own, and the queue (1 waiting of 2) has room
    fake_run(jobs, "c-run", "queued", owner=c.owner, submitted=3.0)
    assert policy.ahead("c-run") == 2 and policy.ahead("a-run") == 0
    d = policy.visitor(session="d")
    with pytest.raises(JobError, match=r"the queue is full: 3 runs ahead \(1 running, 2 waiting\) and this "
                                       "public lab queues at most 2"):
        policy.admit(d)
    with pytest.raises(JobError, match="could not tell who is asking"):
        policy.admit(policy.visitor())


def test_retention_prunes_oldest_checkpoints_then_oldest_runs(tmp_path, stand_in):
    """Only runs launched here (an owner), never a command-line run, never a resumable run's checkpoints."""
    jobs = JobManager(tmp_path, max_concurrent=1)
    policy = PublicPolicy(jobs, PublicLimits(max_queue=1, keep_runs=6, keep_checkpoints=2))
    states = ["finished", "finished", "stopped", "finished", "failed", "finished"]
    for i, state in enumerate(states):  # six ended runs, r0 the oldest; r3 is a sweep with two arms
        fake_run(jobs, f"r{i}", state, ended=100.0 + i, owner="v", arms=("grpo-s0", "hicra-s0") if i == 3 else ())
    fake_run(jobs, "cli", "finished", ended=1.0)  # the oldest of all, from the command line: never touched
    running = fake_run(jobs, "live", "running", submitted=50.0, owner="v")  # not ended: kept whole
    RunDir(running).set_status("running", pid=stand_in)
    done = policy.prune()
    # 7 runs launched here > 6: the oldest ended one goes; of the finished left, the newest two keep their
    # checkpoints; the stopped and failed runs (r2, r4) keep theirs: resume needs them.
    assert done == ["deleted r0", "removed the checkpoints of r1"]
    assert sorted(jobs.names()) == ["cli", "live", "r1", "r2", "r3", "r4", "r5"]
    assert [n for n in jobs.names() if policy.has_checkpoints(n)] == ["cli", "live", "r2", "r3", "r4", "r5"]
    assert (tmp_path / "r1" / "metrics.jsonl").read_text() and (tmp_path / "r1" / "samples.jsonl").exists()
    assert "newest 2 finished runs" in policy.pruned("r1")["why"]
    assert policy.pruned("r2") is None and policy.pruned("cli") is None
    assert policy.prune() == []  # nothing more to do


def test_disk_check_removes_oldest_checkpoints_until_enough_is_free(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
    # A fake disk: 1 GiB free, and each removed checkpoint frees 0.6 GiB.
    free = lambda: GB + 0.6 * GB * sum(1 for n in jobs.names() if not policy.has_checkpoints(n))  # noqa: E731
    policy = PublicPolicy(jobs, PublicLimits(min_free_gb=2.0, keep_checkpoints=10), disk_free=free,
                          sizes=lambda folder: int(0.6 * GB))
    for i in range(3):
        fake_run(jobs, f"r{i}", "finished", ended=100.0 + i, owner="v")
    policy.make_room()  # 1.0 -> 1.6 -> 2.2 GiB: two runs lose their checkpoints, the oldest first
    assert [n for n in jobs.names() if policy.has_checkpoints(n)] == ["r2"]
    assert "less than 2 GiB free" in policy.pruned("r0")["why"]
    policy.limits = PublicLimits(min_free_gb=5.0)
    with pytest.raises(JobError, match=r"the lab's disk has 2.2 GiB free and a run needs 5 GiB .* would free "
                                       r"only 0.6 GiB, so none were removed"):
        policy.make_room()
    assert policy.has_checkpoints("r2")  # a refused launch deletes nothing


def test_a_run_that_would_start_without_disk_fails_with_the_reason(tmp_path):
    jobs = JobManager(tmp_path, max_concurrent=1)
    policy = PublicPolicy(jobs, PublicLimits(min_free_gb=2.0), disk_free=lambda: GB)
    jobs.before_launch = policy.before_launch
    fake_run(jobs, "waiting", "queued")
    info = next(j for j in jobs.list() if j["name"] == "waiting")
    assert info["state"] == "failed" and "needs 2 GiB" in info["error"] and "pid" not in info


def test_limits_from_the_environment():
    limits = PublicLimits.from_env({"HICRA_LAB_MAX_RUNS_PER_OWNER": "2", "HICRA_LAB_MIN_FREE_GB": "0.5"})
    assert limits.max_runs_per_owner == 2 and limits.min_free_gb == 0.5 and limits.max_queue == 4
    with pytest.raises(ValueError, match="HICRA_LAB_MAX_QUEUE must be a number"):
        PublicLimits.from_env({"HICRA_LAB_MAX_QUEUE": "many"})
    with pytest.raises(ValueError, match="HICRA_LAB_KEEP_RUNS .3. must exceed HICRA_LAB_MAX_QUEUE"):
        PublicLimits.from_env({"HICRA_LAB_KEEP_RUNS": "3"})
    with pytest.raises(ValueError, match="HICRA_LAB_MAX_RUNS_PER_OWNER must be at least 1"):
        PublicLimits.from_env({"HICRA_LAB_MAX_RUNS_PER_OWNER": "0"})


def test_the_job_manager_records_an_owner_only_when_given(tmp_path):
    from training.config import preset

    jobs = JobManager(tmp_path, max_concurrent=1)

    def refuse(name):  # keeps the test from starting a training process
        raise JobError("not now")

    jobs.before_launch = refuse
    jobs.submit("private", preset("tiny-smoke"))
    jobs.submit("public", preset("tiny-smoke"), owner="0123abcd")
    assert "owner" not in json.loads((tmp_path / "private" / "job.json").read_text())
    assert json.loads((tmp_path / "public" / "job.json").read_text())["owner"] == "0123abcd"
    assert jobs.info("public")["state"] == "failed" and jobs.info("public")["error"] == "not now"


@pytest.fixture()
def public_lab(tmp_path, monkeypatch):
    """The app's context in public mode over a fresh data folder; one ended run keeps its checkpoints."""
    import lab.ui.context as ctx

    monkeypatch.setenv("HICRA_LAB_DATA", str(tmp_path))
    monkeypatch.setenv("HICRA_LAB_PUBLIC", "1")
    monkeypatch.setenv("HICRA_LAB_KEEP_CHECKPOINTS", "1")
    ctx.settings.cache_clear()
    monkeypatch.setattr(ctx, "_manager", None)
    monkeypatch.setattr(ctx, "_policy", None)
    yield tmp_path
    if ctx._manager is not None:
        ctx._manager.close()  # its scheduler thread
    ctx.settings.cache_clear()


def test_the_page_handlers_of_a_public_lab(public_lab):
    from lab.ui import public_handlers as ph
    from lab.ui.context import policy

    p = policy()
    alice, bob = {"token": TOKEN_A, "session": "page-load-1"}, {"token": TOKEN_B, "session": "page-load-2"}
    owner = p.visitor(**alice).owner
    fake_run(p.jobs, "old", "finished", ended=1.0, owner=owner)
    fake_run(p.jobs, "new", "finished", ended=2.0, owner=owner)
    assert p.prune() == ["removed the checkpoints of old"]
    assert "'old' can no longer be resumed: its checkpoints were removed on" in ph.resume("old", alice)
    archive, message = ph.download_adapter("old", alice)
    assert archive is None and "only the newest 1 finished runs keep their checkpoints" in message
    archive, message = ph.download_adapter("new", {"token": TOKEN_A, "session": "after-a-reload"})
    assert archive.endswith(".zip") and "step-2" in message
    assert "belongs to another visitor" in ph.download_adapter("new", bob)[1]
    status = ph.refresh("old", alice)[0]
    assert "**your run**" in status and "Its checkpoints were removed on" in status
    assert "another visitor's run" in ph.refresh("old", bob)[0]
    notice = ph.notice(bob)
    assert "Runs you start belong to this browser" in notice and "Your runs: none yet" in notice
    assert "for the newest 1 ended runs" in notice and "Now: 2 runs, 1 with checkpoints" in notice
    assert "**old** (finished)" in ph.notice(alice)
    assert "belongs to another visitor" in ph.delete("new", bob)
    assert ph.delete("new", alice) == "Deleted **new**."
    message, name = ph.launch({"token": "x"}, "n", "tiny-smoke", "HICRA", 0.2, 2, "0", 8, "ground-truth")
    assert message.startswith("⚠️ owner_token must be") and name == ""


def test_the_page_reads_who_is_asking(public_lab, monkeypatch):
    import gradio as gr

    from lab.ui import visitors

    profile = gr.OAuthProfile({"name": "Alice", "preferred_username": "alice", "profile": "", "picture": ""})
    request = gr.Request(username=None, session_hash="page-load-1")
    assert visitors.who(TOKEN_A, request, profile) == {"hf_user": "alice", "login": None, "token": TOKEN_A,
                                                        "session": "page-load-1", "address": None}
    assert visitors.who(None, request, None)["token"] is None
    assert visitors.ensure_token(TOKEN_A) == TOKEN_A  # a reload keeps the browser's token
    fresh = visitors.ensure_token(None)
    assert fresh != visitors.ensure_token(None) and len(fresh) == 32
    monkeypatch.delenv("OAUTH_CLIENT_ID", raising=False)
    assert not visitors.oauth_enabled()  # no sign-in button outside a Space that enables it
