"""Semantic entropy: how diverse the strategic moves in a batch of texts are.

All entropies are Shannon entropies in **bits** (log base 2) of empirical
frequency distributions. A batch with no Strategic Gram occurrence has
entropy 0.0 (no diversity observed); the counts are returned alongside by
:func:`gram_counts` so a caller can tell "none" from "one kind".

Occurrences are counted leftmost-longest and non-overlapping
(:meth:`training.hierarchy.matching.GramMatcher.occurrences`): in "let's try a different
approach" only that longest phrase counts, not also "a different approach".

Worked example (also a test)::

    texts = ["Note that x = 2, note that y = 3.", "Let's check: 5."]
    grams = ["note that", "let's check"]
    counts = {"note that": 2, "let's check": 1}
    H = -(2/3 * log2(2/3) + 1/3 * log2(1/3)) = 0.918 bits
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter
from typing import Iterable, Sequence

from training.hierarchy.grams import SGSet, normalize_phrase
from training.hierarchy.matching import GramMatcher, matcher_for

_WORD = re.compile(r"\w+(?:['\u2019]\w+)*|[^\w\s]")


def shannon_entropy(counts: Iterable[int]) -> float:
    """Entropy in bits of the distribution proportional to ``counts``.

    >>> shannon_entropy([1, 1, 1, 1])
    2.0
    """
    counts = [c for c in counts if c > 0]
    total = sum(counts)
    if total == 0:
        return 0.0
    return max(0.0, -sum(c / total * math.log2(c / total) for c in counts))


def gram_counts(texts: Sequence[str], grams: SGSet | Iterable[str] | GramMatcher) -> Counter:
    """Occurrences of each (normalized) Strategic Gram across ``texts``."""
    matcher = matcher_for(grams)
    counts: Counter = Counter()
    for text in texts:
        counts.update(phrase for _, _, phrase in matcher.occurrences(text))
    return counts


def semantic_entropy(texts: Sequence[str], grams: SGSet | Iterable[str] | GramMatcher,
                     level: str = "gram") -> float:
    """Shannon entropy (bits) of the frequency of Strategic Grams in ``texts``.

    Args:
        texts: a batch of responses.
        grams: the SG set (or phrases).
        level: ``"gram"`` counts each phrase separately; ``"cluster"`` pools
            phrases by their cluster id (needs an :class:`SGSet` with cluster
            ids; a phrase without one is its own cluster).
    """
    counts = gram_counts(texts, grams)
    if level == "gram":
        return shannon_entropy(counts.values())
    if level != "cluster":
        raise ValueError(f"level must be 'gram' or 'cluster', got {level!r}")
    if not isinstance(grams, SGSet) or not grams.has_clusters:
        raise ValueError("cluster-level semantic entropy needs an SG set with cluster ids")
    cluster_of = grams.cluster_of()
    pooled: Counter = Counter()
    for phrase, n in counts.items():
        cluster = cluster_of.get(phrase)
        pooled[("cluster", cluster) if cluster is not None else ("gram", phrase)] += n
    return shannon_entropy(pooled.values())


def conditional_other_entropy(texts: Sequence[str], grams: SGSet | Iterable[str] | GramMatcher,
                              n: int = 3) -> float:
    """The paper's baseline curve "other grams (conditional)", in bits.

    For every Strategic Gram occurrence we take the next ``n`` words after it
    that are not inside any SG occurrence (a word is a run of letters/digits
    or one punctuation mark) - the execution that the strategic move leads
    into - and return the conditional entropy H(next n-gram | gram) =
    H(gram, next) - H(gram). Occurrences followed by fewer than ``n`` such
    words are skipped.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    matcher = matcher_for(grams)
    pairs: Counter = Counter()
    for text in texts:
        occ = matcher.occurrences(text)
        if not occ:
            continue
        spans = matcher.spans(text)
        span_starts = [s for s, _ in spans]
        outside = []  # (start, word) of words outside every SG occurrence
        for m in _WORD.finditer(text):
            j = bisect_left(span_starts, m.end()) - 1
            if j < 0 or spans[j][1] <= m.start():
                outside.append((m.start(), normalize_phrase(m.group())))
        starts = [s for s, _ in outside]
        for _, end, phrase in occ:
            i = bisect_left(starts, end)
            following = [w for _, w in outside[i:i + n]]
            if len(following) == n:
                pairs[(phrase, " ".join(following))] += 1
    if not pairs:
        return 0.0
    by_gram: Counter = Counter()
    for (phrase, _), c in pairs.items():
        by_gram[phrase] += c
    return max(0.0, shannon_entropy(pairs.values()) - shannon_entropy(by_gram.values()))
