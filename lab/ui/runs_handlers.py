"""Runs and Compare tab handlers: the table of runs, their files, and fair comparisons."""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import tempfile
from pathlib import Path

from lab.charts import compare_figure
from lab.stats import mean_ci, paired_difference
from lab.ui.context import jobs, settings
from lab.ui.train_handlers import arm_records

log = logging.getLogger(__name__)
RUN_COLUMNS = ["name", "kind", "state", "step", "algorithms", "seeds", "model", "minutes"]


def runs_table() -> list[list]:
    rows = []
    for j in jobs().list():
        cfg = {}
        cfg_path = Path(j["path"]) / "config.json"
        if cfg_path.exists():
            cfg = json.loads(cfg_path.read_text())
        rows.append([j["name"], j.get("kind", "run"), j.get("state", "?"), j.get("step", 0),
                     ",".join(j.get("algos") or [cfg.get("algo", "?")]),
                     ",".join(map(str, j.get("seeds") or [cfg.get("seed", "?")])), cfg.get("model", "?"),
                     round(j["duration_s"] / 60, 1) if j.get("duration_s") else None])
    return rows


def delete(name: str) -> str:
    from training.jobs import JobError

    try:
        jobs().delete(name)
    except JobError as err:
        return f"⚠️ {err}"
    return f"Deleted **{name}**."


def download_adapter(name: str) -> tuple[str | None, str]:
    """A zip of the run's latest LoRA adapter (peft format): ``(path, message)``."""
    try:
        path = jobs().path_of(name)
    except Exception as err:  # noqa: BLE001
        return None, f"⚠️ {err}"
    ckpts = sorted(path.rglob("checkpoints/step-*/adapter"), key=lambda p: int(p.parent.name.split("-")[1]))
    if not ckpts:
        return None, f"⚠️ **{name}** has no checkpoint yet (one is written every checkpoint_every steps)."
    out = Path(tempfile.mkdtemp()) / f"{name}-{ckpts[-1].parent.name}-adapter"
    archive = shutil.make_archive(str(out), "zip", ckpts[-1])
    return archive, f"Adapter of **{name}** at {ckpts[-1].parent.name}."


def push_adapter(name: str, repo_id: str, token: str) -> str:
    """Upload the latest adapter to the Hugging Face Hub (not in public mode)."""
    if settings().public:
        return "⚠️ Pushing to the Hub is switched off in this public lab."
    if not repo_id or "/" not in repo_id:
        return "⚠️ Give a repository id such as your-name/hicra-tiny-adapter."
    token = token or os.environ.get("HF_TOKEN", "")
    if not token:
        return "⚠️ Give a Hugging Face token with write access (or set HF_TOKEN)."
    path = jobs().path_of(name)
    ckpts = sorted(path.rglob("checkpoints/step-*/adapter"), key=lambda p: int(p.parent.name.split("-")[1]))
    if not ckpts:
        return f"⚠️ **{name}** has no checkpoint yet."
    try:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(folder_path=str(ckpts[-1]), repo_id=repo_id)
    except Exception as err:  # noqa: BLE001 - no network, bad token: a message
        return f"⚠️ The push failed: {type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"
    return f"Pushed {ckpts[-1].parent.name} of **{name}** to {repo_id}."


# ------------------------------------------------------------------ compare


def gather(names: list[str]) -> dict[str, dict[int, list[dict]]]:
    """algo -> seed -> records over the picked runs and sweeps."""
    groups: dict[str, dict[int, list[dict]]] = {}
    for name in names or []:
        for algo, by_seed in arm_records(name).items():
            for seed, records in by_seed.items():
                groups.setdefault(algo, {})[seed] = records
    return groups


def _final(records: list[dict], key: str, kind: str = "eval", last: int = 1) -> float:
    vals = [r[key] for r in records if r.get("kind") == kind and r.get(key) is not None][-last:]
    return sum(vals) / len(vals) if vals else float("nan")


def _steps_to(records: list[dict], threshold: float) -> float:
    for r in records:
        if r.get("kind") == "eval" and r.get("eval/accuracy", 0) >= threshold:
            return r["step"]
    return float("nan")


FINAL_METRICS = [
    ("final held-out accuracy", lambda r: _final(r, "eval/accuracy")),
    ("final pass@k", lambda r: _final(r, "eval/pass_at_k")),
    ("semantic entropy, last 10 steps (bits)", lambda r: _final(r, "semantic/entropy_bits", "step", 10)),
    ("execution-token entropy, last 10 steps", lambda r: _final(r, "entropy/execution", "step", 10)),
    ("strategy errors at the last eval", lambda r: _final(r, "eval/errors/strategy")),
    ("execution errors at the last eval", lambda r: _final(r, "eval/errors/execution")),
]


def compare(names: list[str], threshold: float = 0.6):
    """Figures and a table for the picked runs: ``(accuracy, semantic, errors, table markdown, message)``."""
    groups = gather(names)
    if not groups:
        return None, None, None, "", "Pick runs or a sweep to compare (finished or running)."
    acc = compare_figure(groups, "eval/accuracy", "eval", "held-out accuracy (mean, 95% interval across seeds)")
    sem = compare_figure(groups, "semantic/entropy_bits", "step", "semantic entropy of planning phrases (bits)")
    err = compare_figure({f"{a} strategy": g for a, g in groups.items()}, "eval/errors/strategy", "eval",
                         "strategy errors at each evaluation")
    for a, g in groups.items():
        extra = compare_figure({f"{a} execution": g}, "eval/errors/execution", "eval")
        for trace in extra.data:
            trace.line.dash = "dot"
            err.add_trace(trace)
    metrics = FINAL_METRICS + [(f"steps to {threshold:.0%} held-out accuracy", lambda r: _steps_to(r, threshold))]
    algos = sorted(groups)
    header = "| metric | " + " | ".join(f"{a} (n={len(groups[a])})" for a in algos)
    pair = "grpo" in groups and "hicra" in groups
    header += " | HICRA - GRPO (paired by seed) |" if pair else " |"
    lines = [header, "|" + "---|" * (len(algos) + 1 + pair)]
    for label, fn in metrics:
        row = f"| {label} | " + " | ".join(_fmt(mean_ci([fn(r) for r in groups[a].values()])) for a in algos)
        if pair:
            d = paired_difference({s: fn(r) for s, r in groups["grpo"].items()},
                                  {s: fn(r) for s, r in groups["hicra"].items()})
            if d.n == 0:
                row += " | - |"
            else:
                verdict = "" if d.n < 2 else (" (interval excludes 0)" if d.excludes_zero
                                              else " (no measurable difference)")
                row += f" | {d}{verdict} |"
        else:
            row += " |"
        lines.append(row)
    note = "Intervals are 95% t intervals across seeds; one seed gives none."
    return acc, sem, err, "\n".join(lines) + "\n\n" + note, ""


def _fmt(ci) -> str:
    if ci.n == 0 or math.isnan(ci.mean):
        return "-"
    if ci.n < 2:
        return f"{ci.mean:.4g}"
    return f"{ci.mean:.4g} [{ci.low:.4g}, {ci.high:.4g}]"
