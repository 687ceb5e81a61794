"""The genuine-trace evaluation set keeps its promises (issue 24, part 1).

Reads both halves with the project's own parser, so a malformed mark, an
unknown tag or a missing header key fails here rather than in a bench run.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from training.hierarchy.grams import TAGS
from training.hierarchy.planning_eval import load_traces

GENUINE = Path(__file__).resolve().parents[1] / "assets" / "planning-eval" / "genuine"
REQUIRED = ("id", "family", "model", "domain", "topic", "source", "repo", "commit", "licence", "trimmed", "think")


def _halves():
    return {name: load_traces(GENUINE / f"{name}.txt") for name in ("dev", "held-out")}


def _all():
    return [t for traces in _halves().values() for t in traces]


def test_every_trace_has_its_provenance():
    for t in _all():
        missing = [k for k in REQUIRED if not t.meta.get(k)]
        assert not missing, f"{t.id}: missing {missing}"
        assert t.meta["domain"] in ("maths", "non-maths"), t.id
        assert t.meta["trimmed"] in ("yes", "no"), t.id
        assert t.meta["think"] in ("yes", "no"), t.id
        assert t.meta["source"].startswith("github:"), t.id


def test_ids_are_unique_over_both_halves_and_well_formed():
    ids = [t.id for t in _all()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids), ids


def test_no_source_on_both_sides():
    halves = _halves()
    dev = {t.meta["source"] for t in halves["dev"]}
    held = {t.meta["source"] for t in halves["held-out"]}
    assert not dev & held, dev & held


def check_spans(traces) -> None:
    """Every trace has spans; each has a known tag, lies inside the text, in order, with no edge whitespace."""
    for t in traces:
        assert t.spans, t.id
        last_end = 0
        for start, end, tag in t.spans:
            assert tag in TAGS
            assert 0 <= last_end <= start < end <= len(t.text), t.id
            inner = t.text[start:end]
            assert inner == inner.strip(), (t.id, inner)
            last_end = end


def test_spans_are_non_empty_and_well_formed():
    check_spans(_all())


def test_at_least_five_families_and_a_third_not_maths():
    traces = _all()
    assert len({t.meta["family"] for t in traces}) >= 5
    non_maths = sum(t.meta["domain"] == "non-maths" for t in traces)
    assert 3 * non_maths >= len(traces)


def test_every_family_is_on_the_held_out_side():
    halves = _halves()
    assert {t.meta["family"] for t in halves["dev"]} <= {t.meta["family"] for t in halves["held-out"]}


def test_at_least_forty_traces_and_both_halves_sizeable():
    halves = _halves()
    assert len(_all()) >= 40
    assert min(len(traces) for traces in halves.values()) >= 15


# --- held-out-2: the fresh, blind set gathered after detector 1.0's held-out score was seen ---


def _held_out_2():
    return load_traces(GENUINE / "held-out-2.txt")


def test_held_out_2_parses_and_is_sizeable():
    traces = _held_out_2()
    assert len(traces) >= 20
    assert len({t.meta["family"] for t in traces}) >= 4
    non_maths = sum(t.meta["domain"] == "non-maths" for t in traces)
    assert 3 * non_maths >= len(traces)


def test_held_out_2_metadata_is_complete():
    for t in _held_out_2():
        missing = [k for k in REQUIRED if not t.meta.get(k)]
        assert not missing, f"{t.id}: missing {missing}"
        assert t.meta["domain"] in ("maths", "non-maths"), t.id
        assert t.meta["trimmed"] in ("yes", "no"), t.id
        assert t.meta["think"] in ("yes", "no"), t.id
        assert t.meta["source"].startswith(t.meta["repo"] + ":"), t.id
        assert re.fullmatch(r"[0-9a-f]{40}", t.meta["commit"]), t.id


def test_held_out_2_shares_no_repository_with_the_first_two_halves():
    # Why: the set exists to be text nobody tuned on; a shared repository
    # would carry a source's style (and often its tasks) across.
    seen = {t.meta["repo"] for t in _all()}
    fresh = {t.meta["repo"] for t in _held_out_2()}
    assert not seen & fresh, seen & fresh


def test_held_out_2_ids_are_unique_over_all_three_files():
    ids = [t.id for t in _all()] + [t.id for t in _held_out_2()]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids)


def test_held_out_2_spans_are_non_empty_and_well_formed():
    check_spans(_held_out_2())


# --- held-out-3: the fresh, blind set gathered after held-out-2 had been read (issue 24) ---

SPLITS = ("dev", "held-out", "held-out-2", "held-out-3", "held-out-4", "held-out-5")


def _split(name):
    return load_traces(GENUINE / f"{name}.txt")


@pytest.mark.parametrize("name, families, prefix", [("held-out-3", 5, "g3-"), ("held-out-4", 6, "g4-"),
                                                        ("held-out-5", 5, "g5-")])
def test_a_blind_set_is_sizeable_and_its_metadata_complete(name, families, prefix):
    traces = _split(name)
    assert len(traces) >= 28
    assert len({t.meta["family"] for t in traces}) >= families
    non_maths = sum(t.meta["domain"] == "non-maths" for t in traces)
    assert 3 * non_maths >= len(traces)
    for t in traces:
        missing = [k for k in REQUIRED if not t.meta.get(k)]
        assert not missing, f"{t.id}: missing {missing}"
        assert t.meta["domain"] in ("maths", "non-maths"), t.id
        assert t.meta["trimmed"] in ("yes", "no"), t.id
        assert t.meta["think"] in ("yes", "no"), t.id
        assert t.meta["source"].startswith(t.meta["repo"] + ":"), t.id
        assert re.fullmatch(r"[0-9a-f]{40}", t.meta["commit"]), t.id
        assert t.id.startswith(prefix), t.id


def test_held_out_3_shares_no_repository_with_the_earlier_splits():
    # Why: the set exists to be text nobody tuned on; a repository already read
    # for dev, held-out or held-out-2 would carry its style and tasks across.
    seen = {t.meta["repo"] for name in SPLITS[:3] for t in _split(name)}
    fresh = {t.meta["repo"] for t in _split("held-out-3")}
    assert not seen & fresh, seen & fresh


def test_ids_are_unique_over_all_files():
    ids = [t.id for name in SPLITS for t in _split(name)]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9-]+", i) for i in ids)


def test_no_source_file_is_in_two_splits():
    sources = {name: {t.meta["source"] for t in _split(name)} for name in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not sources[a] & sources[b], (a, b, sources[a] & sources[b])


def test_held_out_3_spans_are_non_empty_and_well_formed():
    check_spans(_split("held-out-3"))


# --- held-out-4 and held-out-5: fresh, blind sets, each gathered after the sets before it had been read ---

FRESH = pytest.mark.parametrize("name", ["held-out-4", "held-out-5"])


@FRESH
def test_a_fresh_set_shares_no_repository_with_any_other_split(name):
    # Why: the set exists to be text nobody tuned on; a repository already read
    # for an earlier split would carry its style and tasks across.
    fresh = {t.meta["repo"] for t in _split(name)}
    for other in SPLITS:
        if other != name:
            seen = {t.meta["repo"] for t in _split(other)}
            assert not seen & fresh, (other, seen & fresh)


@FRESH
def test_a_fresh_set_takes_no_more_than_a_quarter_from_one_repository(name):
    # Why: held-out-3 took 14 of 31 traces from one author; one repository's
    # style and task set must not dominate the measurement.
    traces = _split(name)
    counts = Counter(t.meta["repo"] for t in traces)
    repo, top = counts.most_common(1)[0]
    assert 4 * top <= len(traces), (repo, top, len(traces))


@FRESH
def test_a_fresh_sets_spans_are_non_empty_and_well_formed(name):
    check_spans(_split(name))
