"""ZeroGPU: runs train in the app's process, one chunk of steps per ``spaces.GPU`` call, visitors in turn.

On a ZeroGPU Space CUDA exists only inside a function decorated with
``spaces.GPU(duration=...)``, called from the app's own process; each call
runs in a forked worker and is cut off at about its duration. The job
manager's usual training subprocesses never hold such a call, so here
:class:`ZeroGPUJobs` (a :class:`~training.jobs.JobManager`) starts no
process: a :class:`ChunkRunner` thread drives every running run in chunks
(:func:`training.chunks.run_chunk`), one ``spaces.GPU`` call each, k steps
planned from the run's measured step time (:func:`training.chunks.steps_per_chunk`).
Between chunks everything lives in the run's checkpoints on disk.

Fairness (public mode): one chunk holds the GPU at a time, and the next
chunk goes to the owner served longest ago (:func:`next_run`), so a
visitor's chunks queue behind the other visitors' in turn, never behind a
whole run. Public mode's caps (``training/public.py``) decide who may queue
runs at all. Calls are made from the runner's thread, not from a visitor's
request, so ZeroGPU counts their seconds against the Space, not a visitor's
own quota; the turn-taking here is what shares them.

Detection is the ``spaces`` package's own rule (``spaces/config.py``:
``SPACES_ZERO_GPU`` is ``1``, ``t`` or ``true``); off ZeroGPU nothing here
runs, ``spaces`` is not imported, and the app starts runs as subprocesses as
before. Settings (environment): ``HICRA_LAB_ZEROGPU_DURATION`` (seconds a
call asks for, default 120), ``HICRA_LAB_ZEROGPU_MARGIN`` (share of it left
unplanned, default 0.3), ``HICRA_LAB_ZEROGPU_ACTIVE`` (runs taking turns at
once, default 4), ``HICRA_LAB_ZEROGPU_RETRIES`` (a chunk cut off is retried,
smaller, this many times before the run fails, default 3).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from training.jobs import JobError, JobManager
from training.runs import RunDir

log = logging.getLogger(__name__)


def _flag(value: str | None) -> bool:
    """``spaces``' reading of a boolean environment variable (``spaces/config.py``)."""
    return value is not None and value.lower() in ("1", "t", "true")


def on_zerogpu(env: dict | None = None) -> bool:
    """Is this app on a ZeroGPU Space? ``spaces.config.Config.zero_gpu``, read without importing ``spaces``
    where the variable says no (so a machine without ``spaces`` never needs it)."""
    env = os.environ if env is None else env
    if not _flag(env.get("SPACES_ZERO_GPU")):
        return False
    if env is not os.environ:
        return True
    try:
        import spaces.config
    except ImportError:
        raise RuntimeError("SPACES_ZERO_GPU is set, so this is a ZeroGPU Space, but the `spaces` package is "
                           "not installed: add `spaces` to requirements.txt") from None
    return bool(spaces.config.Config.zero_gpu)


def _number(name: str, default: float, kind=float, lo: float = 0, hi: float = float("inf")):
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be from {lo:g} to {hi:g}, got {raw}")
    return value


@dataclass(frozen=True)
class ZeroGPUSettings:
    duration_s: int = 120  # asked per call; ZeroGPU's default is 60, its limit depends on the caller's plan
    margin: float = 0.3  # share of a call left unplanned: step times vary
    active: int = 4  # runs taking turns at once; the others wait as queued
    retries: int = 3  # cut-off chunks in a row a run survives (each retry half as long)

    @classmethod
    def from_env(cls) -> "ZeroGPUSettings":
        return cls(duration_s=_number("HICRA_LAB_ZEROGPU_DURATION", cls.duration_s, int, 10, 3600),
                   margin=_number("HICRA_LAB_ZEROGPU_MARGIN", cls.margin, float, 0, 0.9),
                   active=_number("HICRA_LAB_ZEROGPU_ACTIVE", cls.active, int, 1, 64),
                   retries=_number("HICRA_LAB_ZEROGPU_RETRIES", cls.retries, int, 0, 20))


def gpu(fn: Callable, duration) -> Callable:
    """``fn`` as a ZeroGPU task (``spaces.GPU(duration=...)``) on ZeroGPU; ``fn`` itself anywhere else."""
    if not on_zerogpu():
        return fn
    import spaces

    return spaces.GPU(duration=duration)(fn)


def _chunk(path: str, n_steps: int, duration_s: int) -> dict:
    """One chunk of a run, in a ZeroGPU worker (``duration_s`` is only read by the decorator)."""
    from training.chunks import run_chunk

    return run_chunk(path, n_steps)


# Decorated when this module is imported: a ZeroGPU Space looks for its spaces.GPU functions at startup.
gpu_chunk = gpu(_chunk, duration=lambda path, n_steps, duration_s: duration_s)


