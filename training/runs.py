"""The run directory: the contract between the trainer, the app and scripts.

``runs/<run_id>/``::

    config.json      the RunConfig
    status.json      {"state": queued|running|stopped|failed|finished, "step", "pid", ...}
    metrics.jsonl    one JSON object per line: {"kind": "step", ...} or {"kind": "eval", ...}
    samples.jsonl    decoded rollouts with per-token roles and entropies
    checkpoints/step-N/   LoRA adapter (peft format), optimizer and RNG state

Appends are crash-safe: each line is written whole and flushed with fsync; a
reader skips a torn last line (with a warning) instead of failing.

A full disk must not lose why a run stopped: when the atomic write of a
small JSON file (``status.json``) fails for want of space, it is rewritten
in place instead, in the blocks the file already has (docs/failures.md).
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _clean(value):
    """JSON-safe: NaN and infinities become None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def write_json_atomic(path: Path, data: dict) -> None:
    """Write ``data`` whole (a temporary file, then a rename); on a full disk, over the old file in place.

    The in-place fallback needs no new block when the new text is no longer
    than the file's last block allows, which holds for a status file; it is
    not atomic, so it is only the fallback.
    """
    text = json.dumps(_clean(data), indent=2) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno not in DISK_FULL or not path.exists():
            raise
        try:
            with open(path, "r+b") as f:
                f.write((json.dumps(_clean(data), separators=(",", ":")) + "\n").encode())  # compact: fits
                f.truncate()
                f.flush()
                os.fsync(f.fileno())
        except OSError:
            raise err from None


def append_jsonl(path: Path, record: dict) -> None:
    line = json.dumps(_clean(record), separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def read_jsonl(path: Path) -> list[dict]:
    """All complete records; a torn or corrupt line is skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                log.warning("%s: line %d is not complete JSON; skipped", path, number)
                continue
            if isinstance(record, dict):
                records.append(record)
    return records


def check_run_folder(path: str | Path) -> Path:
    """``path`` as a run folder, or a ValueError whose one-line message says why it cannot be one.

    Refused before anything is written: an empty name, ``.`` or ``..`` as the
    last part (the run's files would land in the current folder or its
    parent, among other files), a part longer than the file system allows
    (``NAME_MAX``: 255 bytes on most), and a path so long that the run's
    deepest files (``checkpoints/step-N/adapter/...``) would exceed
    ``PATH_MAX``.
    """
    raw = os.fspath(path)
    last = raw.rstrip("/").rsplit("/", 1)[-1]
    if not raw.strip() or last.strip() in ("", ".", ".."):
        raise ValueError(f"the run folder must have a name of its own, not {raw[:60]!r} (e.g. runs/my-run)")
    full = Path(raw).expanduser().absolute()
    anchor = next((p for p in (full, *full.parents) if os.path.isdir(p)), Path("/"))  # no OSError
    name_max, path_max = _limit(anchor, "PC_NAME_MAX", 255), _limit(anchor, "PC_PATH_MAX", 4096)
    for part in Path(raw).parts:
        if len(part.encode()) > name_max:
            raise ValueError(f"run folder name too long: {part[:24]!r}... is {len(part.encode())} bytes, the file "
                             f"system allows {name_max}")
    deepest = len(str(full).encode()) + len("/checkpoints/step-1000000/adapter/adapter_model.safetensors.tmp")
    if deepest > path_max:
        raise ValueError(f"run folder path too long: {len(str(full).encode())} bytes, and its files must stay "
                         f"under the file system's {path_max}")
    return Path(raw)


RECORDS = ("metrics.jsonl", "samples.jsonl", "checkpoints", "status.json", "retention.json", "tensorboard")


def has_records(path: Path) -> bool:
    """Does ``path`` hold a run's (or a sweep's arms') records: metrics, samples or a checkpoint?"""
    folders = [path, *(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())] if path.is_dir() else []
    return any((f / "metrics.jsonl").exists() or (f / "samples.jsonl").exists() or any(f.glob("checkpoints/step-*"))
               for f in folders)


def remove_records(path: Path, arms: list[str] = ()) -> None:
    """Delete a run's records (``RECORDS``, the named ``arms`` and any folder with a config.json: an earlier
    sweep's arms); other files stay (the job manager's job.json and log.txt). Links go as links."""
    for item in [*(path / n for n in RECORDS), *(path / a for a in arms),
                 *(p for p in path.iterdir() if p.is_dir() and not p.is_symlink() and (p / "config.json").exists())]:
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item)
        elif item.exists() or item.is_symlink():
            item.unlink()


