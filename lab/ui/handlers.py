"""Event handlers of the lab's pages: plain functions, no gradio import.

Each handler returns plain values for the page's outputs and turns every
expected failure into a message for the user (last output), so neither the
page nor the API ever shows a traceback.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lab.analysis import InputError, analyse_text, check_text
from lab.autoset import AUTO, mismatch_note, suggest
from training.hierarchy.grams import SGSet, SGSetError, list_presets, load_preset
from training.paths import (MAX_SG_SET_BYTES, PathError, load_sg_file, resolve_file, resolve_named,
                            text_arg)
from training.hierarchy.coverage import coverage_warning
from training.hierarchy.detector import DETECTORS, NAME as DETECTOR, default_detector, planning_matcher
from lab.render import legend_html, stats_markdown, tokens_html

log = logging.getLogger(__name__)
MAX_SG_FILE_BYTES = MAX_SG_SET_BYTES  # where older callers find it
SG_HINT = "pick ground-truth, a preset ({}) or a set you saved with the Mine tab's 'Use in a new run'"


def load_sg_choice(preset: str | None, sg_file: str | None) -> SGSet:
    """The SG set the user picked: an uploaded file (size-capped, at most ``MAX_SG_PHRASES`` phrases) wins
    over the preset. The upload is named by its file name only."""
    if sg_file:
        if not isinstance(sg_file, (str, Path)):
            raise SGSetError("the SG set upload must be a file")
        path = Path(sg_file)
        return load_sg_file(path, shown=path.name)
    if not preset:
        raise SGSetError(f"Pick a Strategic Gram set ({', '.join(list_presets())}) or upload one.")
    if not isinstance(preset, str):
        raise SGSetError(f"the SG preset must be one of {', '.join(list_presets())}")
    return load_preset(preset)


def sg_source(value, public: bool, dirs: list[Path] | tuple[Path, ...] = ()) -> str:
    """What a run or the Inspect tab may use as planning phrases, checked before anything is read:
    ``"ground-truth"``, a preset name, or the resolved path of an SG set file (returned as text).

    Public: a file is named by its name only and must be in ``dirs`` (the visitor's own folders); the
    refusal is the same whether or not a server path exists. Private: a path inside the lab's roots, or a
    file name in the lab's sg-sets folder. Either way the file is read with its caps (training/paths.py)
    so a bad one fails here, with its message.
    """
    from lab.ui.context import settings

    name = text_arg(value, "planning phrases (SG set)") if value is not None else ""
    if name in ("", "ground-truth"):
        return "ground-truth"
    if name in list_presets():
        return name
    hint = SG_HINT.format(", ".join(list_presets()))
    if public:
        path = resolve_named(name, dirs, "SG set", MAX_SG_SET_BYTES, hint=hint)
        shown = path.name
    else:
        if "/" not in name and "\\" not in name and not name.startswith((".", "~")) and \
                (settings().sg_sets / name).exists():
            path = resolve_named(name, [settings().sg_sets], "SG set", MAX_SG_SET_BYTES, hint=hint)
        else:
            path = resolve_file(name, settings().roots, "SG set", MAX_SG_SET_BYTES)
        shown = str(path)
    load_sg_file(path, shown=shown)
    return str(path)


def highlight(text: str | None, preset: str | None, sg_file: str | None = None) -> tuple[str, str, str]:
    """Highlight planning tokens in pasted text.

    Returns:
        ``(tokens_html, stats_markdown, message)``; on bad input the first two
        are empty and ``message`` says what is wrong and what to do.
    """
    chosen = ""
    try:
        if preset == AUTO and not sg_file:
            preset, chosen = suggest(check_text(text))
        detector = _is_detector(preset) and not sg_file
        sg_set = _detector(preset) if detector else load_sg_choice(preset, sg_file)
        analysis = analyse_text(text, sg_set)
        fit = "" if chosen or sg_file else _fit_note(analysis, sg_set)
    except (InputError, SGSetError, PathError) as err:
        return "", "", f"⚠️ {err}"
    except Exception as err:  # noqa: BLE001 - the page must keep serving
        log.exception("highlight failed")
        return "", "", f"⚠️ Something went wrong while analysing the text ({type(err).__name__}). " \
                       "Please report it with the text you pasted."
    note = "" if analysis.counts else \
        f"No Strategic Gram of **{sg_set.name}** occurs in this text; try another set."
    html = legend_html(("planning",)) + tokens_html(analysis.text, analysis.offsets, analysis.planning)
    warning = coverage_warning([analysis.text], analysis.planning_ratio, sg_set)
    why = f", chosen for this text: {chosen}" if chosen else ""
    what = f"Planning: **{sg_set.label}**{why}" if detector else \
        f"SG set: **{sg_set.name}** ({len(sg_set.grams)} phrases{why})"
    note = "\n\n".join(n for n in (note, fit) if n)
    return html, f"{what}\n\n" + stats_markdown(analysis, warning=warning), note


def _is_detector(name) -> bool:
    """A planning detector's name: the default version, or one by number ('planning-detector-1.2')."""
    return isinstance(name, str) and name in DETECTORS and name != "sg"


def _detector(name: str):
    """The planning detector of that name on the reasoning preset (the default: what the bench shows)."""
    return default_detector() if name == DETECTOR else planning_matcher(name, load_preset("reasoning"))


def _named(name: str):
    """A preset by name, or a planning detector (on the reasoning preset)."""
    return _detector(name) if _is_detector(name) else load_preset(name)


def _fit_note(analysis, sg_set) -> str:
    """When the set that fits the text's style marks far more planning tokens than the chosen one."""
    suggested = suggest(analysis.text)[0]
    if sg_set.name == suggested:
        return ""
    other = analyse_text(analysis.text, _named(suggested))
    return mismatch_note(sg_set.name, analysis.planning_ratio, suggested, other.planning_ratio)


def resolve_sg(name: str, task: str = "multiply", text: str = "", dirs: list[Path] | tuple[Path, ...] = ()):
    """An SG set by name: 'ground-truth' (the task's), a preset, a file (checked by :func:`sg_source`), the
    planning detector, or 'auto' (follows ``text``)."""
    from lab.ui.context import settings
    from training.tasks import get_task, resolve_sg_set

    if name == AUTO:
        name = suggest(text)[0]
    if _is_detector(name):  # a planning detector on the reasoning preset
        return _detector(name)
    source = sg_source(name, settings().public, dirs)
    if source == "ground-truth" or source in list_presets():
        return resolve_sg_set(source, get_task(task))
    return load_sg_file(Path(source), shown=Path(source).name)
