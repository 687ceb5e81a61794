"""Train tab handlers: launch a run or a fair A/B sweep, watch it, stop and resume it.

Plain functions (no gradio): the page passes values in and shows what comes
back; every expected failure comes back as a message.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from lab.charts import compare_figure, run_figure
from lab.grams import list_presets, load_sg_set
from lab.render import legend_html, tokens_html
from lab.ui.context import PUBLIC_MAX_STEPS, PUBLIC_MODELS, jobs, settings
from training.runs import read_jsonl

log = logging.getLogger(__name__)
ALGO_CHOICES = {"HICRA": ["hicra"], "GRPO": ["grpo"], "GRPO vs HICRA (fair A/B)": ["grpo", "hicra"]}


def sg_choices() -> list[str]:
    """Planning-phrase sources a run can use: the task's ground truth, presets, mined sets."""
    mined = sorted(str(p) for p in settings().sg_sets.glob("*.json")) if settings().sg_sets.exists() else []
    return ["ground-truth"] + list_presets() + mined


def run_names() -> list[str]:
    return [j["name"] for j in jobs().list()]


def parse_seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in str(text).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise ValueError(f"seeds must be whole numbers separated by commas, e.g. 0,1,2 (got {text!r})") from None
    if not seeds or len(seeds) > 10 or len(set(seeds)) != len(seeds):
        raise ValueError("give 1 to 10 distinct seeds, e.g. 0,1,2")
    return seeds


def launch(name: str, preset_name: str, algo_choice: str, alpha: float, steps: float, seeds_text: str,
           lora_r: float, sg_set: str, model: str = "tiny", owner: str | None = None) -> tuple[str, str]:
    """Queue a run; returns ``(message, run name)`` (name empty on failure). ``owner``: public mode's
    opaque id of who started it (``lab/ui/public_handlers.py``)."""
    from training.config import preset
    from training.jobs import JobError

    try:
        algos = ALGO_CHOICES.get(algo_choice)
        if algos is None:
            raise ValueError(f"pick an algorithm: {', '.join(ALGO_CHOICES)}")
        seeds = parse_seeds(seeds_text)
        steps, lora_r = int(steps), int(lora_r)
        model = (model or "tiny").strip()
        if settings().public:
            if steps > PUBLIC_MAX_STEPS:
                raise ValueError(f"this public lab allows at most {PUBLIC_MAX_STEPS} steps per run")
            if model not in PUBLIC_MODELS:
                raise ValueError(f"this public lab trains only {', '.join(PUBLIC_MODELS)}")
        if sg_set not in ("ground-truth", *list_presets()):
            load_sg_set(sg_set)  # a bad mined file fails here, with its message
        cfg = preset(preset_name, algo=algos[0], alpha=float(alpha), steps=steps, seed=seeds[0], lora_r=lora_r,
                     sg_set=sg_set, model=model)
        name = (name or "").strip() or f"{'-'.join(algos)}-{time.strftime('%Y%m%d-%H%M%S')}"
        sweep = len(algos) > 1 or len(seeds) > 1
        info = jobs().submit(name, cfg, algos=algos if sweep else None, seeds=seeds if sweep else None,
                            owner=owner)
    except (ValueError, JobError) as err:
        return f"⚠️ {err}", ""
    except Exception as err:  # noqa: BLE001 - the page must keep serving
        log.exception("launch failed")
        return f"⚠️ Could not start the run ({type(err).__name__}: {err}).", ""
    what = f"{len(algos) * len(seeds)} arms ({', '.join(algos)} x seeds {', '.join(map(str, seeds))})" if sweep \
        else f"{algos[0]}, seed {seeds[0]}"
    return f"Run **{name}** {info['state']}: {what}, {steps} steps.", name


def stop(name: str) -> str:
    from training.jobs import JobError

    try:
        info = jobs().stop(name)
    except JobError as err:
        return f"⚠️ {err}"
    return f"Stopping **{name}** ({info['state']}): it checkpoints at the end of the current step."