def next_run(runs: list[dict], served: dict[str, float]) -> str | None:
    """The run whose chunk comes next: its owner was served longest ago, then its own turn longest ago.

    ``runs``: ``{"name", "owner", "last"}`` each (``last``: when its last
    chunk ended, 0 if never); ``served``: owner -> when their last chunk
    ended. Runs without an owner (private lab, command line) share one.

    >>> runs = [{"name": "a1", "owner": "A", "last": 5}, {"name": "a2", "owner": "A", "last": 0},
    ...         {"name": "b1", "owner": "B", "last": 0}]
    >>> next_run(runs, {"A": 5})
    'b1'
    >>> next_run(runs, {"A": 5, "B": 6})
    'a2'
    """
    if not runs:
        return None
    return min(runs, key=lambda r: (served.get(r.get("owner") or "", 0.0), r.get("last", 0.0), r["name"]))["name"]


class _Handle:
    """What the job manager keeps for a started run instead of a process: ``poll()`` is None while the
    runner drives it."""

    def __init__(self):
        self.returncode: int | None = None
        self.pid = os.getpid()

    def poll(self) -> int | None:
        return self.returncode


@dataclass
class _Run:
    name: str
    path: Path
    owner: str
    handle: _Handle = field(default_factory=_Handle)
    last: float = 0.0
    failures: int = 0
    stop: bool = False
    k: int | None = None  # the size of the last chunk that was cut off (the retry is half of it)
    not_before: float = 0.0  # after a chunk did not come back, wait (a quota, a busy GPU) before the retry
    prefetched: bool = False


