"""A real browser (Debian's chromium driven by Playwright) on the running app.

Skipped where chromium or playwright is missing, except under CI (CI=true),
where .ci/run installs both and a skip would hide a broken page.
Screenshots of every tab go to ``test-artifacts/`` (or $ARTIFACTS_DIR).
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", Path(__file__).resolve().parent.parent / "test-artifacts"))


def _browser_or_skip():
    missing = []
    try:
        from playwright.sync_api import sync_playwright  # noqa: F401
    except ImportError:
        missing.append("the playwright package")
    if not Path(CHROMIUM).exists():
        missing.append("chromium (apt-get install chromium)")
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail("browser test needs " + " and ".join(missing))
        pytest.skip("needs " + " and ".join(missing))


@pytest.fixture(scope="module")
def page(app_url):
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app_url, wait_until="networkidle")
        yield page
        browser.close()


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_generate_with_the_bundled_model(page):
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_selector("#inspect-tokens .tok.both, #inspect-tokens .tok.high", timeout=60_000)
    stats = page.locator("#inspect-stats").inner_text()
    assert "planning tokens that are high-entropy" in stats
    shot(page, "inspect-generate")


def test_paste_text_and_see_planning_tokens(page):
    page.get_by_role("tab", name="Paste text").click()
    box = page.get_by_label("Reasoning text")
    box.fill("Hmm, 17 * 6. Let's break this down: 10 * 6 = 60 and 7 * 6 = 42.\n"
             "Wait, let's double-check: 60 + 42 = 102. So the answer is 102.")
    page.get_by_role("button", name="Highlight planning tokens").click()
    page.wait_for_function("document.querySelector('#inspect-stats').innerText.includes('Strategic Gram occurrences')",
                           timeout=30_000)
    marked = " ".join(page.locator("#inspect-tokens .tok.planning").all_inner_texts())
    for word in ("break", "Wait", "double", "answer"):
        assert word in marked
    assert "102" not in marked
    assert "planning-token ratio" in page.locator("#inspect-stats").inner_text()
    shot(page, "inspect")


def test_bad_input_shows_a_message_in_the_page(page):
    page.get_by_label("Reasoning text").fill("   ")
    page.get_by_role("button", name="Highlight planning tokens").click()
    page.wait_for_function(
        "document.querySelector('#inspect-message') && "
        "document.querySelector('#inspect-message').innerText.includes('empty')", timeout=30_000)


def test_launch_a_run_and_watch_the_chart_update(page):
    page.get_by_role("tab", name="Train").click()
    # tiny-smoke: tiny-cpu's evaluation of 200 problems x 4 samples per arm is most of a 2-step run's time
    page.get_by_label("preset").click()
    page.get_by_role("option", name="tiny-smoke").click()
    page.get_by_label("steps").fill("2")
    page.get_by_label("run name (optional)").fill("browser-ab")
    page.get_by_role("button", name="Launch").click()
    page.wait_for_function("document.querySelector('#train-message').innerText.includes('browser-ab')",
                           timeout=30_000)
    # the timer refreshes the status and the chart while the run goes; the limits are far above what the
    # run needs (a minute or two), since the shared test machine can be slow for minutes
    page.wait_for_selector("#train-plot .js-plotly-plot", timeout=600_000)
    page.wait_for_function("/step [1-9]|failed/.test(document.querySelector('#train-status').innerText)",
                           timeout=900_000)
    page.wait_for_function("/finished|failed/.test(document.querySelector('#train-status').innerText)",
                           timeout=900_000)
    assert "finished" in page.locator("#train-status").inner_text()
    page.wait_for_timeout(4000)  # one more refresh: final evaluation and samples
    assert "held-out accuracy" in page.locator("#train-status").inner_text()
    shot(page, "train")


def test_every_tab_renders(page):
    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("runs or sweeps").click()
    page.get_by_role("option", name="browser-ab").click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Compare").click()
    page.wait_for_function("document.querySelector('#compare-table').innerText.includes('HICRA - GRPO')",
                           timeout=60_000)
    shot(page, "compare")
    for tab in ("Runs", "Guide"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_timeout(6000 if tab == "Runs" else 1000)
        shot(page, tab.lower())
    assert "browser-ab" in page.locator("#runs-table").inner_text()


def test_mine_an_uploaded_corpus(page, tmp_path):
    import json
    import random

    from training.tasks import multiply

    rng = random.Random(0)
    problems = multiply.problems("train")
    corpus = tmp_path / "solutions.jsonl"
    with open(corpus, "w") as f:
        for _ in range(400):
            trace = multiply.write_trace(rng.choice(problems), rng)
            f.write(json.dumps({"text": trace.text, "correct": trace.correct}) + "\n")
    page.get_by_role("tab", name="Mine").click()
    page.locator("#mine-upload input[type=file]").set_input_files(str(corpus))
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Mine", exact=True).click()
    page.wait_for_function("document.querySelector('#mine-message').innerText.includes('Strategic Grams')",
                           timeout=120_000)
    page.wait_for_timeout(1000)
    shot(page, "mine")
