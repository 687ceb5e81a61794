"""Issue 28's reproductions against the page handlers (items 1, 3, 4, 10, 11): each fails on the code
before training/paths.py and passes after. No model loads and no run trains here: a model load is
replaced by a recorder, and queued runs are never started."""

import json
import logging
import os
import threading
import time

import pytest

from training.jobs import JobError, JobManager
from training.paths import MAX_SG_PHRASES, MAX_SG_SET_BYTES

ALICE = {"token": "a" * 24, "session": "page-load-1"}
BOB = {"token": "b" * 24, "session": "page-load-2"}
LAUNCH = ["r", "tiny-smoke", "HICRA", 0.2, 2, "0", 8]  # launch's inputs before sg_set and model


@pytest.fixture()
def lab(tmp_path, monkeypatch):
    """``lab("private" | "public")``: the app's context over a fresh data folder; the job manager never
    starts a run (its scheduler is off and ``schedule`` does nothing)."""
    import lab.ui.context as ctx
    from lab.ui import model_handlers

    def make(mode):
        monkeypatch.setenv("HICRA_LAB_DATA", str(tmp_path))
        monkeypatch.setenv("HICRA_LAB_PUBLIC", "1" if mode == "public" else "")
        ctx.settings.cache_clear()
        model_handlers._load.cache_clear()
        manager = JobManager(tmp_path / "runs", max_concurrent=1)
        manager.schedule = lambda: None
        monkeypatch.setattr(ctx, "_manager", manager)
        monkeypatch.setattr(ctx, "_policy", None)
        if mode == "public":
            ctx._attach_policy(manager)
        return tmp_path

    yield make
    ctx.settings.cache_clear()


def in_time(fn, *args, limit=20.0):
    """``fn(*args)`` in a thread; fails if it has not returned within ``limit`` seconds (a blocking read)."""
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("value", fn(*args)), daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"{fn.__name__} still running after {limit} s"
    return out["value"]


def sg_json(phrases, name="s"):
    return json.dumps({"schema": "hicra-lab/sg-set", "version": 1, "name": name, "grams": list(phrases)})


# ---------------------------------------------------------------- item 1: a path no request may read


def test_item1_launch_never_reads_a_pipe_a_device_or_a_huge_file(lab, tmp_path):
    from lab.ui import train_handlers as th

    lab("private")
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)  # a plain open() of it blocks until a writer comes: the old code hung here
    message, name = in_time(th.launch, *LAUNCH, str(fifo), "tiny")
    assert name == "" and "not a regular file" in message, message
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (MAX_SG_SET_BYTES + 1))
    message, name = in_time(th.launch, *LAUNCH, str(big), "tiny")
    assert name == "" and f"the limit is {MAX_SG_SET_BYTES:,}" in message, message
    from lab.ui.handlers import sg_source  # after the pipe: on the old code this test must stop above

    with pytest.raises(ValueError, match="outside the folders this lab reads"):
        sg_source("/dev/zero", public=False)  # refused by where it is, before any open()
    assert not any((tmp_path / "runs").glob("*/job.json"))


def test_item1_public_launch_takes_sg_sets_by_name_only(lab, tmp_path):
    from lab.ui import public_handlers as ph

    lab("public")
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    message, name = in_time(ph.launch, ALICE, *LAUNCH, str(fifo), "tiny")
    assert name == "" and f"no SG set named {str(fifo)[:60]!r}" in message, message
    # /dev/zero only once the pipe was refused unread: the old code read it until the kernel killed it
    message, name = in_time(ph.launch, ALICE, *LAUNCH, "/dev/zero", "tiny")
    assert name == "" and "no SG set named '/dev/zero'" in message, message


# ------------------------------------------- item 3: the model allow-list holds whatever the checkpoint


@pytest.fixture()
def loads(monkeypatch):
    """Every model load the handlers attempt, recorded and refused."""
    import training.engine.modeling as modeling

    seen = []

    def record(name=None, device=None, dtype=None):
        seen.append(name)
        raise modeling.ModelLoadError("(test) no model loads here")

    monkeypatch.setattr(modeling, "load_model", record)
    return seen


def fake_checkpoint(folder, model):
    (folder / "checkpoints" / "step-1" / "adapter").mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model": model}))


