"""A real browser (Debian's chromium driven by Playwright) on the running app.

Skipped where chromium or playwright is missing, except under CI (CI=true),
where .ci/run installs both and a skip would hide a broken page.
Screenshots of every tab go to ``test-artifacts/`` (or $ARTIFACTS_DIR); the
docs' come from here: ``bash tests/screenshots.sh`` reruns these tests with
ARTIFACTS_DIR=docs/screenshots.

Every wait is on the page's state, with generous limits: the tests must
pass on a loaded 2-core machine, where a step can take ten times longer.
"""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR", Path(__file__).resolve().parent.parent / "test-artifacts"))
LONG = 900_000  # ms: the longest any single wait may take on a busy machine
RUN_LIMIT = 2400  # s: the tiny A/B run takes about a minute on an idle 2-core machine, 25 on a very busy one


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
def browser():
    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update"])
        yield b
        b.close()


def open_page(browser, url, width=1280, height=900):
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(120_000)
    page.goto(url, wait_until="load", timeout=180_000)
    page.get_by_role("tab", name="Guide").wait_for(timeout=180_000)
    return page


@pytest.fixture(scope="module")
def page(browser, app_url):
    page = open_page(browser, app_url)
    yield page
    page.close()


def shot(page, name):
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def text_of(page, selector) -> str:
    return page.evaluate(f"() => document.querySelector({selector!r})?.innerText || ''")


def legend(page, elem_id) -> list[str]:
    """The legend entries of one chart panel."""
    return page.evaluate(f"() => Array.from(document.querySelectorAll('#{elem_id} .legendtext'))"
                         ".map(e => e.textContent)")


def wait_legend(page, elem_id, *starts, timeout=LONG) -> list[str]:
    """Wait until a chart panel's legend has an entry starting with each of ``starts``; returns the legend."""
    page.wait_for_function(
        "([id, starts]) => { const names = Array.from(document.querySelectorAll(`#${id} .legendtext`))"
        ".map(e => e.textContent); return starts.every(s => names.some(n => n.startsWith(s))); }",
        arg=[elem_id, list(starts)], timeout=timeout)
    return legend(page, elem_id)


def wait_text(page, selector, needle, timeout=LONG):
    page.wait_for_function("([s, n]) => (document.querySelector(s)?.innerText || '').includes(n)",
                           arg=[selector, needle], timeout=timeout)


def test_start_here_shows_a_trace_the_credit_difference_and_the_finding_without_a_click(browser, app_url):
    """Issue 29: the landing tab shows a highlighted trace, GRPO's and HICRA's per-token credit side by side
    and the committed study's finding, on a desktop and on a phone, before any click."""
    for name, width, height in (("start", 1280, 900), ("start-phone", 390, 844)):
        page = open_page(browser, app_url, width, height)
        page.wait_for_selector("#start-trace .tok.planning", timeout=LONG)
        for rule in ("grpo", "hicra"):  # a right and a wrong answer, under GRPO and HICRA, token by token
            for answer in ("right", "wrong"):
                assert page.locator(f"#start-{rule}-{answer} span[title^=advantage]").count() > 10
        page.wait_for_function("() => document.querySelectorAll('#start-credit .js-plotly-plot').length === 1",
                               timeout=LONG)
        assert "HICRA · planning tokens" in " ".join(legend(page, "start-credit"))
        verdict = page.locator("#start-verdict").inner_text()
        assert "What the lab found" in verdict and "seeds" in verdict and "[" in verdict
        if width < 500:  # nothing wider than the phone
            assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1
        shot(page, name)
        page.close()


def test_generate_with_the_bundled_model(page):
    page.get_by_role("tab", name="Inspect").click()
    page.get_by_role("button", name="Generate", exact=True).click()
    page.wait_for_selector("#inspect-tokens .tok.both, #inspect-tokens .tok.high", timeout=LONG)
    stats = page.locator("#inspect-stats").inner_text()
    assert "planning tokens that are high-entropy" in stats
    assert "execution token" in page.locator("#inspect-tokens .hl-legend").inner_text()
    shot(page, "inspect-generate")


def test_paste_text_and_see_planning_tokens(page):
    page.get_by_role("tab", name="Inspect").click()  # the page opens on Start here
    page.get_by_role("tab", name="Paste text").click()
    box = page.get_by_label("Reasoning text")
    box.fill("Hmm, 17 * 6. Let's break this down: 10 * 6 = 60 and 7 * 6 = 42.\n"
             "Wait, let's double-check: 60 + 42 = 102. So the answer is 102.")
    page.get_by_role("button", name="Highlight planning tokens").click()
    wait_text(page, "#inspect-stats", "Strategic Gram occurrences")
    marked = " ".join(page.locator("#inspect-tokens .tok.planning").all_inner_texts())
    for word in ("break", "Wait", "double", "answer"):
        assert word in marked
    assert "102" not in marked
    assert "planning-token ratio" in page.locator("#inspect-stats").inner_text()
    # the model box is above the sub-tabs, so "Score with the model" uses a box the user can see
    assert page.get_by_label("model ('tiny' = bundled; or a hub name)").is_visible()
    shot(page, "inspect")


