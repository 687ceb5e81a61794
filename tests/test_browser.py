"""A real browser (Debian's chromium driven by Playwright) on the running app.

Skipped where chromium or playwright is missing, except under CI (CI=true),
where .ci/run installs both and a skip would hide a broken page.
Screenshots go to ``test-artifacts/`` (or $ARTIFACTS_DIR).
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

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app_url, wait_until="networkidle")
        yield page
        browser.close()


def test_paste_text_and_see_planning_tokens(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    box = page.get_by_label("Reasoning text")
    box.fill("Hmm, 17 * 6. Let's break this down: 10 * 6 = 60 and 7 * 6 = 42.\n"
             "Wait, let's double-check: 60 + 42 = 102. So the answer is 102.")
    page.get_by_role("button", name="Highlight planning tokens").click()
    page.wait_for_selector("#inspect-tokens .tok.planning", timeout=30_000)
    marked = " ".join(page.locator("#inspect-tokens .tok.planning").all_inner_texts())
    for word in ("break", "Wait", "double", "answer"):
        assert word in marked
    assert "102" not in marked
    assert "planning-token ratio" in page.locator("#inspect-stats").inner_text()
    page.screenshot(path=str(ARTIFACTS / "inspect.png"), full_page=True)


def test_bad_input_shows_a_message_in_the_page(page):
    page.get_by_label("Reasoning text").fill("   ")
    page.get_by_role("button", name="Highlight planning tokens").click()
    page.wait_for_function(
        "document.querySelector('#inspect-message') && "
        "document.querySelector('#inspect-message').innerText.includes('empty')", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "inspect-empty.png"), full_page=True)
