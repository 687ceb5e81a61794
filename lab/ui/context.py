"""Settings of the running app, and the one job manager all browser sessions share.

Environment variables:

* ``HICRA_LAB_DATA``: data folder (default ``./runs``'s parent, i.e. the
  repository); runs live in ``$HICRA_LAB_DATA/runs``, mined SG sets in
  ``$HICRA_LAB_DATA/sg-sets``.
* ``HICRA_LAB_PUBLIC=1``: public-hosting mode (a shared Space): at most
  ``PUBLIC_MAX_STEPS`` steps and one run at a time, only the models in
  ``PUBLIC_MODELS`` (checked before anything loads), no pushes to the Hub;
  runs belong to whoever started them, a fair share of the queue and a
  bounded disk (``training/public.py``: ``HICRA_LAB_MAX_RUNS_PER_OWNER``,
  ``HICRA_LAB_MAX_QUEUE``, ``HICRA_LAB_KEEP_RUNS``,
  ``HICRA_LAB_KEEP_CHECKPOINTS``, ``HICRA_LAB_MIN_FREE_GB``,
  ``HICRA_LAB_MAX_RUNS_PER_NETWORK``, ``HICRA_LAB_TRUSTED_PROXIES``). Visitors
  name SG sets only by file name, in their own folder
  ``sg-sets/visitors/<owner id>``; no server path is read or named.
* ``HICRA_LAB_ALLOWED_ROOTS``: a private lab reads SG set files and model
  folders only inside the data folder, the repository, the temporary folder,
  the home folder and these extra folders (``os.pathsep``-separated); see
  ``training/paths.py``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from lab import zerogpu  # imported with the app: on ZeroGPU its spaces.GPU function must exist at launch

ROOT = Path(__file__).resolve().parent.parent.parent
PUBLIC_MAX_STEPS = 300
PUBLIC_MAX_PARAMS = 600_000_000
PUBLIC_MODELS = ("tiny", "Qwen/Qwen2.5-0.5B-Instruct")


@dataclass(frozen=True)
class Settings:
    data: Path
    public: bool

    @property
    def runs(self) -> Path:
        return self.data / "runs"

    @property
    def sg_sets(self) -> Path:
        return self.data / "sg-sets"

    def visitor_sg_sets(self, owner_id: str) -> Path:
        """A public visitor's own SG sets (``owner_id``: an opaque hex id from training/public.py)."""
        return self.sg_sets / "visitors" / owner_id

    @property
    def roots(self) -> tuple[Path, ...]:
        """Folders a private lab reads user-named files from (training/paths.py); a public lab reads no
        path a visitor names, only file names in the visitor's own folder."""
        import tempfile

        extra = [Path(p).expanduser() for p in os.environ.get("HICRA_LAB_ALLOWED_ROOTS", "").split(os.pathsep)
                 if p.strip()]
        return (self.data, ROOT, Path(tempfile.gettempdir()), Path.home(), *extra)


@lru_cache(maxsize=1)
def settings() -> Settings:
    data = Path(os.environ.get("HICRA_LAB_DATA", str(ROOT))).expanduser().resolve()
    public = os.environ.get("HICRA_LAB_PUBLIC", "").lower() in ("1", "true", "yes")
    return Settings(data=data, public=public)


_lock = threading.Lock()
_manager = None
_policy = None
_proxies = 0  # HICRA_LAB_TRUSTED_PROXIES, read when public mode attaches its policy


def proxies() -> int:
    """Proxies in front of the app that append the caller's address (training.public.trusted_proxies)."""
    return _proxies


def jobs():
    """The job manager (one per app process, shared by every browser session).

    Its scheduler thread starts queued runs as slots free, with or without a
    page open.
    """
    global _manager
    with _lock:
        if _manager is None:
            from training.jobs import JobManager

            cfg = settings()
            if zerogpu.on_zerogpu():  # runs train in this process, a chunk per spaces.GPU call
                _manager = zerogpu.ZeroGPUJobs(cfg.runs)
            else:
                _manager = JobManager(cfg.runs, max_concurrent=1 if cfg.public else None)
            if cfg.public:
                _attach_policy(_manager)
            _manager.start_scheduler()  # after the policy: its disk check runs before every start
        return _manager


def policy():
    """Public mode's rules over the shared job manager (``None`` outside public mode)."""
    if not settings().public:
        return None
    manager = jobs()
    with _lock:
        if _policy is None or _policy.jobs is not manager:
            _attach_policy(manager)
        return _policy


def _attach_policy(manager) -> None:
    """Public mode: the policy, and its retention and disk check before every run starts."""
    global _policy, _proxies
    from training.public import PublicLimits, PublicPolicy, trusted_proxies

    _proxies = trusted_proxies()  # a bad HICRA_LAB_TRUSTED_PROXIES stops the start, with its message
    _policy = PublicPolicy(manager, PublicLimits.from_env())
    manager.before_launch = _policy.before_launch
