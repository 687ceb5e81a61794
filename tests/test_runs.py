import json
import logging

from training.runs import RunDir, append_jsonl, read_jsonl


def test_torn_last_line_is_skipped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "metrics.jsonl"
    append_jsonl(path, {"kind": "step", "step": 0, "x": 1.0})
    append_jsonl(path, {"kind": "step", "step": 1, "x": float("nan")})
    with open(path, "a") as f:
        f.write('{"kind": "step", "st')
    with caplog.at_level(logging.WARNING):
        records = read_jsonl(path)
    assert [r["step"] for r in records] == [0, 1]
    assert records[1]["x"] is None  # NaN is written as null, the file stays strict JSON
    assert "line 3 is not complete JSON" in caplog.text


def test_status_and_truncation(tmp_path):
    run = RunDir(tmp_path / "r").create()
    run.set_status("running", step=3, pid=1)
    run.set_status("finished", step=4)
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    assert status["state"] == "finished" and status["step"] == 4 and status["pid"] == 1
    for step in range(4):
        run.log({"kind": "step", "step": step})
    run.log({"kind": "eval", "step": 2})
    run.log({"kind": "eval", "step": 4})
    run.truncate_to(2)
    kept = [(r["kind"], r["step"]) for r in read_jsonl(run.metrics)]
    assert kept == [("step", 0), ("step", 1), ("eval", 2)]
    assert read_jsonl(tmp_path / "missing.jsonl") == []


def test_report_to_unknown_or_missing_trackers_is_a_clear_error(tmp_path):
    import importlib.util

    import pytest

    from training.report import Reporter

    with pytest.raises(ValueError, match="use one of tensorboard, trackio"):
        Reporter("wandb", tmp_path, "r", {})
    if importlib.util.find_spec("tensorboard") is None:
        with pytest.raises(ValueError, match="pip install tensorboard"):
            Reporter("tensorboard", tmp_path, "r", {})
    reporter = Reporter("", tmp_path, "r", {})  # none: a no-op
    reporter.log({"step": 0, "loss/policy": 1.0})
    reporter.close()
