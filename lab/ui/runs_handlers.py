"""Runs and Compare tab handlers: the table of runs, their files, and fair comparisons."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from lab.charts import COMPARE_PANELS, ERROR_TOTAL, figures
from lab.colours import arm_label
from lab.shipped import is_shipped, read_only_message
from lab.compare_table import PRIMARY, Metric, comparison_table
from lab.ui import records
from lab.ui.context import jobs, settings
from training.progress import ACTIVE, arm_folders, bar, duration, eta_text, read_progress

log = logging.getLogger(__name__)
RUN_COLUMNS = ["name", "kind", "state", "progress", "elapsed", "ETA", "algorithms", "seeds", "model"]


def runs_table() -> list[list]:
    """One row per run: its state, "step x of N" with a bar (the slowest arm of a sweep), elapsed and ETA."""
    rows = []
    for j in jobs().list():
        cfg = {}
        cfg_path = Path(j["path"]) / "config.json"
        if cfg_path.exists():
            cfg = json.loads(cfg_path.read_text())
        p = read_progress(j["path"], state=j.get("state"))
        step = f"{bar(p.fraction, 10)} step {p.step} of {p.steps}"
        if p.phase == "evaluating":
            step += ", evaluating"
        rows.append([j["name"], j.get("kind", "run"), j.get("state", "?"), step, duration(p.elapsed_s),
                     eta_text(p) if j.get("state") in ACTIVE else "",
                     ",".join(j.get("algos") or [cfg.get("algo", "?")]),
                     ",".join(map(str, j.get("seeds") or [cfg.get("seed", "?")])), cfg.get("model", "?")])
    return rows


def delete_prompt(name: str) -> tuple[str, bool]:
    """The first click on Delete: ``(question or refusal, show the confirm buttons)``."""
    if not name:
        return "⚠️ Pick a run to delete.", False
    if is_shipped(name):
        return read_only_message(name, "deleted"), False
    try:
        info = jobs().info(name)
    except Exception as err:  # noqa: BLE001 - a bad or deleted name
        return f"⚠️ {err}", False
    if info.get("state") == "running":
        return f"⚠️ **{name}** is running; stop it first.", False
    return (f"Delete **{name}** ({info.get('kind', 'run')}, {info.get('state', '?')}) with its records and "
            "checkpoints? This cannot be undone.", True)


def delete(name: str) -> str:
    from training.jobs import JobError

    if is_shipped(name):
        return read_only_message(name, "deleted")
    try:
        jobs().delete(name)
    except JobError as err:
        return f"⚠️ {err}"
    return f"Deleted **{name}**."


def latest_adapters(path: Path) -> list[tuple[str, Path]]:
    """``(arm name, latest adapter folder)`` of each arm of a run or sweep that has a checkpoint."""
    out = []
    for folder in arm_folders(path):
        ckpts = sorted(folder.glob("checkpoints/step-*/adapter"), key=lambda p: int(p.parent.name.split("-")[1]))
        if ckpts:
            out.append((folder.name, ckpts[-1]))
    return out


def download_adapter(name: str) -> tuple[str | None, str]:
    """A zip of the latest LoRA adapter (peft format) of each arm: ``(path, message)``.

    A single run's zip holds the adapter's files; a sweep's holds one folder
    per arm, named ``<arm>-step-<N>`` (e.g. ``grpo-s0-step-60/``).
    """
    if is_shipped(name):
        return None, f"⚠️ **{name}** is a shipped record: it ships without checkpoints (its records only)."
    try:
        path = jobs().path_of(name)
    except Exception as err:  # noqa: BLE001
        return None, f"⚠️ {err}"
    adapters = latest_adapters(path)
    if not adapters:
        return None, f"⚠️ **{name}** has no checkpoint yet (one is written every checkpoint_every steps)."
    staging = Path(tempfile.mkdtemp())
    if arm_folders(path) == [path]:
        step = adapters[0][1].parent.name
        archive = shutil.make_archive(str(staging / f"{name}-{step}-adapter"), "zip", adapters[0][1])
        return archive, f"Adapter of **{name}** at {step}."
    content = staging / "content"
    for arm, adapter in adapters:
        shutil.copytree(adapter, content / f"{arm}-{adapter.parent.name}")
    archive = shutil.make_archive(str(staging / f"{name}-adapters"), "zip", content)
    listed = ", ".join(f"{arm} ({adapter.parent.name})" for arm, adapter in adapters)
    return archive, f"Adapters of **{name}**, one folder per arm: {listed}."


def push_adapter(name: str, repo_id: str, token: str) -> str:
    """Upload the latest adapter to the Hugging Face Hub (not in public mode)."""
    if settings().public:
        return "⚠️ Pushing to the Hub is switched off in this public lab."
    if not repo_id or "/" not in repo_id:
        return "⚠️ Give a repository id such as your-name/hicra-tiny-adapter."
    token = token or os.environ.get("HF_TOKEN", "")
    if not token:
        return "⚠️ Give a Hugging Face token with write access (or set HF_TOKEN)."
    if is_shipped(name):
        return f"⚠️ **{name}** is a shipped record: it ships without checkpoints (its records only)."
    try:
        path = jobs().path_of(name)
    except Exception as err:  # noqa: BLE001
        return f"⚠️ {err}"
    adapters = latest_adapters(path)
    if not adapters:
        return f"⚠️ **{name}** has no checkpoint yet."
    single = arm_folders(path) == [path]
    try:
        from huggingface_hub import HfApi

        from training.adapter_card import stage_adapter

        api = HfApi(token=token)
        api.create_repo(repo_id, exist_ok=True)
        for arm, adapter in adapters:  # a sweep: one folder per arm in the repository
            with tempfile.TemporaryDirectory() as staged:  # its base model named, and a model card
                api.upload_folder(folder_path=str(stage_adapter(adapter, Path(staged))), repo_id=repo_id,
                                  path_in_repo=None if single else arm)
    except Exception as err:  # noqa: BLE001 - no network, bad token: a message
        return f"⚠️ The push failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    where = adapters[0][1].parent.name if single else ", ".join(f"{a}/ ({d.parent.name})" for a, d in adapters)
    return f"Pushed {where} of **{name}** to {repo_id}."


# ------------------------------------------------------------------ compare


MAX_COMPARE_RUNS = 20  # picks in one comparison: each is read from disk and drawn


def picked(names) -> list[str]:
    """The runs a caller picked: a list of names (one name alone counts as a list of one), at most
    ``MAX_COMPARE_RUNS``; ValueError with a message otherwise."""
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ValueError("pick runs by name: a list of run, sweep or shipped-study names")
    if len(names) > MAX_COMPARE_RUNS:
        raise ValueError(f"{len(names)} runs picked; compare at most {MAX_COMPARE_RUNS} at a time")
    return list(names)


def gather(names: list[str]) -> tuple[dict[str, dict[int, list[dict]]], list[str]]:
    """``(group -> seed -> records, notes)`` over the picked runs, sweeps and shipped records.

    Two picks with an arm of the same group and seed cannot both count (a
    seed pairs GRPO with HICRA): the later pick's arm replaces the earlier
    one, and a note says so.
    """
    groups: dict[str, dict[int, list[dict]]] = {}
    source: dict[tuple[str, int], str] = {}
    notes = []
    for name in picked(names):
        for algo, by_seed in records.arm_records(name).items():
            for seed, recs in by_seed.items():
                if (algo, seed) in source:
                    notes.append(f"{algo} seed {seed} of **{name}** replaces the one of **{source[(algo, seed)]}**")
                source[(algo, seed)] = name
                groups.setdefault(algo, {})[seed] = recs
    return groups, notes


def _final(records: list[dict], key: str, kind: str = "eval", last: int = 1) -> float:
    vals = [r[key] for r in records if r.get("kind") == kind and r.get(key) is not None][-last:]
    return sum(vals) / len(vals) if vals else float("nan")


def _steps_to(records: list[dict], threshold: float) -> float:
    for r in records:
        if r.get("kind") == "eval" and r.get("eval/accuracy", 0) >= threshold:
            return r["step"]
    return float("nan")


FINAL_METRICS = [
    Metric(PRIMARY, lambda r: _final(r, "eval/accuracy"), share=True),
    Metric("final pass@k (any of a problem's k evaluation samples right)", lambda r: _final(r, "eval/pass_at_k"), share=True),
    Metric("semantic entropy, last 10 steps (bits)", lambda r: _final(r, "semantic/entropy_bits", "step", 10)),
    Metric("execution-token entropy, last 10 steps (nats)", lambda r: _final(r, "entropy/execution", "step", 10)),
    Metric("strategy errors at the last eval (share of samples)", lambda r: _last_share(r, "eval/errors/strategy"),
           share=True),
    Metric("execution errors at the last eval (share of samples)", lambda r: _last_share(r, "eval/errors/execution"),
           share=True),
]


def _last_share(records: list[dict], key: str) -> float:
    """The last evaluation's count of ``key`` over all samples it evaluated (counts come with their total)."""
    evals = [r for r in records if r.get("kind") == "eval" and r.get(key) is not None]
    if not evals:
        return float("nan")
    total = sum(evals[-1].get(k) or 0 for k in ERROR_TOTAL)
    return evals[-1][key] / total if total else float("nan")


