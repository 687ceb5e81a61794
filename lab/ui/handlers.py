"""Event handlers of the lab's pages: plain functions, no gradio import.

Each handler returns plain values for the page's outputs and turns every
expected failure into a message for the user (last output), so neither the
page nor the API ever shows a traceback.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from lab.analysis import InputError, analyse_text, check_text
from lab.autoset import AUTO, mismatch_note, suggest
from training.hierarchy.grams import SGSet, SGSetError, list_presets, load_preset, parse_sg_set
from training.hierarchy.coverage import coverage_warning
from training.hierarchy.detector import NAME as DETECTOR, default_detector
from lab.render import legend_html, stats_markdown, tokens_html

log = logging.getLogger(__name__)
MAX_SG_FILE_BYTES = 5_000_000


def load_sg_choice(preset: str | None, sg_file: str | None) -> SGSet:
    """The SG set the user picked: an uploaded file wins over the preset."""
    if sg_file:
        path = Path(sg_file)
        name = path.name
        if path.stat().st_size > MAX_SG_FILE_BYTES:
            raise SGSetError(f"{name}: the file is larger than {MAX_SG_FILE_BYTES // 1_000_000} MB; "
                             "an SG set file is a short JSON list of phrases")
        raw = path.read_bytes()
        try:
            data = json.loads(raw.decode("utf-8-sig"))
        except UnicodeDecodeError:
            raise SGSetError(f"{name}: not UTF-8 text (is it a binary file?)") from None
        except json.JSONDecodeError as err:
            raise SGSetError(f"{name}: not valid JSON ({err.msg} at line {err.lineno}, "
                             f"column {err.colno})") from None
        return parse_sg_set(data, origin=name)
    if not preset:
        raise SGSetError(f"Pick a Strategic Gram set ({', '.join(list_presets())}) or upload one.")
    return load_preset(preset)


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
        sg_set = default_detector() if preset == DETECTOR and not sg_file else load_sg_choice(preset, sg_file)
        analysis = analyse_text(text, sg_set)
        fit = "" if chosen or sg_file else _fit_note(analysis, sg_set)
    except (InputError, SGSetError) as err:
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
    what = f"Planning: **{sg_set.label}**{why}" if preset == DETECTOR and not sg_file else \
        f"SG set: **{sg_set.name}** ({len(sg_set.grams)} phrases{why})"
    note = "\n\n".join(n for n in (note, fit) if n)
    return html, f"{what}\n\n" + stats_markdown(analysis, warning=warning), note


def _named(name: str):
    """A preset by name, or the planning detector (on the reasoning preset)."""
    return default_detector() if name == DETECTOR else load_preset(name)


def _fit_note(analysis, sg_set) -> str:
    """When the set that fits the text's style marks far more planning tokens than the chosen one."""
    suggested = suggest(analysis.text)[0]
    if sg_set.name == suggested:
        return ""
    other = analyse_text(analysis.text, _named(suggested))
    return mismatch_note(sg_set.name, analysis.planning_ratio, suggested, other.planning_ratio)


def resolve_sg(name: str, task: str = "multiply", text: str = ""):
    """An SG set by name: 'ground-truth' (the task's), a preset, a file path, the planning detector, or
    'auto' (follows ``text``)."""
    from training.tasks import get_task, resolve_sg_set

    if name == AUTO:
        name = suggest(text)[0]
    if name == DETECTOR:  # the planning detector on the reasoning preset
        return default_detector()
    return resolve_sg_set(name, get_task(task))