class ChunkRunner:
    """Drives runs in chunks, one ``call(path, k, duration_s)`` at a time, owners in turn.

    ``call`` is :data:`gpu_chunk` in the app; tests give it a stand-in.
    """

    def __init__(self, settings: ZeroGPUSettings | None = None, call: Callable[[str, int, int], dict] | None = None,
                 backoff_s: float = 5.0):
        self.settings = settings or ZeroGPUSettings()
        self.call = call or gpu_chunk
        self.backoff_s = backoff_s  # the first retry waits this long, each next one twice as long (at most 5 min)
        self._runs: dict[str, _Run] = {}
        self._served: dict[str, float] = {}
        self._busy: str | None = None
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------- the queue

    def add(self, name: str, path: Path, owner: str | None) -> _Handle:
        with self._lock:
            run = _Run(name, Path(path), owner or "")
            self._runs[name] = run
            return run.handle

    def active(self) -> list[str]:
        with self._lock:
            return list(self._runs)

    def request_stop(self, name: str) -> bool:
        """Stop run ``name`` at the end of its chunk (now, if it is waiting). False: not ours."""
        with self._lock:
            run = self._runs.get(name)
            if run is None:
                return False
            run.stop = True
            if self._busy != name:
                self._end(run, "stopped")
            return True

    def _end(self, run: _Run, state: str, **fields) -> None:
        """Mark a run ended (under the lock) and hand it back to the job manager."""
        RunDir(run.path).set_status(state, phase=None, ended=time.time(), **fields)
        run.handle.returncode = 0
        self._runs.pop(run.name, None)

    # ------------------------------------------------------------- a chunk

    def step(self) -> str | None:
        """Run the next chunk (the fair pick); returns the run's name, or None when nothing is waiting."""
        from training.chunks import arms_of, measure_pace, steps_done, steps_per_chunk

        with self._lock:
            now = time.time()
            pick = next_run([{"name": r.name, "owner": r.owner, "last": r.last} for r in self._runs.values()
                             if r.not_before <= now], self._served)
            if pick is None:
                return None
            run = self._runs[pick]
            self._busy = pick
        try:
            arms, _ = arms_of(run.path)
            cfg = arms[0][0]
            if not run.prefetched:  # downloads on the CPU, before any GPU second is spent on them
                run.prefetched = True
                prefetch(cfg)
            left = cfg.steps - steps_done(run.path)
            k = steps_per_chunk(measure_pace(run.path), self.settings.duration_s, cfg.eval_every,
                                self.settings.margin, steps_left=max(left, 1))
            if run.k is not None:  # the last chunk was cut off: try half as many steps
                k = max(1, min(k, run.k // 2))
            if k == 0:
                with self._lock:
                    self._end(run, "failed", error=f"one step of this run takes longer than a ZeroGPU call "
                              f"({self.settings.duration_s} s, HICRA_LAB_ZEROGPU_DURATION): choose a smaller "
                              "model, group or response length, or a longer call")
                return pick
            RunDir(run.path).set_status("running", phase="on the GPU", chunk_steps=k, ended=None)
            t0 = time.time()
            try:
                summary = self.call(str(run.path), k, self.settings.duration_s)
            except Exception as err:  # noqa: BLE001 - cut off, no GPU free, quota: the run's status tells which
                self._after_error(run, k, err, time.time() - t0)
                return pick
            run.failures, run.k = 0, None
            with self._lock:
                if summary["state"] != "running":
                    self._end(run, summary["state"], **({"error": summary["error"]} if summary["error"] else {}))
                elif run.stop:
                    self._end(run, "stopped")
                else:
                    RunDir(run.path).set_status("running", phase="waiting for the GPU", ended=None)
        except Exception as err:  # noqa: BLE001 - a broken run folder fails that run, not the runner
            with self._lock:
                self._end(run, "failed", error=f"{type(err).__name__}: {err}")
        finally:
            with self._lock:
                now = time.time()
                run.last = self._served[run.owner] = now
                self._busy = None
        return pick

    def _after_error(self, run: _Run, k: int, err: Exception, seconds: float) -> None:
        from training.chunks import log_attempt

        message = f"{type(err).__name__}: {err}"
        with self._lock:
            if RunDir(run.path).status().get("state") == "failed":  # the training itself failed and said why
                self._end(run, "failed")
                return
            log_attempt(run.path, k, message, seconds)
            run.failures += 1
            run.k = k
            run.not_before = time.time() + min(300.0, self.backoff_s * 2 ** (run.failures - 1))
            if run.stop:
                self._end(run, "stopped")
            elif run.failures > self.settings.retries:
                self._end(run, "failed", error=f"{run.failures} chunks in a row did not come back from the GPU "
                          f"(last: {message}); resume continues from the last checkpoint")
            else:
                RunDir(run.path).set_status("running", phase=f"waiting for the GPU (retry {run.failures} of "
                                            f"{self.settings.retries}: {message})", ended=None)

    # ------------------------------------------------------------ thread

    def start(self, poll_s: float = 1.0) -> "ChunkRunner":
        if self._thread is None or not self._thread.is_alive():
            self._closing.clear()
            self._thread = threading.Thread(target=self._forever, args=(poll_s,), name="hicra-lab-zerogpu",
                                            daemon=True)
            self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _forever(self, poll_s: float) -> None:
        while not self._closing.is_set():
            try:
                if self.step() is None:
                    self._closing.wait(poll_s)
            except Exception as err:  # noqa: BLE001 - keep serving the other runs
                log.warning("zerogpu runner: %s: %s", type(err).__name__, err)
                self._closing.wait(poll_s)


class ZeroGPUJobs(JobManager):
    """The job manager on ZeroGPU: a started run goes to the :class:`ChunkRunner` instead of a process.

    Everything else (the queue, names, resuming, public mode's hooks) is the
    plain manager's. ``max_concurrent`` is how many runs take turns at once.
    """

    def __init__(self, runs_dir="runs", settings: ZeroGPUSettings | None = None,
                 runner: ChunkRunner | None = None):
        self.settings = settings or ZeroGPUSettings.from_env()
        super().__init__(runs_dir, max_concurrent=self.settings.active)
        self.runner = runner or ChunkRunner(self.settings)

    def _launch(self, name: str) -> None:
        path = self.path_of(name)
        if self.before_launch is not None:
            try:
                self.before_launch(name)
            except JobError as err:
                RunDir(path).set_status("failed", error=str(err), ended=time.time())
                return
        self._children[name] = self.runner.add(name, path, self._job(path).get("owner"))
        RunDir(path).set_status("running", pid=os.getpid(), started=RunDir(path).status().get("started")
                                or time.time(), ended=None, phase="waiting for the GPU",
                                step=_steps_done(path))

    def stop(self, name: str) -> dict:
        with self._lock:
            if self.runner.request_stop(name):
                return self.info(name)
        return super().stop(name)

    def start_scheduler(self, poll_s: float = 2.0) -> "ZeroGPUJobs":
        super().start_scheduler(poll_s)
        self.runner.start()
        return self

    def close(self) -> None:
        self.runner.close()
        super().close()


def prefetch(cfg) -> None:
    """Download a hub model's files and load the task's problems once on the CPU, so that no GPU call
    spends its seconds on them. Best effort: a failure here shows up, with its message, in the chunk."""
    from training.tasks import default_model, get_task

    name = default_model(cfg.model, cfg.task)
    try:
        get_task(cfg.task).problems("train")
        if name != "tiny" and "/" in name and not Path(name).expanduser().exists():
            from huggingface_hub import snapshot_download

            snapshot_download(name, allow_patterns=["*.json", "*.safetensors", "*.txt", "*.model"])
    except Exception as err:  # noqa: BLE001 - the chunk will load them and report what is wrong
        log.warning("zerogpu prefetch of %s / %s: %s: %s", name, cfg.task, type(err).__name__, err)


def _steps_done(path: Path) -> int:
    from training.chunks import steps_done

    try:
        return steps_done(path)
    except (OSError, ValueError):
        return 0
