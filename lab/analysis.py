"""Analyse one piece of reasoning text: its tokens, their roles, its figures.

The Inspect page and its API call :func:`analyse_text`; it validates input
and raises :class:`InputError` with a message meant for the user.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from training.hierarchy.grams import SGSet
from training.hierarchy.matching import matcher_for
from training.hierarchy.semantic import gram_counts, semantic_entropy
from training.hierarchy.tokens import token_mask

MAX_TEXT_CHARS = 50_000
BUNDLED_MODEL = Path(__file__).resolve().parent.parent / "assets" / "tiny-model"
BUNDLED_TOKENIZER = BUNDLED_MODEL / "tokenizer.json"


class InputError(ValueError):
    """Bad user input; the message says what to do."""


@lru_cache(maxsize=1)
def bundled_tokenizer():
    """The bundled byte-level BPE tokenizer (loaded once)."""
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(BUNDLED_TOKENIZER))


@dataclass(frozen=True)
class TextAnalysis:
    text: str
    offsets: np.ndarray  # (T, 2) character span of each token
    planning: np.ndarray  # (T,) bool
    spans: list[tuple[int, int]]  # merged SG occurrence spans
    counts: dict[str, int]  # occurrences per normalized phrase
    semantic_entropy_bits: float

    @property
    def n_tokens(self) -> int:
        return int(len(self.planning))

    @property
    def n_planning(self) -> int:
        return int(self.planning.sum())

    @property
    def planning_ratio(self) -> float:
        return self.n_planning / self.n_tokens if self.n_tokens else 0.0

    @property
    def planning_char_share(self) -> float:
        covered = sum(e - s for s, e in self.spans)
        return covered / len(self.text) if self.text else 0.0


def check_text(text: object) -> str:
    """Validate pasted text; returns it, or raises :class:`InputError`."""
    if text is None or not isinstance(text, str) or not text.strip():
        raise InputError("The text is empty: paste a model's reasoning (a few sentences or more).")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"The text is {len(text):,} characters long; the limit is "
                         f"{MAX_TEXT_CHARS:,}. Paste a shorter excerpt (one or a few solutions).")
    return text


def analyse_text(text: str, sg_set: SGSet, tokenizer=None) -> TextAnalysis:
    """Tokenize ``text``, mark its planning tokens and count its Strategic Grams."""
    text = check_text(text)
    tokenizer = tokenizer or bundled_tokenizer()
    matcher = matcher_for(sg_set)
    _, offsets, planning = token_mask(text, tokenizer, matcher)
    counts = gram_counts([text], matcher)
    return TextAnalysis(
        text=text,
        offsets=offsets,
        planning=planning,
        spans=matcher.spans(text),
        counts=dict(counts.most_common()),
        semantic_entropy_bits=semantic_entropy([text], matcher),
    )
