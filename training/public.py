"""Public mode's rules: who owns a run, a fair share of the queue, and a bounded disk.

A shared Space (``HICRA_LAB_PUBLIC=1``) serves visitors who do not know each
other, so three things the private lab leaves open are decided here:

* **Ownership.** A run records an opaque id of whoever started it; only a
  caller who can show that id again may stop, resume, delete it or download
  its adapter. Everyone may watch and compare every run. The ids are
  HMAC-SHA256 digests, under a secret kept beside the runs
  (``runs/.owner-secret``), of what the caller presents - a signed-in user
  name, a browser-stored token or a session id - so ``job.json`` holds no
  token and not even a user name.
* **Fair queueing.** At most ``max_runs_per_owner`` queued or running runs per
  owner and ``max_queue`` waiting runs in all; a refusal says how many runs
  are ahead.
* **Retention.** It only ever touches runs launched from this lab's pages
  (``job.json`` with an owner), never a command-line run, and never a
  checkpoint a run may resume from (those of stopped and failed runs). The
  newest ``keep_checkpoints`` finished runs keep their checkpoints and the
  newest ``keep_runs`` runs are kept at all; before a run is queued or
  starts, the oldest finished runs' checkpoints go first until
  ``min_free_gb`` is free, and when even all of them would not free enough,
  the run is refused and nothing is deleted (docs/failures.md).

No gradio here: the page turns a request into a :class:`Visitor` (see
``lab/ui/visitors.py``) and the handlers ask a :class:`PublicPolicy`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

from training.jobs import JobError, JobManager
from training.runs import write_json_atomic

ACTIVE = ("queued", "running")
ENDED = ("finished", "stopped", "failed")
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
SECRET_FILE = ".owner-secret"
RETENTION_FILE = "retention.json"  # in a run folder whose checkpoints retention removed
NETWORK_FILE = "network.json"  # in a run folder started by a visitor: the opaque id of their network
GB = 1024 ** 3


def _f(default, help: str, env: str):
    return field(default=default, metadata={"help": help, "env": env})


@dataclass(frozen=True)
class PublicLimits:
    """The limits of a public lab; each field is read from its environment variable."""

    max_runs_per_owner: int = _f(1, "queued or running runs one visitor may have at a time",
                                 "HICRA_LAB_MAX_RUNS_PER_OWNER")
    max_queue: int = _f(4, "runs waiting to start, all visitors together; a launch beyond it is refused",
                        "HICRA_LAB_MAX_QUEUE")
    keep_runs: int = _f(30, "runs kept in all; beyond it the oldest ended runs are deleted",
                        "HICRA_LAB_KEEP_RUNS")
    keep_checkpoints: int = _f(5, "ended runs that keep their checkpoints (the newest); older ended runs "
                                  "keep metrics and samples only", "HICRA_LAB_KEEP_CHECKPOINTS")
    min_free_gb: float = _f(2.0, "free disk (GiB) a run needs to be queued or to start; the oldest ended "
                                 "runs' checkpoints are removed to make it", "HICRA_LAB_MIN_FREE_GB")
    max_runs_per_network: int = _f(2, "queued or running runs from one network address (or one signed-in "
                                      "account) at a time, however many sessions or tokens it opens",
                                   "HICRA_LAB_MAX_RUNS_PER_NETWORK")

    @classmethod
    def from_env(cls, env: dict | None = None) -> "PublicLimits":
        """Limits from the environment; a bad value raises ValueError naming the variable."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"], "").strip()
            if raw:
                try:
                    values[f.name] = type(f.default)(raw)
                except ValueError:
                    raise ValueError(f"{f.metadata['env']} must be a number ({f.metadata['help']}), "
                                     f"got {raw!r}") from None
        return cls(**values).validate()

    def validate(self) -> "PublicLimits":
        for f in fields(self):
            least = 0 if f.name in ("keep_checkpoints", "min_free_gb") else 1
            value = getattr(self, f.name)
            if not math.isfinite(value):  # inf and nan parse as floats
                raise ValueError(f"{f.metadata['env']} must be a finite number ({f.metadata['help']}), got {value}")
            if value < least:
                raise ValueError(f"{f.metadata['env']} must be at least {least}, got {value:g}")
        if self.keep_runs < self.max_queue + 2:
            raise ValueError(f"HICRA_LAB_KEEP_RUNS ({self.keep_runs}) must exceed HICRA_LAB_MAX_QUEUE "
                             f"({self.max_queue}) by at least 2, so that queued and running runs always fit")
        return self


