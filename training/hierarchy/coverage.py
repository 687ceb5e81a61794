"""Does an SG set mark planning at all in these responses? A guard against a silent no-op.

HICRA changes GRPO only on planning tokens. An SG set that marks almost
nothing in a model's responses (a domain mismatch), or only the answer
sentence that closes every response, makes a HICRA run GRPO in disguise,
and the planning-vs-execution charts meaningless. :func:`coverage_warning`
says so, in one sentence, for the loop (every step), the CLI, the run's
``status.json`` and the app's Train and Inspect tabs.

The two rules (documented in the README):

* the planning tokens are less than ``MIN_RATIO`` (1%) of the response
  tokens;
* or every phrase the set matches sits in the closing sentence of its
  response (no step starts after it, :func:`training.hierarchy.matching.step_starts`,
  but text without words such as ``\\boxed{42}.``): the answer sentence
  ("so the answer is"), not a plan.
"""

from __future__ import annotations

import re
from typing import Sequence

from training.hierarchy.grams import SGSet
from training.hierarchy.matching import GramMatcher, matcher_for, step_starts

MIN_RATIO = 0.01
ADVICE = "pick or mine a set that fits this model"


def coverage_warning(texts: Sequence[str], planning_ratio: float, grams: SGSet | GramMatcher,
                     algo: str = "hicra") -> str | None:
    """A warning sentence, or None when the set marks planning in these responses.

    ``planning_ratio``: share of response tokens that are planning tokens
    (the loop and Inspect compute it from the token masks).

    >>> from training.hierarchy.grams import SGSet, StrategicGram
    >>> sg = SGSet("answers", (StrategicGram("so the answer is"),))
    >>> coverage_warning(["3 + 4 = 7. So the answer is 7."] * 4, 0.2, sg)[:45]
    'HICRA behaves like GRPO here: the SG set mark'
    >>> coverage_warning(["x = 7. So the answer is 7. Let me check it."] * 4, 0.2, sg) is None
    True
    >>> coverage_warning(["Let me try. x = 7."] * 4, 0.005, SGSet("t", (StrategicGram("let me try"),)))[-93:]
    'almost no planning tokens (0.5% of response tokens); pick or mine a set that fits this model.'
    """
    if not texts:
        return None
    lead = "HICRA behaves like GRPO here" if algo.startswith("hicra") else \
        "The planning / execution figures mean little here"
    if planning_ratio < MIN_RATIO:
        return (f"{lead}: the SG set marks almost no planning tokens ({planning_ratio:.1%} of response tokens); "
                f"{ADVICE}.")
    matcher = matcher_for(grams)
    phrases: set[str] = set()
    for text in texts:
        found = matcher.occurrences(text)
        if any(not _closing(text, s) for s, _, _ in found):
            return None
        phrases.update(p for _, _, p in found)
    if not phrases:
        return None
    shown = ", ".join(f"\u201c{p}\u201d" for p in sorted(phrases)[:3]) + (" ..." if len(phrases) > 3 else "")
    return f"{lead}: the SG set marks only the closing sentence ({shown}), the answer, not a plan; {ADVICE}."


def _closing(text: str, start: int) -> bool:
    """Is ``start`` in the closing sentence: does no step with words start after it?"""
    later = [p for p in step_starts(text) if p > start]
    return not later or not re.search(r"[A-Za-z]{2}", text[later[0]:].replace("boxed", ""))
