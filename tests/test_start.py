"""The "Start here" page's content: computed from the repository's files, and honest about them."""

import json

import numpy as np
import pytest

from lab import start


def test_the_trace_is_highlighted_and_its_phrases_named_by_function():
    body, found = start.highlighted_trace()
    assert 'class="tok planning"' in body
    assert ("Hmm, wait", "backtracking") in found and ("Let me verify", "verification") in found


def test_hicra_credit_differs_from_grpo_only_on_planning_tokens():
    prompt, answers = start.credit_example()
    assert prompt.startswith("Q:") and len(answers) == 6
    assert {a.correct for a in answers} == {True, False}
    for a in answers:
        assert a.planning.any() and (~a.planning).any()
        np.testing.assert_array_equal(a.hicra[~a.planning], a.grpo[~a.planning])  # execution: the same
        factor = 1 + start.ALPHA if a.correct else 1 - start.ALPHA  # plan: more credit, less blame
        np.testing.assert_allclose(a.hicra[a.planning], factor * a.grpo[a.planning], rtol=1e-6)
    # 2 right of 6: GRPO's advantages are 1 - 1/3 and 0 - 1/3
    assert answers[0].grpo[0] == pytest.approx(2 / 3 if answers[0].correct else -1 / 3, rel=1e-6)
    fig = start.credit_figure(answers).to_dict()
    assert [t["name"] for t in fig["data"]] == ["GRPO · planning tokens", "GRPO · execution tokens",
                                                "HICRA · planning tokens", "HICRA · execution tokens"]


def test_the_verdict_follows_the_numbers(tmp_path):
    def results(low, high, p_holm):
        path = tmp_path / "results.json"
        path.write_text(json.dumps({"config": {"steps": 100}, "results": {
            "counts": {"multiply-planning": {"grpo": 10, "hicra": 10}},
            "regimes": {"multiply-planning": {"comparisons": {"hicra-grpo": {"final_accuracy": {
                "difference": {"mean": (low + high) / 2, "low": low, "high": high, "n": 10},
                "mde": 1.2, "p_holm": p_holm}}}}}}}))
        return path

    null = start.verdict(results(-0.7, 1.05, 1.0))
    assert "no difference detected: +0.18 points [-0.70, +1.05], 10 seeds" in null
    assert "20 runs" in null and "step 100" in null and "HICRA above" not in null
    found = start.verdict(results(0.5, 2.5, 0.01))
    assert "HICRA above GRPO: +1.50 points [+0.50, +2.50]" in found and "no difference" not in found
    assert "no difference detected" in start.verdict(results(0.5, 2.5, 0.2))  # fails Holm: not counted
    assert "No study results" in start.verdict(tmp_path / "missing.json")


def test_the_committed_study_gives_a_verdict():
    text = start.verdict()
    assert "What the lab found" in text and "95%" in text