@dataclass(frozen=True)
class Visitor:
    """Who is asking, as the owner ids they can show: the strongest first.

    ``kind`` of the first id: ``huggingface`` (signed in with Hugging Face),
    ``login`` (the app's own password login), ``browser`` (a token the browser
    keeps), ``session`` (one page load, or one API client) or ``nobody``.
    """

    ids: tuple[str, ...] = ()
    kind: str = "nobody"
    user: str = ""  # the signed-in user name, to greet them; never stored
    # Opaque id of where the caller comes from: the signed-in account, else the network address. A script
    # that opens a new session (or token) per launch is still one network: its share is capped there.
    network: str | None = None

    @property
    def owner(self) -> str | None:
        """The id a run started now records."""
        return self.ids[0] if self.ids else None

    def owns(self, job: dict) -> bool:
        return bool(job.get("owner")) and job["owner"] in self.ids


def _folder_bytes(path: Path) -> int:
    """Bytes in the files under ``path`` (links not followed)."""
    total = 0
    for p in path.rglob("*"):
        try:
            if p.is_file() and not p.is_symlink():
                total += p.stat().st_size
        except OSError:
            pass
    return total


def n_runs(n: int) -> str:
    """``1 run``, ``2 runs``."""
    return f"{n} run" + ("" if n == 1 else "s")


def _secret(root: Path) -> bytes:
    """The lab's owner secret, created once (mode 0600, whole or not at all) beside the runs."""
    path = root / SECRET_FILE
    if not path.exists():
        tmp = root / f"{SECRET_FILE}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # fails if another process made it first: theirs is kept
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


PROXIES_ENV = "HICRA_LAB_TRUSTED_PROXIES"
MAX_PROXIES = 10


def trusted_proxies(env: dict | None = None) -> int:
    """How many proxies in front of the app append the caller's address to ``X-Forwarded-For``
    (``HICRA_LAB_TRUSTED_PROXIES``): default 1 on a Hugging Face Space (``SPACE_ID`` set), else 0 (the TCP
    peer's address is the caller's). A bad value raises ValueError naming the variable."""
    env = os.environ if env is None else env
    raw = env.get(PROXIES_ENV, "").strip()
    if not raw:
        return 1 if env.get("SPACE_ID") else 0
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if not 0 <= n <= MAX_PROXIES:
        raise ValueError(f"{PROXIES_ENV} must be a whole number from 0 to {MAX_PROXIES} (proxies in front of "
                         f"the app that append the caller's address to X-Forwarded-For), got {raw!r}")
    return n


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: int) -> str | None:
    """The caller's network address: the TCP peer, or, behind ``trusted_proxies`` proxies that each append
    the address they saw to ``X-Forwarded-For``, the entry the outermost trusted proxy appended.

    Entries left of that one come from the caller and could be anything, so they are never used; with no
    trusted proxy the header is ignored (a client could send one to look like many networks).

    >>> client_address("10.0.0.1", "6.6.6.6, 1.2.3.4", 1)
    '1.2.3.4'
    >>> client_address("10.0.0.1", "6.6.6.6, 1.2.3.4", 0)
    '10.0.0.1'
    """
    if trusted_proxies <= 0 or not forwarded_for:
        return peer or None
    hops = [h.strip() for h in str(forwarded_for).split(",") if h.strip()]
    if len(hops) < trusted_proxies:
        return peer or None
    return hops[-trusted_proxies][:64] or peer or None


