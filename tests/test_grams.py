import json

import pytest

from training.hierarchy.grams import (SGSet, SGSetError, StrategicGram, list_presets, load_preset, load_sg_set,
                       normalize_phrase, parse_sg_set, save_sg_set)


def test_presets_load_and_are_tagged():
    assert {"paper-appendix", "math-compact"} <= set(list_presets())
    paper = load_preset("paper-appendix")
    assert "let's try a different approach" in paper.phrases
    assert paper.has_clusters
    assert {g.tag for g in paper.grams} >= {"deduction", "branching", "backtracking", "verification"}
    assert len(load_preset("math-compact").grams) >= 50


def test_normalize_phrase():
    assert normalize_phrase("  Let\u2019s \n Double-Check ") == "let's double-check"


def test_round_trip(tmp_path):
    s = SGSet(name="mine", grams=(StrategicGram("note that", cluster=3, tag="deduction", cdf=12,
                                                examples=("... note that x ...",)),
                                  StrategicGram("but wait")),
              description="d", source="s")
    path = save_sg_set(s, tmp_path / "sub" / "mine.json")
    assert load_sg_set(path) == s
    data = json.loads(path.read_text())
    assert data["schema"] == "hicra-lab/sg-set" and data["version"] == 1


def test_plain_strings_and_duplicates_are_accepted():
    s = parse_sg_set({"version": 1, "grams": ["note that", "Note  that", {"phrase": "hold on"}]}, "x.json")
    assert s.phrases == ["note that", "hold on"]
    assert s.name == "x" and not s.has_clusters


@pytest.mark.parametrize("content, problem", [
    (b"not json {", "not valid JSON"),
    (b"\xff\xfe\x00binary", "not UTF-8"),
    (b'["note that"]', "expected a JSON object"),
    (b'{"schema": "other", "version": 1, "grams": ["a"]}', "schema is 'other'"),
    (b'{"grams": ["a"]}', "missing 'version'"),
    (b'{"version": 7, "grams": ["a"]}', "unsupported version 7"),
    (b'{"version": 1}', "missing 'grams'"),
    (b'{"version": 1, "grams": []}', "'grams' is empty"),
    (b'{"version": 1, "grams": "note that"}', "'grams' must be a list"),
    (b'{"version": 1, "grams": ["ok", 3]}', "grams[1] is a number"),
    (b'{"version": 1, "grams": [{"phrase": null}]}', "grams[0].phrase must be a string"),
    (b'{"version": 1, "grams": ["   "]}', "grams[0].phrase is blank"),
    (b'{"version": 1, "grams": [{"phrase": "a", "tag": "magic"}]}', "grams[0].tag is 'magic'"),
    (b'{"version": 1, "grams": [{"phrase": "a", "cluster": "x"}]}', "grams[0].cluster must be an integer"),
])
def test_bad_files_name_file_and_problem(tmp_path, content, problem):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(SGSetError) as err:
        load_sg_set(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_missing_file_and_unknown_preset(tmp_path):
    with pytest.raises(SGSetError, match="no such file"):
        load_sg_set(tmp_path / "nope.json")
    with pytest.raises(SGSetError, match="unknown SG preset 'nope'; available: math-compact"):
        load_preset("nope")