def compare(names: list[str], threshold: float = 0.6, window=10, log_scale: bool = False):
    """Figures and a table for the picked runs: ``(*figures of COMPARE_PANELS, table markdown, message)``
    (held-out accuracy, semantic entropy, error types)."""
    try:
        groups, notes = gather(names)
    except Exception as err:  # noqa: BLE001 - an unknown or deleted run: a message
        return (*[None] * len(COMPARE_PANELS), "", f"⚠️ {err}")
    if not groups:
        return (*[None] * len(COMPARE_PANELS), "", "Pick runs, sweeps or a shipped study (demo:…) to compare.")
    names = picked(names)
    label = "-vs-".join(names) if len(names) < 3 else f"{len(names)}-runs"
    figs = figures(COMPARE_PANELS, _ordered(groups), _window(window), bool(log_scale), label)
    try:
        threshold = float(threshold)
    except (TypeError, ValueError):
        threshold = math.nan
    if not 0 < threshold <= 1:  # NaN too
        return (*[None] * len(COMPARE_PANELS), "", "⚠️ the accuracy threshold must be a number from 0 to 1")
    steps_to = Metric(f"steps to {threshold:.0%} held-out accuracy", lambda r: _steps_to(r, threshold))
    metrics = FINAL_METRICS + [steps_to]
    table = comparison_table(_ordered(groups), metrics, arm_label)
    return (*figs, table, "; ".join(notes))


def _ordered(groups: dict) -> dict:
    """GRPO first, then HICRA, then the rest by name: the same order (and colours) in every chart."""
    first = [g for g in ("grpo", "hicra") if g in groups]
    return {g: groups[g] for g in first + sorted(set(groups) - set(first))}


def _window(value) -> int:
    try:
        return max(1, min(100, int(float(value))))
    except (TypeError, ValueError):
        return 10


def export_compare_csv(names: list[str], window=10) -> tuple[list[str], str]:
    """One CSV per Compare chart: ``(file paths, message)``."""
    from lab.ui.watch_handlers import write_csvs

    try:
        groups, _ = gather(names)
    except Exception as err:  # noqa: BLE001
        return [], f"⚠️ {err}"
    if not groups:
        return [], "⚠️ Pick runs to compare first."
    names = picked(names)
    label = "-vs-".join(names) if len(names) < 3 else f"{len(names)}-runs"
    return write_csvs(f"compare-{label}", _ordered(groups), _window(window), COMPARE_PANELS)
