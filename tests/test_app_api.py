"""The running app's named endpoints, called with gradio_client."""

import pytest

gradio_client = pytest.importorskip("gradio_client")


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
    import time

    message, run = client.predict("api-ab", "tiny-smoke", "GRPO vs HICRA (fair A/B)", 0.2, 2, "0", 8,
                                  "ground-truth", "tiny", api_name="/launch")
    assert run["value"] == "api-ab", message
    deadline = time.time() + 600  # generous: a loaded 2-core machine; the run itself takes seconds when idle
    while True:
        status, progress, *plots, samples = client.predict("api-ab", 10, False, api_name="/refresh")
        if "finished" in status or "failed" in status or time.time() > deadline:
            break
        time.sleep(2)
    assert "finished" in status and "step 2 of 2" in status, status
    assert len(plots) == 6 and all(p is not None for p in plots) and "step 2 of 2" in progress
    *figures, table, note = client.predict(["api-ab"], 0.6, 10, False, api_name="/compare")
    assert "HICRA - GRPO" in table and len(figures) == 3


def test_shipped_study_and_example_need_no_training(client):
    from lab.shipped import default_study

    status, progress, *plots, samples = client.predict(default_study(), 10, False, api_name="/refresh")
    assert "shipped record, read-only" in status and "Held-out samples" in samples
    *figures, table, note = client.predict([default_study()], 0.6, 10, False, api_name="/compare")
    assert "HICRA - GRPO" in table
    files, message = client.predict(default_study(), 10, api_name="/export_train_csv")
    assert len(files["value"]) == 6 and "CSV" in message


def test_bad_launch_is_a_message(client):
    message, run = client.predict("../../etc", "tiny-smoke", "HICRA", 0.2, 2, "0", 8, "ground-truth", "tiny",
                                  api_name="/launch")
    assert run["value"] is None and "not allowed" in message
    message, run = client.predict("x", "tiny-smoke", "HICRA", 0.2, 2, "zero", 8, "ground-truth", "tiny",
                                  api_name="/launch")
    assert "seeds must be whole numbers" in message
