"""A small job manager: runs as subprocesses, a queue, and the run directory as truth.

The app calls this (it never imports gradio). Every job is a folder under
the runs directory; the child process writes its own ``status.json``, so the
manager can restart at any time and rediscover the jobs: one marked running
whose process is gone is marked failed. At most ``max_concurrent`` jobs run
at once (default: one per GPU, one on a CPU-only machine); the others wait
as ``queued`` and start, in order, when a slot frees up.

Who starts them: :meth:`JobManager.schedule` starts queued jobs while slots
are free. Submitting, resuming and listing call it, and
:meth:`JobManager.start_scheduler` runs it every couple of seconds on a
small daemon thread in the manager's process (the app starts one), so a
queued run starts when the previous one ends whether or not a page or an
API client is polling. A thread in the app rather than the workers handing
over: a worker that crashes or is killed cannot hand over, and the thread
also notices that. :meth:`JobManager.close` stops it.

One bad entry never stops the queue: a symbolic link in the runs folder,
or a ``status.json`` / ``job.json`` that is not a JSON object, makes that
entry *broken*: the scheduler skips it (and logs it once), listing shows it
with ``state`` "broken" and an ``error`` saying why, and :meth:`delete`
removes it (a link only as a link). A run whose process died without
saying why gets its cause from its exit status and log
(:func:`training.guard.cause_of_exit`); when even that cannot be written (a
full disk), the manager keeps it in memory and writes it once it can.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from training.config import RunConfig, save_config
from training.guard import cause_of_exit, failure_cause
from training.runs import RunDir, read_jsonl, write_json_atomic

log = logging.getLogger(__name__)
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ROOT = Path(__file__).resolve().parent.parent


class JobError(ValueError):
    """A request the manager refuses; the message says why."""


class BrokenEntry(JobError):
    """An entry of the runs folder that is not a usable run (a link, an unreadable status); delete removes it."""


def _log_tail(path: Path, size: int = 8192) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, 2) - size))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def default_concurrency() -> int:
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - no torch / no CUDA: one job
        return 1


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # a reused pid is somebody else's process
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if b"training" not in cmdline:
            return False
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has ended
    except OSError:
        return True  # no /proc (macOS): trust kill(0)


class JobManager:
    def __init__(self, runs_dir: str | Path = "runs", max_concurrent: int | None = None):
        self.root = Path(runs_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_concurrent = max_concurrent or default_concurrency()
        self._lock = threading.RLock()
        self._children: dict[str, subprocess.Popen] = {}
        # Called with a job's name, under the lock, just before its process starts; a JobError it raises
        # marks the job failed with that message instead (public mode's disk check, training/public.py).
        self.before_launch: Callable[[str], None] | None = None
        self._closing = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._unwritten: dict[str, dict] = {}  # name -> a failed status the disk would not take yet
        self.problems: dict[str, str] = {}  # name -> why the scheduler skips that entry (logged once)

    @property
    def lock(self) -> threading.RLock:
        """The manager's (re-entrant) lock: hold it to make a check and the action it allows one step."""
        return self._lock

    # ----------------------------------------------------------- scheduler

    def start_scheduler(self, poll_s: float = 2.0) -> "JobManager":
        """Call :meth:`schedule` every ``poll_s`` seconds on a daemon thread, until :meth:`close`."""
        with self._lock:
            if self._scheduler is None or not self._scheduler.is_alive():
                self._closing.clear()
                self._scheduler = threading.Thread(target=self._schedule_forever, args=(poll_s,),
                                                   name="hicra-lab-scheduler", daemon=True)
                self._scheduler.start()
        return self

    def close(self) -> None:
        """Stop the scheduler thread (running jobs go on: they are processes of their own)."""
        self._closing.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=30)
            self._scheduler = None

    def _schedule_forever(self, poll_s: float) -> None:
        said = ""
        while not self._closing.wait(poll_s):
            try:
                self.schedule()
                said = ""
            except Exception as err:  # noqa: BLE001 - a bad folder must not stop the queue; one line per new problem
                if str(err) != said:
                    log.warning("scheduler: %s: %s (retrying every %g s)", type(err).__name__, err, poll_s)
                    said = str(err)

    # -------------------------------------------------------------- naming

    def _entry(self, name: str) -> Path:
        """``runs/<name>`` as it is, a link not followed; refuses names that could leave the runs folder."""
        if not isinstance(name, str) or not NAME_RE.match(name) or ".." in name:
            raise JobError(f"run name {name!r:.80} is not allowed: use 1-64 letters, digits, '.', '_' or '-', "
                           "starting with a letter or digit")
        return self.root / name

    def path_of(self, name: str) -> Path:
        """The folder of job ``name``; refuses names that could leave the runs folder, and links."""
        entry = self._entry(name)
        if entry.is_symlink():
            raise BrokenEntry(self._link_problem(name))
        path = entry.resolve()
        if path.parent != self.root:
            raise JobError(f"run name {name!r} is not allowed")
        return path

    @staticmethod
    def _link_problem(name: str) -> str:
        return (f"{name!r} in the runs folder is a symbolic link, not a run: the lab does not follow links there; "
                "deleting it removes the link only")

    def problem(self, name: str) -> str | None:
        """Why entry ``name`` is broken (``None``: it is a usable run)."""
        entry = self._entry(name)
        if entry.is_symlink():
            return self._link_problem(name)
        if not entry.is_dir():
            return None
        bad = RunDir(entry).status_problem()
        if bad:
            return f"run {name!r} is broken: {bad}; delete it, or repair the file"
        try:
            job = self._job(entry)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            return f"run {name!r} is broken: its job.json or an arm's config.json cannot be read ({err}); delete it"
        if not isinstance(job, dict) or not isinstance(job.get("submitted", 0), (int, float)):
            return f"run {name!r} is broken: job.json is not a job (a JSON object with a submitted time); delete it"
        return None

    def _broken(self, name: str, why: str) -> dict:
        entry = self._entry(name)
        try:
            when = entry.lstat().st_mtime
        except OSError:
            when = 0
        return {"name": name, "kind": "broken", "state": "broken", "error": why, "path": str(entry),
                "submitted": when, "duration_s": None, "algos": [], "seeds": []}

    # ------------------------------------------------------------- actions

    def submit(self, name: str, cfg: RunConfig, algos: list[str] | None = None,
               seeds: list[int] | None = None, owner: str | None = None) -> dict:
        """Queue a run (or, with ``algos`` / ``seeds``, a fair A/B sweep) and start it if a slot is free.

        ``owner`` (public mode) is an opaque id of who started it, kept in ``job.json``.
        """
        cfg = cfg.validate()
        path = self.path_of(name)
        with self._lock:
            if path.exists() or path.is_symlink():
                raise JobError(f"a run named {name!r} already exists; pick another name or delete it")
            path.mkdir(parents=True)
            save_config(cfg, path / "config.json")
            job = {"name": name, "kind": "compare" if algos or seeds else "run", "submitted": time.time(),
                   "algos": algos or [cfg.algo], "seeds": seeds or [cfg.seed]}
            if owner:
                job["owner"] = owner
            write_json_atomic(path / "job.json", job)
            RunDir(path).set_status("queued", step=0)
            self.schedule()
            return self.info(name)

    def stop(self, name: str) -> dict:
        """Stop a job: a queued one leaves the queue, a running one checkpoints and stops."""
        path = self.path_of(name)
        with self._lock:
            status = RunDir(path).status()
            state = status.get("state")
            if state == "queued":
                RunDir(path).set_status("stopped", ended=time.time())
            elif state == "running" and _alive(status.get("pid")):
                os.kill(status["pid"], signal.SIGTERM)  # the loop stops after this step, with a checkpoint
            elif state not in ("running",):
                raise JobError(f"run {name!r} is {state or 'unknown'}, not running or queued")
            return self.info(name)

    def resume(self, name: str) -> dict:
        """Queue a stopped or failed job to continue from its last checkpoint."""
        path = self.path_of(name)
        with self._lock:
            state = self._refresh(name).get("state")
            if state == "finished":
                raise JobError(f"run {name!r} has finished all its steps; there is nothing to resume "
                               "(launch a new run to train longer)")
            if state not in ("stopped", "failed"):
                raise JobError(f"run {name!r} is {state}; only a stopped or failed run can be resumed")
            job = self._job(path)
            job["resume"] = True
            write_json_atomic(path / "job.json", job)
            self._unwritten.pop(name, None)
            RunDir(path).set_status("queued", error=None, cause=None)
            self.schedule()
            return self.info(name)

    def delete(self, name: str) -> None:
        """Delete a run, or a broken entry (a link: the link only, never what it points to)."""
        entry = self._entry(name)
        with self._lock:
            if entry.is_symlink():
                entry.unlink()
            elif entry.is_dir():
                status = self._refresh(name) if self.problem(name) is None else RunDir(entry).status()
                if status.get("state") == "running":
                    raise JobError(f"run {name!r} is running; stop it first")
                shutil.rmtree(entry)
            self._unwritten.pop(name, None)
            self.problems.pop(name, None)

    # -------------------------------------------------------------- queries

    def names(self) -> list[str]:
        """Jobs of the manager, runs started from the command line (any folder with a status), and links
        (broken entries, listed so they can be seen and deleted)."""
        return sorted(p.name for p in self.root.iterdir()
                      if NAME_RE.match(p.name) and ".." not in p.name
                      and (p.is_symlink() or (p.is_dir() and ((p / "job.json").exists()
                                                              or (p / "status.json").exists()))))

    def _job(self, path: Path) -> dict:
        if (path / "job.json").exists():
            job = json.loads((path / "job.json").read_text())
            if not isinstance(job, dict):
                raise ValueError(f"job.json holds {json.dumps(job)[:40]}, not a JSON object")
            return job
        arms = sorted(p for p in path.iterdir() if (p / "config.json").exists())  # a CLI sweep
        configs = [json.loads((p / "config.json").read_text()) for p in arms]
        return {"name": path.name, "kind": "compare" if arms else "run", "arms": [p.name for p in arms],
                "algos": sorted({c["algo"] for c in configs}), "seeds": sorted({c["seed"] for c in configs}),
                "submitted": (path / "status.json").stat().st_mtime if (path / "status.json").exists() else 0}

    def info(self, name: str) -> dict:
        """A run's job and status; a broken entry's name, ``state`` "broken" and ``error`` (why)."""
        entry = self._entry(name)
        if not entry.is_dir() and not entry.is_symlink():
            raise JobError(f"no run named {name!r}")
        why = self.problem(name)
        if why:
            return self._broken(name, why)
        path = self.path_of(name)
        status = self._refresh(name)
        job = self._job(path)
        started, ended = status.get("started"), status.get("ended")
        duration = (ended or time.time()) - started if started else None
        return {**job, **status, "name": name, "duration_s": duration, "path": str(path)}

    def list(self) -> list[dict]:
        """Every job, newest first, after starting what the queue allows."""
        with self._lock:
            self.schedule()
            jobs = []
            for n in self.names():
                try:
                    jobs.append(self.info(n))
                except BrokenEntry as err:
                    jobs.append(self._broken(n, str(err)))
                except JobError:  # deleted meanwhile
                    pass
        return sorted(jobs, key=lambda j: -j.get("submitted", 0))

    def tail(self, name: str, arm: str | None = None, since: int = 0) -> list[dict]:
        """Metric records of a run (or of one arm of a sweep) from index ``since``."""
        path = self.path_of(name)
        if arm is not None:
            path = path / self.path_of(arm).name
        return read_jsonl(path / "metrics.jsonl")[since:]

    # ----------------------------------------------------------- scheduling

    def _refresh(self, name: str) -> dict:
        """Status from disk; a 'running' job whose process is gone becomes 'failed'."""
        path = self.path_of(name)
        run = RunDir(path)
        status = run.status()
        child = self._children.get(name)
        returncode = None
        if child is not None and child.poll() is not None:
            self._children.pop(name)
            returncode = child.returncode
            status = run.status()
        if status.get("state") == "running" and not _alive(status.get("pid")) and name not in self._children:
            if name not in self._unwritten:
                cause, message = cause_of_exit(returncode, _log_tail(path / "log.txt"))
                self._unwritten[name] = {"error": status.get("error") or message,
                                         "cause": status.get("cause") or cause, "ended": time.time()}
        pending = self._unwritten.get(name)
        if pending is not None:
            if status.get("state") not in (None, "running", "queued"):  # rewritten meanwhile
                self._unwritten.pop(name)
                return status
            try:
                run.set_status("failed", **pending)
                self._unwritten.pop(name)
                status = run.status()
            except OSError as err:  # a full disk: keep the cause, write it on a later refresh
                log.warning("%s: cannot write its status yet (%s); kept in memory", name, err.strerror or err)
                status = {**status, **pending, "state": "failed"}
        return status

    def schedule(self) -> None:
        """Start queued jobs, oldest first, while slots are free; a broken entry is skipped and reported."""
        with self._lock:
            states, submitted, problems = {}, {}, {}
            for n in self.names():
                try:
                    why = self.problem(n)
                    if why is None:
                        states[n] = self._refresh(n)
                        submitted[n] = self._job(self.root / n).get("submitted", 0)
                except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                    why = f"run {n!r} is broken: {type(err).__name__}: {err}"
                if why:
                    problems[n] = why
                    if self.problems.get(n) != why:
                        log.warning("scheduler: skipping %s", why)
            self.problems = problems
            running = sum(1 for s in states.values() if s.get("state") == "running")
            running += sum(1 for n, c in self._children.items()
                           if c.poll() is None and states.get(n, {}).get("state") == "queued")
            queued = sorted((n for n, s in states.items() if s.get("state") == "queued" and n not in self._children),
                            key=lambda n: submitted[n])
            for name in queued:
                if running >= self.max_concurrent:
                    break
                if self._launch(name):
                    running += 1

    def _launch(self, name: str) -> bool:
        """Start job ``name``'s process; False (the job marked failed, with why) when it cannot start."""
        path = self.path_of(name)
        try:
            if self.before_launch is not None:
                self.before_launch(name)
            self._start(name, path)
            return True
        except (JobError, OSError) as err:  # refused, or the process or its log could not be made (a full disk)
            cause, message = ("refused", str(err)) if isinstance(err, JobError) else failure_cause(err)
            self._children.pop(name, None)
            self._unwritten[name] = {"error": message, "cause": cause, "ended": time.time()}
            try:
                RunDir(path).set_status("failed", **self._unwritten[name])
                self._unwritten.pop(name)
            except OSError:
                pass  # kept in memory; _refresh writes it once the disk takes it
            return False

    def _start(self, name: str, path: Path) -> None:
        job = self._job(path)
        cmd = [sys.executable, "-m", "training"]
        if job["kind"] == "compare":
            cmd += ["compare", "--config", str(path / "config.json"), "--out", str(path),
                    "--algos", ",".join(job["algos"]), "--seeds", ",".join(map(str, job["seeds"]))]
        else:
            cmd += ["run", "--config", str(path / "config.json"), "--out", str(path)]
        if job.get("resume"):
            cmd.append("--resume")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(path / "log.txt", "ab") as out:
            child = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        try:
            RunDir(path).set_status("running", pid=child.pid, started=time.time(), ended=None)
        except OSError:  # its status cannot say it runs: it must not run unseen
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise
        self._children[name] = child
