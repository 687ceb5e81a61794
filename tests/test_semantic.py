import math

import pytest

from training.hierarchy.grams import SGSet, StrategicGram
from training.hierarchy.semantic import conditional_other_entropy, gram_counts, semantic_entropy, shannon_entropy


def test_shannon_entropy_bits():
    assert shannon_entropy([1, 1, 1, 1]) == 2.0
    assert shannon_entropy([5]) == 0.0
    assert shannon_entropy([]) == 0.0
    assert shannon_entropy([3, 1]) == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))


def test_worked_example_from_docstring():
    texts = ["Note that x = 2, note that y = 3.", "Let's check: 5."]
    grams = ["note that", "let's check"]
    assert gram_counts(texts, grams) == {"note that": 2, "let's check": 1}
    assert semantic_entropy(texts, grams) == pytest.approx(0.9182958, abs=1e-6)


def test_nested_phrases_count_once():
    texts = ["let's try a different approach", "a different approach"]
    grams = ["let's try a different approach", "a different approach"]
    assert gram_counts(texts, grams) == {"let's try a different approach": 1, "a different approach": 1}
    assert semantic_entropy(texts, grams) == pytest.approx(1.0)


def test_no_occurrences_is_zero():
    assert semantic_entropy(["12 * 3 = 36"], ["note that"]) == 0.0


def test_cluster_level():
    sg = SGSet(name="t", grams=(StrategicGram("let's check", cluster=0), StrategicGram("let's verify", cluster=0),
                                StrategicGram("note that", cluster=1), StrategicGram("but wait")))
    texts = ["let's check it", "let's verify it", "note that x", "but wait"]
    assert semantic_entropy(texts, sg) == pytest.approx(2.0)  # 4 grams, one each
    # clusters: {0: 2, 1: 1, "but wait" alone: 1} -> H(1/2, 1/4, 1/4) = 1.5 bits
    assert semantic_entropy(texts, sg, level="cluster") == pytest.approx(1.5)
    with pytest.raises(ValueError, match="cluster ids"):
        semantic_entropy(texts, ["note that"], level="cluster")
    with pytest.raises(ValueError):
        semantic_entropy(texts, sg, level="nope")


def test_conditional_other_entropy_by_hand():
    texts = ["Note that x = 2, note that y = 3.", "Let's check: 5."]
    grams = ["note that", "let's check"]
    # pairs: (note that, "x ="), (note that, "y ="), (let's check, ": 5")
    # H(joint) = log2 3, H(gram) = 0.918 -> 0.667 bits
    assert conditional_other_entropy(texts, grams, n=2) == pytest.approx(math.log2(3) - 0.9182958, abs=1e-6)
    # the same gram always followed by the same words: no conditional entropy
    assert conditional_other_entropy(["note that x = 1", "note that x = 1"], grams, n=2) == 0.0


def test_conditional_skips_words_inside_grams_and_short_tails():
    grams = ["note that", "let's check"]
    # after "note that" comes "let's check" (skipped), then "x" "="
    assert conditional_other_entropy(["note that let's check x = 1", "note that y"], grams, n=2) == 0.0
    with pytest.raises(ValueError):
        conditional_other_entropy(["x"], grams, n=0)