R1_STYLE = ("<think>\nAlright, so I need to find the sum of the first 20 odd numbers. Hmm, let me think. "
            "Let's denote the sum by S. So, if the pattern holds, 1 + 3 = 4 and 1 + 3 + 5 = 9.\n"
            "Wait, but I need to be careful here. Alternatively, I could pair the terms: 1 + 39 = 40, and there "
            "are 10 pairs, so S = 400.\nBut wait, let me check that with the formula n^2 = 20^2 = 400.\n</think>\n"
            "The sum is 400.")


def test_paste_r1_style_reasoning_with_the_reasoning_preset(page):
    """Issue 13: the 'reasoning' preset marks the phrases that open a step and switch or check a plan in a
    reasoning model's trace, and leaves the arithmetic alone; no coverage warning."""
    page.get_by_role("tab", name="Inspect").click()  # the page opens on Start here
    page.get_by_role("tab", name="Paste text").click()
    page.get_by_label("Strategic Gram set").click()
    page.get_by_role("option", name="reasoning", exact=True).click()
    page.get_by_label("Reasoning text").fill(R1_STYLE)
    page.get_by_role("button", name="Highlight planning tokens").click()
    wait_text(page, "#inspect-stats", "SG set: reasoning")
    marked = "".join(page.locator("#inspect-tokens .tok.planning").all_inner_texts())  # tokens split words
    for word in ("Alright", "Hmm", "denote", "Wait", "Alternatively", "check"):
        assert word in marked, (word, marked)
    assert not any(n in marked for n in ("400", "39", "20^2")), marked
    assert "HICRA behaves like GRPO" not in text_of(page, "#inspect-stats")
    shot(page, "inspect-reasoning")


def test_bad_input_shows_a_message_in_the_page(page):
    page.get_by_label("Reasoning text").fill("   ")
    page.get_by_role("button", name="Highlight planning tokens").click()
    wait_text(page, "#inspect-message", "empty")


def test_shipped_study_opens_with_no_training(browser, app_url):
    """Compare opens on the shipped A/B study; the Guide opens it in Train; the Guide reads on a phone."""
    page = open_page(browser, app_url)
    page.get_by_role("tab", name="Compare").click()
    wait_text(page, "#compare-table", "HICRA - GRPO", timeout=120_000)  # drawn when the app started
    wait_legend(page, "compare-heldout", "GRPO", "HICRA")  # drawn by the browser once the tab shows
    assert len(wait_legend(page, "compare-errors", "GRPO · strategy", "HICRA · execution")) == 4
    shot(page, "compare")
    page.get_by_role("tab", name="Guide").click()
    page.wait_for_function("() => document.querySelectorAll('#guide-plot .js-plotly-plot').length === 6",
                           timeout=LONG)
    shot(page, "guide")
    page.locator("#guide-open-train").click()
    wait_text(page, "#train-status", "shipped record, read-only")
    page.wait_for_function("() => document.querySelectorAll('#train-samples .sample-row').length > 0",
                           timeout=LONG)
    wait_legend(page, "train-entropy", "GRPO", "HICRA")
    shot(page, "train")
    page.close()
    phone = open_page(browser, app_url, width=390, height=844)
    phone.get_by_role("tab", name="Guide").click()
    phone.wait_for_function("() => document.querySelectorAll('#guide-plot .js-plotly-plot').length === 6",
                            timeout=LONG)
    widths = phone.evaluate("() => Array.from(document.querySelectorAll('#guide-plot .js-plotly-plot'))"
                            ".map(e => e.getBoundingClientRect().width)")
    assert all(300 <= w <= 390 for w in widths), widths  # one chart per row, each as wide as the phone
    shot(phone, "guide-phone")
    phone.close()


