"""bench/annotation_agreement.py: agreement figures on two small annotations, checked by hand."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import annotation_agreement as agreement  # noqa: E402
from lab.analysis import bundled_tokenizer  # noqa: E402
from training.hierarchy.planning_eval import EvalSetError  # noqa: E402
from training.hierarchy.tokens import backend_of  # noqa: E402

HEADER = "### id=t1 family=x domain=maths\n"
FIRST = HEADER + "⟦other: Okay so⟧ x is 2. ⟦backtracking: Wait⟧, x is 3.\n"
SECOND = HEADER + "⟦deduction: Okay so⟧ x is 2. Wait, x is 3.\n"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_figures_match_a_hand_count(tmp_path):
    pairs = agreement.paired(_write(tmp_path, "a.txt", FIRST), _write(tmp_path, "b.txt", SECOND))
    text = pairs[0][0].text
    offsets = backend_of(bundled_tokenizer()).encode(text, add_special_tokens=False).offsets
    def n_tokens(phrase: str) -> int:  # tokens overlapping the phrase's characters
        s = text.index(phrase)
        return sum(1 for a, b in offsets if a < s + len(phrase) and b > s and b > a)
    okay, wait, total = n_tokens("Okay so"), n_tokens("Wait"), len(offsets)

    c = agreement.counts(pairs, bundled_tokenizer())
    assert c.tolist() == [[okay, wait, 0, total - okay - wait, 2, 1, 1, 1, 0, 0]]
    m = agreement.measures(c)
    assert m["precision"] == 1.0
    assert m["recall"] == pytest.approx(okay / (okay + wait))
    assert m["f1"] == pytest.approx(2 * okay / (2 * okay + wait))
    p_obs = (okay + total - okay - wait) / total
    p_exp = ((okay + wait) * okay + (total - okay) * (total - okay - wait)) / total ** 2
    assert m["kappa"] == pytest.approx((p_obs - p_exp) / (1 - p_exp))
    assert (m["touched_first"], m["touched_second"], m["same_tag"]) == (0.5, 1.0, 0.0)


def test_identical_annotations_agree_fully_and_intervals_hold_the_value(tmp_path):
    path = _write(tmp_path, "a.txt", FIRST + "\n" + FIRST.replace("id=t1", "id=t2"))
    c = agreement.counts(agreement.paired(path, path), bundled_tokenizer())
    m, ci = agreement.measures(c), agreement.intervals(c)
    for key in ("precision", "recall", "f1", "kappa", "touched_first", "same_tag"):
        assert m[key] == 1.0 and ci[key] == (1.0, 1.0)


def test_detector_is_scored_like_the_bench():
    """The detector row equals bench/planning_quality.py's figures for the same file (token P/R)."""
    from training.hierarchy.detector import PlanningDetector
    from training.hierarchy.grams import load_preset
    from training.hierarchy.planning_eval import load_traces, score
    path = ROOT / "assets" / "planning-eval" / "genuine" / "held-out-4.txt"
    tok, det = bundled_tokenizer(), PlanningDetector(load_preset("reasoning"))
    m = agreement.measures(agreement.counts(agreement.paired(path, path), tok, det))
    s = score(det, load_traces(path), tok)
    assert (m["precision"], m["recall"]) == (s.all.precision, s.all.recall)
    assert m["touched_first"] == s.touched / s.phrases


@pytest.mark.parametrize("second, message", [
    (SECOND.replace("x is 3", "x is 4"), "texts differ from character"),
    (SECOND.replace("id=t1", "id=t9"), "different traces"),
])
def test_mismatched_files_get_a_clear_message(tmp_path, capsys, second, message):
    a, b = _write(tmp_path, "a.txt", FIRST), _write(tmp_path, "b.txt", second)
    with pytest.raises(EvalSetError, match=message):
        agreement.paired(a, b)
    assert agreement.main([str(a), str(b)]) == 2
    assert message in capsys.readouterr().err


def test_nothing_marked_gives_nan_not_a_fake_agreement(tmp_path):
    plain = _write(tmp_path, "p.txt", HEADER + "x is 2.\n")
    m = agreement.measures(agreement.counts(agreement.paired(plain, plain), bundled_tokenizer()))
    assert all(math.isnan(m[k]) for k in ("precision", "recall", "f1", "kappa", "touched_first", "same_tag"))


def test_tokens_only_the_first_marks_are_split_into_span_ends_and_missed_phrases(tmp_path):
    first = _write(tmp_path, "a.txt", HEADER + "⟦other: Let me check⟧ x. ⟦backtracking: Wait⟧, y.\n")
    second = _write(tmp_path, "b.txt", HEADER + "⟦other: Let me⟧ check x. Wait, y.\n")
    m = agreement.measures(agreement.counts(agreement.paired(first, second), bundled_tokenizer()))
    assert m["first_only_tokens"] == 2 and m["first_only_in_shared_phrases_tokens"] == 1  # " check"; "Wait"


def test_the_detector_page_pastes_what_the_command_prints():
    """docs/planning-detector.md's agreement table and summary lines are the bench's output, and the figures
    its sentences quote are in that output."""
    import re
    import subprocess
    printed = subprocess.run([sys.executable, "bench/annotation_agreement.py"], cwd=ROOT, capture_output=True,
                             text=True, check=True, timeout=300).stdout
    page = (ROOT / "docs" / "planning-detector.md").read_text()
    section = page.split("### Two annotations of the same traces")[1].split("\n### ")[0]
    for line in printed.splitlines()[2:]:
        assert line in section, line
    for figure in re.findall(r"\b0\.\d{3}\b|\b\d+\.\d%", section.split("```")[2]):
        value = figure if "%" not in figure else f"{float(figure[:-1]) / 100:.3f}"
        assert value in printed, figure


def test_the_shipped_second_annotation_is_of_the_same_text_and_counted_in_sources():
    pairs = agreement.paired(agreement.FIRST, agreement.SECOND)  # raises if an id or a character differs
    assert len(pairs) == 28
    spans = [tag for _, b in pairs for *_, tag in b.spans]
    sources = " ".join((agreement.GENUINE / "SOURCES.md").read_text().split())
    assert f"{len(spans)} spans (other {spans.count('other')}, deduction {spans.count('deduction')}" in sources


def test_bad_command_lines_get_a_clear_message(tmp_path, capsys):
    one = _write(tmp_path, "a.txt", FIRST)
    with pytest.raises(SystemExit):  # one file alone: its partner would silently be held-out-4's
        agreement.main([str(one)])
    assert "give both annotation files" in capsys.readouterr().err
    empty = _write(tmp_path, "e.txt", "")
    assert agreement.main([str(empty), str(empty)]) == 2 and "no traces" in capsys.readouterr().err
