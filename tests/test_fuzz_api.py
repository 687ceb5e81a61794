"""Every endpoint a client can call, fed wrong types, None, NaN, huge strings and server paths: each call
ends in the handler's own message or a ``gr.Error`` naming the input, and nothing is logged as an error
(no traceback). Issue 28, item 11.

Two passes: in-process over every public endpoint of a private and a public lab (``Blocks.process_api``:
Gradio's own preprocessing, our ``LabBlocks`` checks and the handler, without HTTP), and one pass through a
running app's HTTP API (``app_url``), where Gradio's queue would answer ``{"error": null}`` and print a
traceback for any exception that is not a ``gr.Error``.
"""

import asyncio
import json
import logging
import math
import re
import urllib.request

import pytest

gr = pytest.importorskip("gradio")

DEEP = [[[[[[[[[[[[[[[[[[[[["deep"]]]]]]]]]]]]]]]]]]]]]
BAD = [None, float("nan"), float("inf"), 1e308, True, "x" * 100_000, [], {}, "/dev/zero", "../../../../etc/passwd",
       DEEP, {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}]


def neutral(block):
    """An input that makes the handler stop early (no training, no model load) unless a fuzzed value
    replaces it: empty text, no choice, the component's own number."""
    if isinstance(block, (gr.Slider, gr.Number)):
        return block.value
    if isinstance(block, gr.Checkbox):
        return False
    if isinstance(block, gr.Textbox):
        return ""
    return None


@pytest.fixture()
def lab_app(tmp_path, monkeypatch, request):
    """The app built over a fresh data folder, private or public (``request.param``)."""
    import lab.ui.context as ctx

    monkeypatch.setenv("HICRA_LAB_DATA", str(tmp_path))
    monkeypatch.setenv("HICRA_LAB_PUBLIC", "1" if request.param == "public" else "")
    ctx.settings.cache_clear()
    monkeypatch.setattr(ctx, "_manager", None)
    monkeypatch.setattr(ctx, "_policy", None)
    from lab.analysis import InputError
    from lab.ui import create_app, model_handlers

    def no_model(model, adapter):  # every check runs; only loading and sampling are left out (seconds each)
        raise InputError("(test) no model is loaded")

    monkeypatch.setattr(model_handlers, "_load", no_model)
    yield create_app()
    if ctx._manager is not None:
        ctx._manager.close()
    ctx.settings.cache_clear()


def endpoints(app, only_public_mode: bool = False):
    """Every endpoint a client can call that takes inputs; the same function on the same inputs (the
    Compare tab's button, slider and checkbox) once. ``only_public_mode``: those a public lab routes
    through its own functions (lab/ui/visitors.py and the Train tab's public wrappers); the others are
    the private lab's, fuzzed there."""
    out, seen = [], set()
    for f in app.fns.values():
        key = (f.fn, tuple(b._id for b in f.inputs))
        if not (f.api_name and f.api_visibility == "public" and f.inputs) or key in seen:
            continue
        if only_public_mode and not (f.fn.__module__ == "lab.ui.visitors" or "public" in f.fn.__name__):
            continue
        seen.add(key)
        out.append(f)
    return out


@pytest.mark.parametrize("lab_app", ["private", "public"], indirect=True)
def test_every_endpoint_answers_bad_input_with_a_message(lab_app, caplog, tmp_path):
    caplog.set_level(logging.WARNING)
    from lab.ui.context import settings

    public = settings().public
    named = {f.api_name for f in endpoints(lab_app, only_public_mode=public)}
    if public:
        assert {"launch", "stop", "resume", "refresh", "delete", "download_adapter", "use_sg_set"} <= named
    else:
        assert {"highlight", "generate", "score_text", "mine", "mine_from_model", "use_sg_set", "launch", "stop",
                "resume", "refresh", "export_train_csv", "compare", "export_compare_csv", "delete"} <= named

    async def fuzz():
        calls = refused = 0
        for fn in endpoints(lab_app, only_public_mode=public):
            base = [neutral(b) for b in fn.inputs]
            for i, block in enumerate(fn.inputs):
                if getattr(block, "stateful", False):
                    continue
                for value in BAD:
                    args = list(base)
                    args[i] = value
                    calls += 1
                    try:
                        await lab_app.process_api(fn, args, state=None)
                    except gr.Error as err:
                        refused += 1
                        assert err.message and "None" != err.message, (fn.api_name, i, value)
                        assert len(err.message) <= 500, (fn.api_name, i, err.message[:100])
                    # any other exception fails the test: Gradio's queue would answer {"error": null}
        return calls, refused

    calls, refused = asyncio.run(fuzz())
    assert calls > (60 if public else 300) and refused > (10 if public else 100), (calls, refused)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not errors, [(r.name, r.getMessage()[:200]) for r in errors[:5]]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("*/job.json"))


def raw_call(url: str, api_name: str, data: list) -> str:
    """One call through Gradio's HTTP API with Python's JSON (NaN allowed, as any client may send)."""
    body = json.dumps({"data": data}).encode()
    request = urllib.request.Request(f"{url}gradio_api/call/{api_name}", data=body,
                                     headers={"Content-Type": "application/json"})
    event = json.loads(urllib.request.urlopen(request, timeout=60).read())["event_id"]
    return urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event}", timeout=300).read().decode()


def test_the_running_app_never_answers_error_null(app_url, app_data):
    """Through HTTP: a message for every bad value of every parameter of every named endpoint, and no
    traceback in the app's log."""
    gradio_client = pytest.importorskip("gradio_client")
    log = app_data / "app.log"
    start = log.stat().st_size

    def runs():
        folder = app_data / "runs"
        return {p.name for p in folder.iterdir()} if folder.is_dir() else set()

    runs_before = runs()
    info = gradio_client.Client(app_url, verbose=False).view_api(return_format="dict", print_info=False)
    values = [None, float("nan"), DEEP, "/dev/zero"]  # the in-process pass above tries the rest
    seen = 0
    for name, endpoint in info["named_endpoints"].items():
        params = endpoint["parameters"]
        if not params or re.search(r"_\d+$", name):  # compare_1, on_change_1: the same function again
            continue
        # Numbers, sliders and checkboxes at their defaults, everything else empty: no call can start a run
        # or sample a corpus (a launch needs an algorithm; sampling needs a task)
        base = [p.get("parameter_default") if p.get("component") in ("Slider", "Number", "Checkbox") else None
                for p in params]
        for i in range(len(params)):
            for value in values:
                args = list(base)
                args[i] = value
                stream = raw_call(app_url, name.lstrip("/"), args)
                seen += 1
                assert "event: complete" in stream or "event: error" in stream, (name, i, stream[:300])
                assert '"error": null' not in stream, (name, i, repr(value)[:40], stream[:300])
    assert seen > 60
    with open(log, encoding="utf-8", errors="replace") as f:
        f.seek(start)
        new = f.read()
    assert "Traceback" not in new, new[-3000:]
    assert runs() == runs_before, "the fuzz pass queued a run"


def test_nan_never_passes_a_slider():
    """Every comparison with NaN is false, so Gradio's own range check lets it by; ours does not."""
    from lab.ui.inputs import problem

    slider = gr.Slider(1, 100, value=10)
    assert "must be a number from 1 to 100, got nan" in problem(slider, math.nan)
    assert problem(slider, 10) is None
    assert "got inf" in problem(slider, math.inf)
    assert "got nothing (null)" in problem(slider, None)