def test_item3_a_checkpoint_outside_the_runs_folder_loads_no_model(lab, loads, tmp_path):
    from lab.ui import model_handlers as mh

    data = lab("public")
    upload = tmp_path / "uploads" / "x"  # what an upload could leave on the server
    fake_checkpoint(upload, "gpt2")
    depth = len((data / "runs").resolve().parts) - 1
    for checkpoint in ["../uploads/x/step-1", "../" * depth + str(upload.resolve()).lstrip("/") + "/step-1",
                       f"x/{'../' * 3}step-1"]:
        _, _, message = mh.generate("tiny", checkpoint, "Q: 2 * 3 = ?\nA:", 1.0, "ground-truth", 0)
        assert "no checkpoint" in message, (checkpoint, message)
    (data / "runs").mkdir(exist_ok=True)
    (data / "runs" / "evil").symlink_to(upload)  # a symlink out of the runs folder
    _, _, message = mh.generate("tiny", "evil/step-1", "Q: 2 * 3 = ?\nA:", 1.0, "ground-truth", 0)
    assert "no checkpoint 'evil/step-1'" in message, message
    assert loads == []  # the old code loaded "gpt2" before it looked at the path


def test_item3_a_run_trained_on_another_model_is_refused_before_loading(lab, loads):
    from lab.ui import model_handlers as mh

    data = lab("public")
    fake_checkpoint(data / "runs" / "cli-run", "gpt2")  # a command-line run on a model the Space does not run
    _, _, message = mh.score_text("tiny", "cli-run/step-1", "Let's check: 3 * 4 = 12.", "math-compact")
    assert "this public lab runs only tiny" in message, message
    assert loads == []


# ----------------------------------------------------------- item 4: uploads are checked, per visitor


def test_item4_public_uploads_are_checked_and_kept_per_visitor(lab, tmp_path):
    from lab.ui import public_handlers as ph
    from lab.ui.context import policy, settings

    lab("public")
    junk = tmp_path / "junk.json"
    junk.write_bytes(b"\x00" * 30_000_000)  # the 30 MB non-JSON upload
    assert f"the limit is {MAX_SG_SET_BYTES:,}" in ph.use_sg_set(str(junk), ALICE)
    junk.write_text("not json")
    assert "junk.json: not valid JSON" in ph.use_sg_set(str(junk), ALICE)
    assert not any(settings().sg_sets.rglob("*.json"))

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    mine, theirs = tmp_path / "a" / "set.json", tmp_path / "b" / "set.json"
    mine.write_text(sg_json(["let's check"], "alice"))
    theirs.write_text(sg_json(["wait"], "bob"))
    assert ph.use_sg_set(str(mine), ALICE).startswith("Saved as set.json")
    assert ph.use_sg_set(str(theirs), BOB).startswith("Saved as set.json")
    alice_dir = settings().visitor_sg_sets(policy().visitor(**ALICE).owner)
    assert json.loads((alice_dir / "set.json").read_text())["name"] == "alice"  # bob's did not overwrite it
    assert "set.json" in ph.sg_choices(ALICE) and "set.json" in ph.sg_choices(BOB)
    assert "set.json" not in ph.sg_choices({"session": "someone-else"})
    policy()._disk_free = lambda: 0  # a full disk: the runs' floor holds, no set is kept
    assert "keeps no new SG sets" in ph.use_sg_set(str(mine), BOB)


def test_item4_a_saved_set_is_never_overwritten(lab, tmp_path):
    from lab.ui import mine_handlers as mh
    from lab.ui.context import settings

    lab("private")
    upload = tmp_path / "up" / "set.json"
    upload.parent.mkdir()
    upload.write_text("not json")
    assert mh.use_in_runs(str(upload)).startswith("⚠️ set.json: not valid JSON")
    upload.write_text(sg_json(["let's check"], "first"))
    assert mh.use_in_runs(str(upload)) == "Saved as set.json: pick it as the SG set in the Train tab."
    assert mh.use_in_runs(str(upload)).startswith("Already saved as set.json")
    upload.write_text(sg_json(["wait"], "second"))
    assert mh.use_in_runs(str(upload)).startswith("Saved as set-2.json")
    assert json.loads((settings().sg_sets / "set.json").read_text())["name"] == "first"


# -------------------------------------------------------------- item 10: models, paths, shares, cost


def test_item10_private_launch_refuses_a_model_that_is_not_one(lab, tmp_path):
    from lab.ui import train_handlers as th

    lab("private")
    message, name = th.launch(*LAUNCH, "ground-truth", "/etc/passwd")
    assert name == "" and "outside the folders this lab reads" in message, message
    message, name = in_time(th.launch, *LAUNCH, "ground-truth", "x" * 1_000_000)
    assert name == "" and "the limit is 200" in message, message[:200]
    assert not any((tmp_path / "runs").glob("*/job.json"))


