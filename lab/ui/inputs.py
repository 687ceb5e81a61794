"""Typed errors for the values Gradio checks before our handlers run.

An API caller can send anything for any input: a string to a slider, NaN,
``None`` to a checkbox, a server path as a file. Gradio checks some of these
itself, inside its own preprocessing, and fails with an exception of its own:
the client then gets ``{"error": null}`` and the app's log a traceback, once
per request. NaN even passes a slider's range check (every comparison with
NaN is false).

:class:`LabBlocks` is ``gr.Blocks`` with one change: the inputs of every event
are checked by :func:`problem` first (a slider takes a finite number in its
range), and any failure in Gradio's own preprocessing becomes a ``gr.Error``
that names the input and what it takes, logged as one line, not a traceback.
The handlers still check every value themselves (they are called directly,
too); this layer only covers what never reaches them.
"""

from __future__ import annotations

import logging
import math

import gradio as gr

log = logging.getLogger(__name__)
MAX_CHOICES_SHOWN = 8


def _label(block, index: int) -> str:
    label = getattr(block, "label", None)
    return f"input {index + 1} ({label})" if label else f"input {index + 1}"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def expects(block) -> str:
    """What ``block`` takes, in words: ``"a number from 1 to 100"``."""
    if isinstance(block, gr.Slider):
        return f"a number from {block.minimum:g} to {block.maximum:g}"
    if isinstance(block, gr.Number):
        return "a number"
    if isinstance(block, gr.Checkbox):
        return "true or false"
    if isinstance(block, gr.Dropdown):
        choices = [c[1] if isinstance(c, (tuple, list)) else c for c in (block.choices or [])]
        shown = ", ".join(map(str, choices[:MAX_CHOICES_SHOWN])) + (", ..." if len(choices) > MAX_CHOICES_SHOWN
                                                                     else "")
        if block.multiselect:
            return "a list of names" + (f" ({shown})" if shown else "")
        return ("text" if block.allow_custom_value else "one of") + (f" ({shown})" if shown else "")
    if isinstance(block, gr.File):
        return ("a file uploaded to this app (gradio_client.handle_file(path)); a path on the server is not "
                "accepted")
    if isinstance(block, gr.Textbox):
        return "text"
    return f"a value for a {type(block).__name__}"


def problem(block, value, strict: bool = False) -> str | None:
    """Why ``value`` cannot go to ``block`` (``None``: nothing found). Only cheap, certain checks: the
    handler checks the rest. ``strict``: after Gradio failed on the inputs, a number box must hold a
    finite number (Gradio's own rounding fails on text, NaN and infinity)."""
    if isinstance(block, gr.Slider):
        if not _is_number(value) or not math.isfinite(value) or not block.minimum <= value <= block.maximum:
            return f"must be {expects(block)}, got {_short(value)}"
    elif isinstance(block, gr.Number):
        if value is not None and not _is_number(value) and not isinstance(value, str):
            return f"must be {expects(block)}, got {_short(value)}"
        if strict and value is not None and not (_is_number(value) and math.isfinite(value)):
            return f"must be a finite number, got {_short(value)}"
    elif isinstance(block, gr.Checkbox):
        if value is not None and not isinstance(value, bool):
            return f"must be {expects(block)}, got {_short(value)}"
    elif isinstance(block, gr.Dropdown):
        if block.multiselect:
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                return f"must be {expects(block)}, got {_short(value)}"
        elif isinstance(value, bool) or (value is not None and not isinstance(value, (str, int, float))):
            return f"must be {expects(block)}, got {_short(value)}"
    elif isinstance(block, gr.Textbox):
        if value is not None and not isinstance(value, str):
            return f"must be {expects(block)}, got {_short(value)}"
    elif isinstance(block, gr.File):
        if value is not None and not (isinstance(value, dict) and isinstance(value.get("path"), str)):
            return f"must be {expects(block)}, got {_short(value)}"
    return None


def _short(value) -> str:
    if isinstance(value, str):
        return repr(value[:40] + ("..." if len(value) > 40 else ""))
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    kinds = {type(None): "nothing (null)", bool: "true/false", list: "a list", dict: "an object"}
    return kinds.get(type(value)) or repr(value)[:40]


def _where(block_fn) -> str:
    name = getattr(block_fn, "api_name", None)
    return f"/{name}: " if isinstance(name, str) and name else ""


class LabBlocks(gr.Blocks):
    """``gr.Blocks`` whose events answer a bad input with a message, never ``{"error": null}`` and a
    traceback (see the module docstring)."""

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        where = _where(block_fn)
        blocks = list(getattr(block_fn, "inputs", []) or [])
        if not isinstance(inputs, list) or len(inputs) < len(blocks):
            got = len(inputs) if isinstance(inputs, list) else 0
            names = ", ".join(str(getattr(b, "label", None) or type(b).__name__) for b in blocks)
            raise _error(f"{where}expected {len(blocks)} inputs ({names}), got {got}")
        for i, block in enumerate(blocks):
            if getattr(block, "stateful", False):
                continue
            why = problem(block, inputs[i])
            if why is not None and isinstance(block, gr.Slider):  # NaN and out of range: Gradio lets some by
                raise _error(f"{where}{_label(block, i)} {why}")
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error as err:  # Gradio's own message (a dropdown choice): keep it, drop the traceback
            raise _error(f"{where}{err.message}") from None
        except Exception as err:  # noqa: BLE001 - name the input Gradio could not read
            for i, block in enumerate(blocks):
                why = None if getattr(block, "stateful", False) else problem(block, inputs[i], strict=True)
                if why is not None:
                    raise _error(f"{where}{_label(block, i)} {why}") from None
            raise _error(f"{where}one of the inputs could not be read ({type(err).__name__}); "
                         "see the API page for what each input takes") from None


MAX_MESSAGE_CHARS = 400  # Gradio's own messages repeat the value sent, which can be megabytes


def _error(message: str) -> gr.Error:
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[:MAX_MESSAGE_CHARS] + "..."
    log.warning("refused a request: %s", message)
    return gr.Error(message, print_exception=False)
