"""A real browser on the running app: Inspect highlights a genuine held-out trace with the planning detector.

Reuses tests/test_browser.py's fixtures (chromium via Playwright; skipped where either is missing, except
under CI). The trace is the first of the genuine set's held-out half (assets/planning-eval/genuine/), a
text a real reasoning model wrote, never seen while the detector was tuned.
"""

import pytest

from tests.test_browser import LONG, browser, page, shot, text_of, wait_text  # noqa: F401 - fixtures
from training.hierarchy.detector import NAME, VERSION, default_detector
from training.hierarchy.planning_eval import EVAL_DIR, load_traces

HELD_OUT = EVAL_DIR / "genuine" / "held-out.txt"


def test_inspect_highlights_a_genuine_held_out_trace_with_the_detector(page):  # noqa: F811 - the fixture
    if not HELD_OUT.exists():
        pytest.skip(f"the genuine set's held-out half is not here ({HELD_OUT})")
    trace = load_traces(HELD_OUT)[0]
    text = trace.text[:3000]  # the opening: the box holds it all, the page stays quick
    expected = [text[s:e] for s, e in default_detector().spans(text)]
    assert expected, "the detector marks something in the opening of the trace"
    page.get_by_role("tab", name="Paste text").click()
    page.get_by_label("Strategic Gram set").click()
    page.get_by_role("option", name=NAME, exact=True).click()
    page.get_by_label("Reasoning text").fill(text)
    page.get_by_role("button", name="Highlight planning tokens").click()
    wait_text(page, "#inspect-stats", f"Planning: {NAME} {VERSION}", timeout=LONG)
    marked = "".join(page.locator("#inspect-tokens .tok.planning").all_inner_texts())
    first = expected[0].split()[0]
    assert first in marked, (first, marked[:200])
    assert f"{NAME} {VERSION} on SG set reasoning" in text_of(page, "#inspect-stats")
    shot(page, "inspect-detector-genuine")
