"""Which Strategic Gram set fits a pasted text, and when the chosen one plainly does not.

Inspect's default is "auto": natural-language reasoning (a reasoning model's
trace, a word problem) gets the planning detector on the ``reasoning`` preset
(:mod:`training.hierarchy.detector`, which finds more of a genuine trace's
planning than the preset's phrases alone); terse arithmetic in the bundled
task's style gets ``math-compact``. The rule is deliberately simple
and stated: the share of a text's non-space characters that belong to words
of two or more letters. Prose sits well above 0.6, the bundled task's
solutions below it.

>>> suggest("Okay, so I need to find the sum. Let me think about which approach is simplest here.")[0]
'planning-detector'
>>> suggest("Let's split: 47 * 20 = 940. 47 * 3 = 141. 940 + 141 = 1081.")[0]
'math-compact'
"""

from __future__ import annotations

import re

from training.hierarchy.detector import NAME as DETECTOR

AUTO = "auto (follows the text)"
PROSE_SHARE = 0.6  # share of non-space characters in words of 2+ letters above which a text counts as prose
_WORD = re.compile(r"[^\W\d_]{2,}")


def letter_share(text: str) -> float:
    """Share of the non-space characters of ``text`` that are in words of two or more letters."""
    chars = sum(not c.isspace() for c in text)
    return sum(len(m) for m in _WORD.findall(text)) / chars if chars else 0.0


def suggest(text: str) -> tuple[str, str]:
    """``(preset name, reason)`` for ``text``."""
    share = letter_share(text)
    if "<think>" in text or share >= PROSE_SHARE:
        return DETECTOR, f"natural-language reasoning ({share:.0%} of its characters are words)"
    return "math-compact", f"terse arithmetic ({share:.0%} of its characters are words)"


def is_prose(text: str) -> bool:
    return suggest(text)[0] == DETECTOR


def mismatch_note(chosen: str, chosen_ratio: float, suggested: str, suggested_ratio: float) -> str:
    """A note when the suggested set marks at least twice the planning tokens the chosen one does (and 5 points
    more): the chosen set probably does not fit the text's style. Empty otherwise."""
    if chosen == suggested or suggested_ratio < 2 * chosen_ratio or suggested_ratio - chosen_ratio < 0.05:
        return ""
    return (f"**{chosen}** marks {chosen_ratio:.1%} of this text's tokens as planning, **{suggested}** "
            f"{suggested_ratio:.1%}: the text's style fits **{suggested}** better (choose it, or 'auto').")
