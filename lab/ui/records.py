"""What the pages read about a run, from its folder: names (the user's runs and the shipped ones), records
by arm, progress and the latest evaluation samples. Plain functions, no gradio.

A name is either a run of the job manager (``runs/<name>``) or a shipped,
read-only record (``demo:...``, see :mod:`lab.shipped`); everything here
takes both.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from lab import shipped
from lab.ui.context import jobs
from training.progress import Progress, arm_folders, read_progress
from training.runs import read_jsonl

Groups = dict[str, dict[int, list[dict]]]
ARM_NAME = re.compile(r"^(?P<group>.+)-s(?P<seed>\d+)$")


def user_runs() -> list[str]:
    """The job manager's runs, newest first."""
    return [j["name"] for j in jobs().list()]


def choices() -> list[str]:
    """Every run a page can show: the user's runs, then the shipped records."""
    return user_runs() + list(shipped.shipped_runs())


def run_path(name: str) -> Path:
    """The folder of a run or shipped record (``ValueError`` / ``JobError`` with a message when unknown)."""
    if not name:
        raise ValueError("pick a run")
    return shipped.shipped_path(name) if shipped.is_shipped(name) else jobs().path_of(name)


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def info(name: str) -> dict:
    """The job manager's view of a run; for a shipped record the same keys from its files."""
    if not shipped.is_shipped(name):
        return jobs().info(name)
    path = run_path(name)
    status = _read(path / "status.json")
    folders = arm_folders(path)
    configs = [_read(f / "config.json") for f in folders]
    started, ended = status.get("started"), status.get("ended")
    return {"name": name, "kind": "compare" if folders != [path] else "run", "shipped": True,
            "state": status.get("state") or "finished", "step": status.get("step"), "path": str(path),
            "algos": sorted({c.get("algo", "?") for c in configs}), "seeds": sorted({c.get("seed", 0) for c in configs}),
            "duration_s": (ended - started) if started and ended else None}


def arm_group(folder: Path, cfg: dict, in_sweep: bool) -> str:
    """The arm's group, which sets its colour and label: ``<group>-s<seed>`` folders of a sweep give their
    group (an algorithm, or a study's group such as ``hicra-mined``); a single run gives its algorithm."""
    m = ARM_NAME.match(folder.name) if in_sweep else None
    if m and int(m["seed"]) == cfg.get("seed"):
        return m["group"]
    return str(cfg.get("algo", "?"))


def arms(name: str) -> list[tuple[str, int, Path]]:
    """``(group, seed, folder)`` of every arm of a run or sweep that has a config."""
    path = run_path(name)
    folders = arm_folders(path)
    out = []
    for folder in folders:
        cfg = _read(folder / "config.json")
        if cfg:
            out.append((arm_group(folder, cfg, folders != [path]), int(cfg.get("seed", 0)), folder))
    return out


def arm_records(name: str) -> Groups:
    """group -> seed -> metric records, for a run or every arm of a sweep."""
    groups: Groups = {}
    for group, seed, folder in arms(name):
        groups.setdefault(group, {})[seed] = read_jsonl(folder / "metrics.jsonl")
    return groups


def warnings(name: str) -> list[tuple[str, int | None, str]]:
    """``(arm folder, step, warning)`` of every arm whose status.json carries a planning-coverage warning."""
    out = []
    for _, _, folder in arms(name):
        status = _read(folder / "status.json")
        if status.get("warning"):
            out.append((folder.name, status.get("warning_step"), str(status["warning"])))
    return out


def progress(name: str) -> Progress:
    state = info(name).get("state")
    return read_progress(run_path(name), state=state)


def signature(name: str) -> tuple:
    """Changes whenever the run writes a record, a sample or its status: the page redraws only then."""
    path = run_path(name)
    out = [name]
    for folder in dict.fromkeys([path] + arm_folders(path)):
        for file in ("status.json", "metrics.jsonl", "samples.jsonl"):
            try:
                st = (folder / file).stat()
                out.append((str(folder), file, st.st_mtime_ns, st.st_size))
            except OSError:
                pass
    return tuple(out)


def latest_samples(name: str) -> tuple[int | None, list[tuple[str, list[dict]]]]:
    """The latest evaluation that every shown arm has reached, and its samples per arm.

    One arm per group (its lowest seed), in the order of the groups, so the
    columns compare algorithms on the same problems and the same random
    numbers. Returns ``(step, [(arm label, samples sorted by problem)])``.
    """
    chosen: dict[str, tuple[int, Path]] = {}
    for group, seed, folder in arms(name):
        if group not in chosen or seed < chosen[group][0]:
            chosen[group] = (seed, folder)
    by_arm = {}
    for group, (seed, folder) in chosen.items():
        samples = read_jsonl(folder / "samples.jsonl")
        if samples:
            by_arm[(group, seed)] = samples
    if not by_arm:
        return None, []
    steps = [{s["step"] for s in samples} for samples in by_arm.values()]
    common = set.intersection(*steps)
    step = max(common) if common else max(max(s) for s in steps)
    out = []
    for (group, seed), samples in by_arm.items():
        picked = [s for s in samples if s["step"] == step]
        picked.sort(key=lambda s: (s.get("problem", 0), s.get("sample", 0)))
        out.append((f"{group}, seed {seed}", picked))
    return step, out
