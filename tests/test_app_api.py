"""The running app's named endpoints, called with gradio_client."""

import json
import time
import urllib.request

import pytest

from lab.charts import COMPARE_PANELS, TRAIN_PANELS

gradio_client = pytest.importorskip("gradio_client")
# A 2-step run takes seconds to a minute; the shared test machine can be much slower: wait on the run's
# state with a limit far above what it needs.
WAIT_S = 900


@pytest.fixture(scope="module")
def client(app_url):
    return gradio_client.Client(app_url, verbose=False)


def test_highlight_endpoint(client):
    html, stats, message = client.predict(
        "Let's double-check: 3 * 4 = 12. So the answer is 12.", "math-compact", None, api_name="/highlight")
    assert 'class="tok planning"' in html
    assert "planning-token ratio" in stats
    assert message == ""


def test_highlight_endpoint_bad_input_is_a_message(client, tmp_path):
    _, _, message = client.predict("", "math-compact", None, api_name="/highlight")
    assert "empty" in message
    _, _, message = client.predict("a" * 200_000, "math-compact", None, api_name="/highlight")
    assert "200,000 characters" in message
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    _, _, message = client.predict("note that", "math-compact", gradio_client.handle_file(str(bad)),
                                   api_name="/highlight")
    assert "bad.json: not valid JSON" in message


def test_train_refresh_and_compare_endpoints(client):
    message, run = client.predict("api-ab", "tiny-smoke", "GRPO vs HICRA (fair A/B)", 0.2, 2, "0", 8,
                                  "ground-truth", "tiny", api_name="/launch")
    assert run["value"] == "api-ab", message
    deadline = time.time() + WAIT_S
    while True:
        status, progress, *plots, samples = client.predict("api-ab", 10, False, api_name="/refresh")
        if "finished" in status or "failed" in status or time.time() > deadline:
            break
        time.sleep(2)
    assert "finished" in status and "step 2 of 2" in status, status
    assert len(plots) == len(TRAIN_PANELS) and all(p is not None for p in plots) and "step 2 of 2" in progress
    *figures, table, note = client.predict(["api-ab"], 0.6, 10, False, api_name="/compare")
    assert "HICRA - GRPO" in table and len(figures) == len(COMPARE_PANELS)


def test_shipped_study_and_example_need_no_training(client):
    from lab.shipped import default_study

    status, progress, *plots, samples = client.predict(default_study(), 10, False, api_name="/refresh")
    assert "shipped record, read-only" in status and "Held-out samples" in samples
    *figures, table, note = client.predict([default_study()], 0.6, 10, False, api_name="/compare")
    assert "HICRA - GRPO" in table
    files, message = client.predict(default_study(), 10, api_name="/export_train_csv")
    assert len(files["value"]) == len(TRAIN_PANELS) and "CSV" in message


def test_bad_launch_is_a_message(client):
    message, run = client.predict("../../etc", "tiny-smoke", "HICRA", 0.2, 2, "0", 8, "ground-truth", "tiny",
                                  api_name="/launch")
    assert run["value"] is None and "not allowed" in message
    message, run = client.predict("x", "tiny-smoke", "HICRA", 0.2, 2, "zero", 8, "ground-truth", "tiny",
                                  api_name="/launch")
    assert "seeds must be whole numbers" in message


def raw_call(url: str, api_name: str, data: list) -> str:
    """One call through Gradio's HTTP API with Python's JSON (NaN and Infinity allowed, as any client may
    send; gradio_client refuses to), returning the server's event stream as text."""
    body = json.dumps({"data": data}).encode()
    request = urllib.request.Request(f"{url}gradio_api/call/{api_name}", data=body,
                                     headers={"Content-Type": "application/json"})
    event = json.loads(urllib.request.urlopen(request, timeout=60).read())["event_id"]
    return urllib.request.urlopen(f"{url}gradio_api/call/{api_name}/{event}", timeout=120).read().decode()


def test_absurd_launches_are_messages_with_no_traceback_in_the_log(client, app_url, app_data):
    log = app_data / "app.log"
    start = log.stat().st_size
    good = ["api-bad", "tiny-smoke", "HICRA", 0.2, 2, "0", 8, "ground-truth", "tiny"]  # launch's inputs
    for index, value, expected in [(0, "..", "is not allowed"), (0, "x" * 300, "is not allowed"),
                                   (1, "nope", "unknown preset 'nope'"), (2, "PPO", "pick an algorithm"),
                                   (3, -1, "alpha must be a number from 0 to 10"),
                                   (3, 11, "alpha must be a number from 0 to 10"),
                                   (4, 0, "steps must be a whole number from 1"),
                                   (4, 1e9, "steps must be a whole number from 1 to 1,000,000")]:
        args = list(good)
        args[index] = value
        message, run = client.predict(*args, api_name="/launch")
        assert expected in message and run["value"] is None, (value, message)
    for index, value, expected in [(3, float("nan"), "alpha must be a finite number"),
                                   (4, float("inf"), "steps must be a finite number"),
                                   (6, "abc", "LoRA rank must be a number")]:
        args = list(good)
        args[index] = value
        stream = raw_call(app_url, "launch", args)
        assert "event: complete" in stream and expected in stream, stream
    assert not (app_data / "runs" / "api-bad").exists()
    with open(log, encoding="utf-8", errors="replace") as f:
        f.seek(start)
        new = f.read()
    assert "Traceback" not in new and "Error" not in new, new


def test_a_queued_run_starts_when_the_previous_one_ends_with_no_page_open(client, app_data):
    """Two launches, then only status.json is read: no endpoint is called that could start the second run
    (nor the first, if another test's run still held the slot)."""
    runs = app_data / "runs"
    first, _ = client.predict("queue-1", "tiny-smoke", "HICRA", 0.2, 2, "0", 8, "ground-truth", "tiny",
                              api_name="/launch")
    second, _ = client.predict("queue-2", "tiny-smoke", "HICRA", 0.2, 2, "0", 8, "ground-truth", "tiny",
                               api_name="/launch")
    assert "queue-1**" in first and "queue-2** queued" in second, (first, second)

    def state(name):
        try:
            return json.loads((runs / name / "status.json").read_text())
        except (OSError, ValueError):  # being replaced this instant
            return {"state": "?"}

    deadline = time.time() + 3 * WAIT_S  # two runs one after the other, perhaps after another test's
    while state("queue-2")["state"] not in ("finished", "failed") and time.time() < deadline:
        time.sleep(1)
    one, two = state("queue-1"), state("queue-2")
    assert one["state"] == "finished" and two["state"] == "finished", (runs / "queue-2" / "log.txt").read_text()
    assert two["started"] >= one["ended"]