class PublicPolicy:
    """Ownership, the queue share and retention over one :class:`JobManager`.

    Compound steps (count, then queue; check the disk, then start) hold the
    manager's lock, so two visitors launching at once cannot both slip under
    a limit.
    """

    def __init__(self, jobs: JobManager, limits: PublicLimits | None = None,
                 disk_free: Callable[[], int] | None = None, sizes: Callable[[Path], int] | None = None):
        """``disk_free`` (bytes free) and ``sizes`` (bytes under a folder) stand in for the disk in tests;
        on the real disk a ``min_free_gb`` larger than the whole disk is refused here, at start-up."""
        self.jobs = jobs
        self.limits = limits or PublicLimits()
        self._key = _secret(jobs.root)
        if disk_free is None:
            total = shutil.disk_usage(jobs.root).total
            if self.limits.min_free_gb * GB > total:
                raise ValueError(f"HICRA_LAB_MIN_FREE_GB ({self.limits.min_free_gb:g}) is more than the whole disk "
                                 f"of {jobs.root} holds ({total / GB:.1f} GiB): no run could ever start")
        self._disk_free = disk_free or (lambda: shutil.disk_usage(self.jobs.root).free)
        self._sizes = sizes or _folder_bytes

    # ------------------------------------------------------------ identity

    def _id(self, kind: str, value: str) -> str:
        return hmac.new(self._key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:32]

    def derived_secret(self, purpose: str) -> bytes:
        """A key for ``purpose`` derived from the owner secret, stable across restarts (the page encrypts
        the browser's owner token under one, so a restarted app still reads it)."""
        return hmac.new(self._key, f"derived:{purpose}".encode(), hashlib.sha256).digest()

    def visitor(self, hf_user: str | None = None, login: str | None = None, token: str | None = None,
                session: str | None = None, address: str | None = None) -> Visitor:
        """The caller's ids, strongest first; a malformed ``token`` raises JobError (it could be guessed).
        ``address``: the caller's network address (:func:`client_address`), for the per-network share."""
        if token is not None and token != "" and (not isinstance(token, str) or not TOKEN_RE.match(token)):
            raise JobError("owner_token must be 16 to 128 letters, digits, '-' or '_' (keep it secret: it is "
                           "what makes your runs yours)")
        account = ("huggingface", hf_user) if hf_user else ("login", login) if login else None
        network = self._id(*account) if account else self._id("address", address) if address else None
        found = [(k, v) for k, v in (("huggingface", hf_user), ("login", login), ("browser", token),
                                     ("session", session)) if v]
        if not found:
            return Visitor(network=network)
        return Visitor(ids=tuple(self._id(k, v) for k, v in found), kind=found[0][0],
                       user=hf_user or login or "", network=network)

    def check_owner(self, visitor: Visitor, name: str, action: str) -> dict:
        """The run's info if ``visitor`` owns it; else JobError saying who may ``action`` (``"stop it"``)."""
        info = self.jobs.info(name)
        if visitor.owns(info):
            return info
        if not info.get("owner"):
            raise JobError(f"run {name!r} was started outside this public lab's pages (from the command "
                           f"line, or before public mode), so no visitor can {action} here")
        raise JobError(f"run {name!r} belongs to another visitor: you can watch and compare it, "
                       f"but only they can {action}")

    # -------------------------------------------------------------- queue

    def _all(self) -> list[dict]:
        """Every run's info, without scheduling (``jobs.list()`` would start runs, and so call
        :meth:`before_launch` from inside itself)."""
        out = []
        for name in self.jobs.names():
            try:
                out.append(self.jobs.info(name))
            except JobError:  # deleted meanwhile
                pass
        return out

    def ahead(self, name: str) -> int:
        """Runs that start before queued run ``name`` (the running ones and those queued earlier)."""
        jobs = self._all()
        me = next((j for j in jobs if j["name"] == name), None)
        if me is None or me.get("state") != "queued":
            return 0
        earlier = [j for j in jobs if j["name"] != name and j.get("state") == "queued"
                   and j.get("submitted", 0) <= me.get("submitted", 0)]
        return sum(1 for j in jobs if j.get("state") == "running") + len(earlier)

    def admit(self, visitor: Visitor, resuming: str | None = None) -> None:
        """Raise JobError unless ``visitor`` may queue one more run now (``resuming``: the run resumed)."""
        if visitor.owner is None:
            raise JobError("this public lab could not tell who is asking, so it cannot start a run for you")
        with self.jobs.lock:
            self.jobs.schedule()  # what can start now does, so the counts below are current
            jobs = [j for j in self._all() if j["name"] != resuming]
            mine = [j for j in jobs if j.get("state") in ACTIVE and visitor.owns(j)]
            if len(mine) >= self.limits.max_runs_per_owner:
                j = mine[0]
                where = ("running" if j["state"] == "running"
                         else f"queued with {n_runs(self.ahead(j['name']))} ahead of it")
                n = self.limits.max_runs_per_owner
                raise JobError(f"you already have {n_runs(len(mine))} queued or running ({j['name']!r}: "
                               f"{where}); this public lab allows {n} per visitor: stop one or wait until "
                               "it ends")
            if visitor.network is not None:
                ours = [j for j in jobs if j.get("state") in ACTIVE and self.network_of(j["name"]) == visitor.network]
                if len(ours) >= self.limits.max_runs_per_network:
                    raise JobError(f"{n_runs(len(ours))} from your network (or account) already queued or running; "
                                   f"this public lab allows {self.limits.max_runs_per_network} at a time, however "
                                   "many sessions ask: wait until one ends")
            running = sum(1 for j in jobs if j.get("state") == "running")
            queued = sum(1 for j in jobs if j.get("state") == "queued")
            if queued >= self.limits.max_queue:
                raise JobError(f"the queue is full: {n_runs(running + queued)} ahead ({running} running, "
                               f"{queued} waiting) and this public lab queues at most "
                               f"{self.limits.max_queue}; try again when one ends")
            self.make_room()

    def free_bytes(self) -> int:
        """Free space on the disk that holds the runs (what the disk checks compare with)."""
        return self._disk_free()

    def record_network(self, name: str, visitor: Visitor) -> None:
        """Note which network started run ``name`` (an opaque id, in ``network.json`` beside its job)."""
        if visitor.network is not None:
            write_json_atomic(self.jobs.path_of(name) / NETWORK_FILE, {"network": visitor.network})

    def network_of(self, name: str) -> str | None:
        try:
            data = json.loads((self.jobs.path_of(name) / NETWORK_FILE).read_text())
        except (OSError, ValueError, JobError):
            return None
        return data.get("network") if isinstance(data, dict) else None

    # ----------------------------------------------------------- retention

    @staticmethod
    def launched_here(job: dict) -> bool:
        """Was this run launched from the public lab's pages (the only runs retention may touch)?"""
        return bool(job.get("owner")) and job.get("state") != "broken"

    def _ended(self) -> list[dict]:
        """Ended runs launched here, oldest first (by when they ended)."""
        ended = [j for j in self._all() if j.get("state") in ENDED and self.launched_here(j)]
        return sorted(ended, key=lambda j: j.get("ended") or j.get("updated") or j.get("submitted") or 0)

    def resumable(self, job: dict) -> bool:
        """A stopped or failed run with a checkpoint: resume needs its checkpoints, so retention keeps them."""
        return job.get("state") in ("stopped", "failed") and self.has_checkpoints(job["name"])

    @staticmethod
    def _checkpoint_dirs(path: Path) -> list[Path]:
        return [p for p in [path / "checkpoints", *path.glob("*/checkpoints")] if p.is_dir()]

    def has_checkpoints(self, name: str) -> bool:
        return any(any(d.glob("step-*")) for d in self._checkpoint_dirs(self.jobs.path_of(name)))

    def pruned(self, name: str) -> dict | None:
        """What retention removed from run ``name`` (``None``: nothing)."""
        path = self.jobs.path_of(name) / RETENTION_FILE
        return json.loads(path.read_text()) if path.exists() else None

    def _drop_checkpoints(self, name: str, why: str) -> bool:
        path = self.jobs.path_of(name)
        dirs = [d for d in self._checkpoint_dirs(path) if any(d.glob("step-*"))]
        if not dirs:
            return False
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
        write_json_atomic(path / RETENTION_FILE, {"checkpoints_removed": time.time(), "why": why})
        return True

    def prune(self) -> list[str]:
        """Apply the count limits to runs launched here, oldest first: whole ended runs beyond ``keep_runs``
        (not a resumable one), then the checkpoints of finished runs beyond the newest ``keep_checkpoints``.
        Returns what it did, a line each."""
        done = []
        with self.jobs.lock:
            ended = self._ended()
            here = sum(1 for j in self._all() if self.launched_here(j))
            extra = max(0, here - self.limits.keep_runs)
            deleted = set()
            for j in [j for j in ended if not self.resumable(j)][:extra]:
                self.jobs.delete(j["name"])
                deleted.add(j["name"])
                done.append(f"deleted {j['name']}")
            finished = [j for j in ended if j.get("state") == "finished" and j["name"] not in deleted]
            why = f"only the newest {self.limits.keep_checkpoints} finished runs keep their checkpoints"
            for j in finished[:max(0, len(finished) - self.limits.keep_checkpoints)]:
                if self._drop_checkpoints(j["name"], why):
                    done.append(f"removed the checkpoints of {j['name']}")
        return done

    def make_room(self) -> None:
        """Free ``min_free_gb`` by removing the oldest finished runs' checkpoints; JobError if not enough.

        What removing them all would free is added up first: when it is not
        enough, nothing is removed (a refused launch deletes nothing)."""
        need = self.limits.min_free_gb * GB
        with self.jobs.lock:
            free = self._disk_free()
            if free >= need:
                return
            candidates = [(j, sum(self._sizes(d) for d in self._checkpoint_dirs(self.jobs.path_of(j["name"]))))
                          for j in self._ended() if j.get("state") == "finished" and self.has_checkpoints(j["name"])]
            freeable = sum(size for _, size in candidates)
            if free + freeable < need:
                raise JobError(f"the lab's disk has {free / GB:.1f} GiB free and a run needs "
                               f"{self.limits.min_free_gb:g} GiB (HICRA_LAB_MIN_FREE_GB); removing every finished "
                               f"run's checkpoints would free only {freeable / GB:.1f} GiB, so none were removed; "
                               "try again later")
            why = f"the disk had less than {self.limits.min_free_gb:g} GiB free"
            for j, _ in candidates:
                self._drop_checkpoints(j["name"], why)
                if self._disk_free() >= need:
                    return
            raise JobError(f"the lab's disk has {self._disk_free() / GB:.1f} GiB free and a run needs "
                           f"{self.limits.min_free_gb:g} GiB (HICRA_LAB_MIN_FREE_GB); try again later")

    def before_launch(self, name: str) -> None:
        """The job manager's hook: apply retention and check the disk just before run ``name`` starts."""
        self.prune()
        self.make_room()

    # ------------------------------------------------------------- summary

    def summary(self, visitor: Visitor | None = None) -> dict:
        """Numbers for the page: runs by state, checkpoints kept, free disk, and the visitor's runs."""
        jobs = self._all()
        return {
            "running": sum(1 for j in jobs if j.get("state") == "running"),
            "queued": sum(1 for j in jobs if j.get("state") == "queued"),
            "runs": len(jobs),
            "with_checkpoints": sum(1 for j in jobs if self.has_checkpoints(j["name"])),
            "free_gb": self._disk_free() / GB,
            "mine": [{"name": j["name"], "state": j.get("state"), "ahead": self.ahead(j["name"])}
                     for j in jobs if visitor is not None and visitor.owns(j)],
        }
