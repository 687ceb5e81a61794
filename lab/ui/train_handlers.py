"""Train tab handlers: launch a run or a fair A/B sweep, watch it, stop and resume it.

Plain functions (no gradio): the page passes values in and shows what comes
back; every expected failure comes back as a message. Watching a run (its
progress, panels and samples) is :mod:`lab.ui.watch_handlers`.
"""

from __future__ import annotations

import logging
import time

from lab.grams import list_presets, load_sg_set
from lab.shipped import is_shipped, read_only_message
from lab.ui.context import PUBLIC_MAX_STEPS, PUBLIC_MODELS, jobs, settings
from lab.ui.records import arm_records  # noqa: F401 - where runs_handlers and older callers find it
from lab.ui.watch_handlers import refresh  # noqa: F401 - the Train tab's view of a run lives there

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
           lora_r: float, sg_set: str, model: str = "tiny") -> tuple[str, str]:
    """Queue a run; returns ``(message, run name)`` (name empty on failure)."""
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
        info = jobs().submit(name, cfg, algos=algos if sweep else None, seeds=seeds if sweep else None)
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

    if is_shipped(name):
        return read_only_message(name, "stopped")
    try:
        info = jobs().stop(name)
    except JobError as err:
        return f"⚠️ {err}"
    return f"Stopping **{name}** ({info['state']}): it checkpoints at the end of the current step."


def resume(name: str) -> str:
    from training.jobs import JobError

    if is_shipped(name):
        return read_only_message(name, "resumed")
    try:
        info = jobs().resume(name)
    except JobError as err:
        return f"⚠️ {err}"
    return f"**{name}** {info['state']}: it continues from its last checkpoint."