def test_a_live_ab_run_shows_both_arms_while_it_runs(page):
    """Launch a tiny A/B; while it runs, both arms appear in the entropy and semantic-entropy panels and
    "step x of N" advances; it ends with an evaluation at its last step (8, not a multiple of 5)."""
    steps = 8
    page.get_by_role("tab", name="Train").click()
    page.get_by_label("preset", exact=True).click()
    page.get_by_role("option", name="tiny-smoke").click()  # 2 prompts x 4 responses, evaluation every 5 steps
    box = page.get_by_label("steps", exact=True)
    page.wait_for_function("el => el.value === '10'", arg=box.element_handle(), timeout=LONG)  # the preset's
    box.fill(str(steps))
    page.get_by_label("run name (optional)").fill("browser-ab")
    page.get_by_role("button", name="Launch").click()
    wait_text(page, "#train-message", "browser-ab")
    wait_text(page, "#train-status", "browser-ab")  # the page switched from the demo to the new run
    seen_steps, both_arms, last = set(), set(), ""
    deadline = time.time() + RUN_LIMIT
    while time.time() < deadline:
        # the status changes at every refresh (the elapsed time moves); wait for the next one
        page.wait_for_function("prev => (document.querySelector('#train-status')?.innerText || '') !== prev",
                               arg=last, timeout=max(1000, (deadline - time.time()) * 1000))
        last = text_of(page, "#train-status")
        assert "browser-ab" in last, last
        if "running" in last:
            m = re.search(rf"step (\d+) of {steps}", last)
            if m:
                seen_steps.add(int(m[1]))
            for panel in ("train-entropy", "train-semantic"):
                names = legend(page, panel)
                if any(n.startswith("GRPO") for n in names) and any(n.startswith("HICRA") for n in names):
                    both_arms.add(panel)
            if len(seen_steps) == 2:
                shot(page, "train-live")
        if "finished" in last or "failed" in last:
            break
    assert "finished" in last, last
    assert len(seen_steps) >= 2, f"step x of {steps} never advanced while running: {seen_steps}"
    assert both_arms == {"train-entropy", "train-semantic"}, both_arms
    wait_text(page, "#train-status", f"at step {steps}")  # the last step's evaluation, in the status line
    held_out = page.evaluate("() => document.querySelector('#train-accuracy .js-plotly-plot').data"
                             ".filter(t => t.name.endsWith('held-out')).map(t => t.x[t.x.length - 1])")
    assert held_out == [steps, steps], held_out
    assert f"step {steps} of {steps}" in page.locator("#train-progress").inner_text()


def test_runs_tab_progress_and_delete_asks_first(page):
    page.get_by_role("tab", name="Runs").click()
    wait_text(page, "#runs-table", "step 8 of 8")
    shot(page, "runs")
    page.locator("#runs-run input").fill("browser-ab")
    page.locator("#runs-run input").press("Enter")
    page.get_by_role("button", name="Delete", exact=True).click()
    wait_text(page, "#runs-message", "cannot be undone")
    page.locator("#runs-cancel-delete").click()
    wait_text(page, "#runs-message", "Nothing deleted")
    assert "browser-ab" in page.locator("#runs-table").inner_text()


def test_mine_the_shipped_sample_corpus(page):
    page.get_by_role("tab", name="Mine").click()
    page.locator("#mine-sample").click()
    page.wait_for_function("() => (document.querySelector('#mine-source input')?.value || '').startsWith('demo')",
                           timeout=LONG)
    page.get_by_role("button", name="Mine", exact=True).click()
    wait_text(page, "#mine-message", "Strategic Grams")
    # the clusters are in the table (Gradio 6 draws its rows as a virtual list, not as <tr> elements)
    wait_text(page, "#mine-table", "yes")  # a kept cluster
    shot(page, "mine")


def test_paste_a_genuine_held_out_trace_with_the_planning_detector(page):
    """Issue 24: Inspect highlights with the planning detector on a trace a real model wrote, from the blind
    held-out-4 set; the stats name the detector and its version, and annotated planning phrases are marked."""
    from training.hierarchy.planning_eval import EVAL_DIR, load_traces

    trace = load_traces(EVAL_DIR / "genuine" / "held-out-4.txt")[0]
    page.get_by_role("tab", name="Inspect").click()  # the page opens on Start here
    page.get_by_role("tab", name="Paste text").click()
    page.get_by_label("Strategic Gram set").click()
    page.get_by_role("option", name="planning-detector", exact=True).click()
    page.get_by_label("Reasoning text").fill(trace.text)
    page.get_by_role("button", name="Highlight planning tokens").click()
    wait_text(page, "#inspect-stats", "planning-detector 1.1 on SG set reasoning")
    marked = "".join(page.locator("#inspect-tokens .tok.planning").all_inner_texts())
    found = [trace.text[s:e] for s, e, *_ in trace.spans if trace.text[s:e].split()[0] in marked]
    assert len(found) >= len(trace.spans) // 2, (found, marked)
    shot(page, "inspect-genuine")