def _limit(path: Path, name: str, default: int) -> int:
    try:
        return os.pathconf(path, name)
    except (OSError, ValueError):
        return default


def machine() -> dict:
    """Where a run trains, for its status.json: the software versions and the processor, so a study that ran
    on several machines can say which seeds ran where (numbers may differ in the last bits between them)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    def ver(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "absent"

    return {"python": platform.python_version(), "torch": ver("torch"), "transformers": ver("transformers"),
            "peft": ver("peft"), "processor": platform.machine(), "cpus": os.cpu_count() or 0}


class RunDir:
    """A run's folder. ``readonly`` (processes other than rank 0) reads it and writes nothing."""

    def __init__(self, path: str | Path, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly
        self.metrics = self.path / "metrics.jsonl"
        self.samples = self.path / "samples.jsonl"
        self.status_file = self.path / "status.json"
        self.checkpoints = self.path / "checkpoints"

    def create(self) -> "RunDir":
        if self.readonly:
            return self
        self.path.mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(exist_ok=True)
        return self

    def status(self) -> dict:
        """The status, or ``{}`` when there is none or it is not a JSON object (:meth:`status_problem` says)."""
        try:
            data = json.loads(self.status_file.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def status_problem(self) -> str | None:
        """Why ``status.json`` cannot be read as a status (``None``: it can, or there is none)."""
        try:
            data = json.loads(self.status_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            return f"status.json cannot be read ({type(err).__name__}: {err})"
        if not isinstance(data, dict) or not isinstance(data.get("state", ""), str):
            return f"status.json holds {json.dumps(data)[:40]}, not a run's status (a JSON object with a state)"
        return None

    def set_status(self, state: str, **fields) -> None:
        if self.readonly:
            return
        data = {**self.status(), **fields, "state": state, "updated": time.time()}
        write_json_atomic(self.status_file, data)

    def log(self, record: dict) -> None:
        if not self.readonly:
            append_jsonl(self.metrics, record)

    def log_samples(self, records: list[dict]) -> None:
        for r in records if not self.readonly else ():
            append_jsonl(self.samples, r)

    def checkpoint_list(self) -> list[Path]:
        """The run's complete checkpoints (``step-N`` with its ``state.pt``), newest first."""
        steps = []
        for p in self.checkpoints.glob("step-*"):
            number = p.name.split("-", 1)[1]
            if number.isdigit() and (p / "state.pt").exists():
                steps.append((int(number), p))
        return [p for _, p in sorted(steps, reverse=True)]

    def latest_checkpoint(self) -> Path | None:
        found = self.checkpoint_list()
        return found[0] if found else None

    def truncate_to(self, steps_done: int) -> None:
        """Keep what a run had written after ``steps_done`` steps (resume redoes the rest).

        Step records are numbered from 0, so step ``steps_done`` onwards goes;
        an evaluation logged *after* step n carries ``"step": n + 1``, so
        evaluations and samples up to ``steps_done`` stay.
        """
        if self.readonly:
            return

        def keep(r: dict) -> bool:
            step = r.get("step", 0)
            return step < steps_done if r.get("kind") == "step" else step <= steps_done

        for path in (self.metrics, self.samples):
            if path.exists():
                kept = [r for r in read_jsonl(path) if keep(r)]
                tmp = path.with_name(path.name + ".tmp")
                tmp.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in kept))
                os.replace(tmp, path)
