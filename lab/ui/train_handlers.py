"""Train tab handlers: launch a run or a fair A/B sweep, watch it, stop and resume it.

Plain functions (no gradio): the page passes values in and shows what comes
back; every expected failure comes back as a message. The Train tab's
components carry no limits of their own (Gradio's checks raise inside
Gradio and print a traceback): whatever the page or an API client sends -
NaN, 1e9, a string, a list - reaches :func:`launch`, which checks it here
and with ``RunConfig.validate`` before anything is queued. Watching a run
(its progress, panels and samples) is :mod:`lab.ui.watch_handlers`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from pathlib import Path

from training.hierarchy.detector import DETECTORS
from training.hierarchy.grams import list_presets
from training.paths import check_model
from lab.shipped import is_shipped, read_only_message
from lab.ui.context import PUBLIC_MAX_STEPS, PUBLIC_MODELS, jobs, settings
from lab.ui.handlers import sg_source
from lab.ui.records import arm_records  # noqa: F401 - where runs_handlers and older callers find it
from lab.ui.watch_handlers import refresh  # noqa: F401 - the Train tab's view of a run lives there

log = logging.getLogger(__name__)
ALGO_CHOICES = {"HICRA": ["hicra"], "GRPO": ["grpo"], "GRPO vs HICRA (fair A/B)": ["grpo", "hicra"]}


def preset_note(name) -> str:
    """What a preset trains, and on which task regime (the Train tab's line under the preset)."""
    from training.config import PRESET_HELP, PRESETS
    from training.tasks import REGIME_LABELS

    if name not in PRESETS:
        return f"Unknown preset; pick one of {', '.join(PRESETS)}."
    task = PRESETS[name].task
    regime = f" Task `{task}`" + (f": the {REGIME_LABELS[task]} regime (see the Guide)." if task in REGIME_LABELS
                                  else ".")
    return f"{PRESET_HELP.get(name, '')}.{regime}"


def preset_fields(name) -> tuple[str, int | None, str | None, str | None]:
    """What choosing a preset puts in the form: ``(note, steps, SG set, model)``, so the boxes say what
    Launch will train (steps capped at public mode's limit); an unknown name leaves the boxes as they are."""
    from training.config import PRESETS

    note = preset_note(name)
    if name not in PRESETS:
        return note, None, None, None
    cfg = PRESETS[name]
    steps = min(cfg.steps, PUBLIC_MAX_STEPS) if settings().public else cfg.steps
    return note, steps, cfg.sg_set if cfg.detector == "sg" else cfg.detector, cfg.model


# The planning detector's versions, offered beside the SG sets: a run with one of them marks its planning tokens
# with that detector on the reasoning preset (docs/planning-detector.md), and records which.
TRAIN_DETECTORS = tuple(d for d in DETECTORS if d != "sg")
DETECTOR_SG_SET = "reasoning"


def sg_choices(dirs: list[Path] | tuple[Path, ...] | None = None) -> list[str]:
    """Planning-phrase sources a run can use: the task's ground truth, presets, saved sets (a private lab:
    ``(label, path)`` pairs, the page showing the file name only; a public lab: the file names in the
    visitor's own ``dirs``)."""
    if dirs is None:
        if settings().public:
            return ["ground-truth"] + list_presets()
        folder = settings().sg_sets
        # shown by file name ("mined: name.json"), the path only as the value launch receives
        saved = sorted(folder.glob("*.json")) if folder.is_dir() else []
        return ["ground-truth"] + list_presets() + list(TRAIN_DETECTORS) + \
            [(f"mined: {p.name}", str(p)) for p in saved]
    names = sorted({p.name for d in dirs if d.is_dir() for p in d.glob("*.json") if p.is_file()})
    return ["ground-truth"] + list_presets() + list(TRAIN_DETECTORS) + names


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


def number(value, label: str) -> float:
    """A finite number from a box of the page or an API call, or a ValueError naming the box."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"{label} must be a number, got {str(value)[:40]!r}")
    try:
        x = float(value)
    except ValueError:
        raise ValueError(f"{label} must be a number, got {value[:40]!r}") from None
    except OverflowError:  # a whole number with hundreds of digits
        x = math.inf
    if not math.isfinite(x):
        raise ValueError(f"{label} must be a finite number, got {str(value)[:40]}")
    return x


def whole(value, label: str) -> int:
    """A whole number from the page or an API call (2.0 is 2; 2.5 is refused)."""
    x = number(value, label)
    if x != int(x):
        raise ValueError(f"{label} must be a whole number, got {value}")
    return int(x)


def _text(value, label: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{label} must be text, got {str(value)[:40]!r}")
    return value


def launch(name: str, preset_name: str, algo_choice: str, alpha: float, steps: float, seeds_text: str,
           lora_r: float, sg_set: str, model: str = "tiny", owner: str | None = None,
           sg_dirs: list[Path] | tuple[Path, ...] = ()) -> tuple[str, str]:
    """Queue a run; returns ``(message, run name)`` (name empty on failure). ``owner``: public mode's
    opaque id of who started it, ``sg_dirs`` the visitor's own SG set folders (``lab/ui/public_handlers.py``).

    The model and the SG set are checked by training/paths.py before anything is read or queued: a public
    lab takes only its allowed models and SG sets by name; a private one paths inside its roots, read with
    a size cap (``sg_set="/dev/zero"`` is refused, not read)."""
    from training.config import PRESETS, preset
    from training.jobs import JobError

    try:
        algos = ALGO_CHOICES.get(algo_choice) if isinstance(algo_choice, str) else None
        if algos is None:
            raise ValueError(f"pick an algorithm: {', '.join(ALGO_CHOICES)}")
        if not isinstance(preset_name, str):  # preset() names an unknown one
            raise ValueError(f"unknown preset {str(preset_name)[:40]!r}; available: {', '.join(PRESETS)}")
        seeds = parse_seeds(seeds_text)
        alpha, steps, lora_r = number(alpha, "alpha"), whole(steps, "steps"), whole(lora_r, "LoRA rank")
        name = _text(name, "run name")
        public = settings().public
        model = check_model(model, public, PUBLIC_MODELS, settings().roots, verb="trains")
        if public and steps > PUBLIC_MAX_STEPS:
            raise ValueError(f"this public lab allows at most {PUBLIC_MAX_STEPS} steps per run")
        detector = "sg"
        if sg_set in TRAIN_DETECTORS:  # the planning detector marks the planning tokens, on the reasoning preset
            sg_set, detector = DETECTOR_SG_SET, sg_set
        sg_set = sg_source(sg_set, public, sg_dirs)  # a bad file fails here, with its message
        cfg = preset(preset_name, algo=algos[0], alpha=alpha, steps=steps, seed=seeds[0], lora_r=lora_r,
                     sg_set=sg_set, model=model, detector=detector)  # validated, with every seed of a sweep
        for seed in seeds[1:]:
            replace(cfg, seed=seed).validate()
        name = name.strip() or f"{'-'.join(algos)}-{time.strftime('%Y%m%d-%H%M%S')}"
        sweep = len(algos) > 1 or len(seeds) > 1
        info = jobs().submit(name, cfg, algos=algos if sweep else None, seeds=seeds if sweep else None,
                            owner=owner)
    except (ValueError, JobError) as err:  # SGSetError and PathError are ValueErrors
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