def test_item10_a_public_refusal_does_not_say_whether_a_server_path_exists(lab):
    from lab.ui import public_handlers as ph

    lab("public")
    exists, _ = ph.launch(ALICE, *LAUNCH, "/etc/passwd", "tiny")
    missing, _ = ph.launch(ALICE, *LAUNCH, "/etc/no-such-file-here", "tiny")
    assert exists.replace("/etc/passwd", "P") == missing.replace("/etc/no-such-file-here", "P"), (exists, missing)
    assert "no SG set named" in exists


def test_item10_new_sessions_do_not_get_new_shares_of_the_queue(tmp_path):
    from training.public import GB, PublicLimits, PublicPolicy
    from training.runs import RunDir

    jobs = JobManager(tmp_path, max_concurrent=1)
    jobs.schedule = lambda: None  # nothing starts: every launch stays queued
    policy = PublicPolicy(jobs, PublicLimits(max_queue=10, keep_runs=20), disk_free=lambda: 100 * GB)
    for i in range(2):  # a script: a new session per launch, from one address
        visitor = policy.visitor(session=f"script-{i}", address="203.0.113.7")
        policy.admit(visitor)
        jobs.path_of(f"s{i}").mkdir()
        (jobs.path_of(f"s{i}") / "job.json").write_text(json.dumps({"name": f"s{i}", "kind": "run", "owner":
                                                                  visitor.owner, "submitted": time.time()}))
        RunDir(jobs.path_of(f"s{i}")).set_status("queued")
        policy.record_network(f"s{i}", visitor)
    with pytest.raises(JobError, match="2 runs from your network .* allows 2 at a time, however many sessions"):
        policy.admit(policy.visitor(session="script-2", address="203.0.113.7"))
    policy.admit(policy.visitor(session="someone", address="203.0.113.8"))  # another network
    policy.admit(policy.visitor(hf_user="alice", session="x", address="203.0.113.7"))  # an account: its own


def test_item10_the_network_address_behind_a_proxy():
    from training.public import client_address

    assert client_address("10.0.0.1", "6.6.6.6, 1.2.3.4", 1) == "1.2.3.4"  # the proxy appended the last
    assert client_address("10.0.0.1", "6.6.6.6, 1.2.3.4", 0) == "10.0.0.1"  # no proxy: a header is a claim
    assert client_address("10.0.0.1", None, 1) == "10.0.0.1"
    from training.public import trusted_proxies

    assert trusted_proxies({"SPACE_ID": "me/lab"}) == 1  # a Space sits behind one proxy
    assert trusted_proxies({"SPACE_ID": "me/lab", "HICRA_LAB_TRUSTED_PROXIES": "0"}) == 0
    assert trusted_proxies({}) == 0
    with pytest.raises(ValueError, match="HICRA_LAB_TRUSTED_PROXIES must be a whole number from 0 to 10"):
        trusted_proxies({"HICRA_LAB_TRUSTED_PROXIES": "nan"})


def test_item10_a_huge_sg_set_is_refused_before_it_costs_a_highlight(lab, tmp_path):
    from lab.ui.handlers import highlight

    lab("public")
    huge = tmp_path / "huge.json"
    huge.write_text(sg_json(f"p{i}" for i in range(100_000)))  # the 100,000 phrases (16 s a highlight)
    start = time.time()
    _, _, message = highlight("Let's check: 3 * 4 = 12.", "math-compact", str(huge))
    assert "⚠️" in message and time.time() - start < 5, message
    many = tmp_path / "many.json"
    many.write_text(sg_json(f"p{i}" for i in range(MAX_SG_PHRASES + 1)))
    _, _, message = highlight("Let's check: 3 * 4 = 12.", "math-compact", str(many))
    assert f"at most {MAX_SG_PHRASES:,}" in message, message


# ----------------------------------------------------------- item 11: messages, never tracebacks


def test_item11_deeply_nested_json_and_nan_are_messages(lab, tmp_path, caplog):
    from lab.ui import model_handlers as mh
    from lab.ui.handlers import highlight

    lab("private")
    caplog.set_level(logging.WARNING)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    _, _, message = highlight("Let's check: 3 * 4 = 12.", "math-compact", str(deep))
    assert "deep.json: its JSON is nested too deeply" in message, message
    for seed, expected in [(float("nan"), "seed must be a finite number"), (1e308, "seed must be a whole number from 0"),
                           ("x", "seed must be a number")]:
        _, _, message = mh.generate("tiny", None, "Q: 2 * 3 = ?\nA:", 1.0, "ground-truth", seed)
        assert expected in message, message
    _, _, message = mh.generate("tiny", None, "Q: 2 * 3 = ?\nA:", float("nan"), "ground-truth", 0)
    assert "temperature must be a finite number" in message
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