def resume(name: str) -> str:
    from training.jobs import JobError

    try:
        info = jobs().resume(name)
    except JobError as err:
        return f"⚠️ {err}"
    return f"**{name}** {info['state']}: it continues from its last checkpoint."


def arm_records(name: str) -> dict[str, dict[int, list[dict]]]:
    """algo -> seed -> metric records, for a run or every arm of a sweep."""
    path = jobs().path_of(name)
    folders = [p for p in sorted(path.iterdir()) if (p / "config.json").exists()] or [path]
    groups: dict[str, dict[int, list[dict]]] = {}
    for folder in folders:
        if not (folder / "config.json").exists():
            continue
        cfg = json.loads((folder / "config.json").read_text())
        groups.setdefault(cfg["algo"], {})[cfg["seed"]] = read_jsonl(folder / "metrics.jsonl")
    return groups


def refresh(name: str):
    """``(status markdown, figure, latest samples html)`` for the selected run."""
    if not name:
        return "Launch a run, or pick one.", None, ""
    try:
        info = jobs().info(name)
    except Exception as err:  # noqa: BLE001 - a deleted run, a bad name
        return f"⚠️ {err}", None, ""
    groups = arm_records(name)
    if info.get("kind") == "compare":
        fig = compare_figure(groups, "eval/accuracy", "eval", "held-out accuracy: mean and 95% interval across seeds")
        records = next(iter(next(iter(groups.values())).values()), []) if groups else []
    else:
        records = next(iter(next(iter(groups.values())).values()), []) if groups else []
        fig = run_figure(records, title=name)
    return status_markdown(info, records), fig, samples_html(name)


def status_markdown(info: dict, records: list[dict]) -> str:
    state = info.get("state", "?")
    steps = [r for r in records if r.get("kind") == "step"]
    evals = [r for r in records if r.get("kind") == "eval"]
    parts = [f"**{info['name']}**: {state}, step {info.get('step', 0)}"]
    if info.get("duration_s"):
        parts.append(f"{info['duration_s'] / 60:.1f} min")
    if steps:
        parts.append(f"{steps[-1]['time/step_s']:.2f} s/step")
    if evals:
        parts.append(f"held-out accuracy {evals[0]['eval/accuracy']:.3f} → {evals[-1]['eval/accuracy']:.3f}")
    text = " · ".join(parts)
    if state == "failed" and info.get("error"):
        text += f"\n\n⚠️ {info['error']}"
    return text


def samples_html(name: str, limit: int = 4) -> str:
    """The latest evaluation samples of a run, planning tokens highlighted."""
    from lab.analysis import analyse_text
    from lab.ui.handlers import resolve_sg

    path = jobs().path_of(name)
    folder = next((p for p in sorted(path.iterdir()) if (p / "samples.jsonl").exists()), path) \
        if not (path / "samples.jsonl").exists() else path
    samples = read_jsonl(folder / "samples.jsonl")
    if not samples:
        return ""
    last = samples[-1]["step"]
    cfg = json.loads((folder / "config.json").read_text()) if (folder / "config.json").exists() else {}
    try:
        sg = resolve_sg(cfg.get("sg_set", "ground-truth"), cfg.get("task", "multiply"))
    except Exception:  # noqa: BLE001 - a removed SG file: show plain text
        sg = None
    parts = [f"<div><b>Samples at step {last}</b> ({Path(folder).name})</div>", legend_html(("planning",))]
    for s in [x for x in samples if x["step"] == last][:limit]:
        verdict = "✓ correct" if s.get("correct") else f"✗ {s.get('error', '')} error"
        parts.append(f"<div style='margin-top:8px'><code>{_esc(s.get('prompt', ''))}</code> {verdict}</div>")
        if sg is not None and s["text"].strip():
            a = analyse_text(s["text"], sg)
            parts.append(tokens_html(a.text, a.offsets, a.planning))
        else:
            parts.append(f"<pre>{_esc(s['text'])}</pre>")
    return "".join(parts)


def _esc(text: str) -> str:
    import html

    return html.escape(text)
