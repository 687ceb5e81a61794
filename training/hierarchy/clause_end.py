"""Version 1.3 of the planning detector: where a steering clause ends, a post-pass over 1.1's spans.

Half of what version 1.1 misses on the genuine sets is the *end* of a clause
it has found: it marks "So" of "So the answer is", "Maybe" of "Maybe there's a
better way to approach this", "Let me see if" of "Let me see if I can factor"
(annotation rule 1: a steering clause runs to the last word before its
content; rule 2: a clause that steers from start to end is marked whole).
1.1's chain of closed-class words stops at the first word outside it. The
rules here look at what follows a span's end and run the span on, by syntax
rather than by phrase:

* ``subject``: after a complementizer ("if", "whether", "that") that ends the
  span or follows it, a first-person clause with its auxiliaries and verb:
  "Let me see if *I can factor*", "make sure *I'm not misunderstanding*";
* ``answer``: "so" / "thus" / "therefore" / "hence" then "the (final) answer
  is / would be / should be / must be / will be": a conclusion announced;
* ``closed``: the rest of the sentence (up to :data:`CLOSED_WORDS` words, to
  its punctuation or line end) when every word of it is a closed-class or
  metalanguage word, 1.1's own chain lexicon plus :data:`EXTRA` (21 words:
  pronouns with a verb, negations, "answer", "right", "sure", "mistake"):
  the sentence has no content, so it steers whole ("Maybe *there's a better
  way to approach this*", "Yeah, that *makes sense*").

Candidates measured and not kept (precision, or no gain): ``particle``, a
preposition right after a span that ends in a verb ("think *of*");
``back``, a short rest of a sentence that opens with a pronoun or a verb of
judgement ("Hmm*, not sure*"); ``prefix``, 1.1's chain run on with
:data:`EXTRA` among its core words.

The rules, and the set of them kept (:data:`KEPT`), were judged by
leave-one-repository-out cross-validation over the four genuine sets
(``bench/detector_cv.py --pool``; ``docs/planning-detector.md``, "Version
1.3"). Pure and deterministic: one anchored regex match per span end, most
matching nothing; a little more work only where one matches.
"""

from __future__ import annotations

import re

RULES = ("subject", "particle", "answer", "closed", "back", "prefix")  # the candidates the bench measures
KEPT = ("subject", "answer", "closed")  # chosen by bench/detector_cv.py --pool
CLOSED_WORDS = 8
BACK_WORDS = 3
# The words a contentless rest of a sentence may have beyond 1.1's chain lexicon (_LINK_WORDS, _CORE_WORDS).
EXTRA = ("that that's it's there's not no does do doesn't didn't something makes right correct sure answer final "
         "wrong mistake what how")
_S = r"[ \t]+"  # a space within a line: a clause end never runs over a line break
_PREP = r"(?:of|with|on|to|for|about|into|through|from|at|using|by)"
_STOP = r"(?=[ \t]*(?:[.!?;:]|\n|$))"  # the sentence's end: punctuation, a line break, the text's end
# A span's last word that takes no particle (a function word, an interjection): "so", "the", "maybe".
_NO_PARTICLE = frozenset((
    "the a an of with on to for about into through from at using by and or but so if that whether this it is are was "
    "be not i we me us my our out up down over back now then also just maybe perhaps well okay ok alright hmm wait "
    "yes no yeah right first next finally actually here there").split())
_COMPLEMENTIZER = frozenset("if whether that sure see check".split())  # "make sure", "see", "check" [that] I ...
_CONCLUDE = frozenset("so thus therefore hence".split())
# A pronoun or a verb of judgement opening the rest of a sentence (attempt "back", not kept: precision).
_BACK = r"(?:that|that's|this|it|it's|not|no|is|does|makes|seems|sounds|looks|should|might|would|could|works)"


class ClauseEnds:
    """The rules in ``rules`` (of :data:`RULES`), compiled once; :meth:`extend` applies them.

    The detector's grammar comes in as regexes (:func:`training.hierarchy.detector.clause_ends` builds one), so
    this module imports nothing of the detector: ``subject``, a first-person subject with its auxiliaries and
    verb ("I can factor"); ``link`` and ``core``, one word of 1.1's chain lexicon of link words ("the", "to")
    and of core words ("check", "approach"), :data:`EXTRA` being a part of ``core``.
    """

    def __init__(self, rules: tuple[str, ...], subject: str, link: str, core: str):
        unknown = set(rules) - set(RULES)
        if unknown:
            raise ValueError(f"unknown clause-end rule(s) {', '.join(sorted(unknown))}; use some of {', '.join(RULES)}")
        self.rules = tuple(r for r in RULES if r in rules)
        branches = []
        if "answer" in rules:
            be = "(?:is|" + "|".join(f"{m}{_S}be" for m in ("would", "should", "must", "will")) + ")"
            branches.append(f"(?P<answer>,?{_S}(?:the{_S})?(?:final{_S})?answer{_S}{be}(?![\\w'-]))")
        if "subject" in rules:
            subject = subject.replace(r"[ \t]+\n?|\n", _S).replace("(?:'m|'ll|'ve|'d)?",
                                                                   "(?:'m|'ll|'ve|'d)?(?:" + _S + "not)?")
            branches.append(f"(?P<subject>(?P<comp>,?{_S}(?:if|whether|that))?,?{_S}{subject})")
        if "particle" in rules:
            branches.append(f"(?P<particle>{_S}{_PREP}(?![\\w'-]))")
        # A contentless rest of the sentence: lexicon words only, to the sentence's end.
        closed = f"(?:,?{_S}(?:{link}|{core})){{1,{CLOSED_WORDS}}}{_STOP}"
        self._closed = re.compile(closed) if "closed" in rules else None
        # One union, tried at each span end (most fail at their first character); a branch of the other rules
        # that matches is then checked against the span's last word, "closed" needs no check.
        if self._closed is not None:
            branches.append(f"(?P<closed>{closed})")
        self._union = re.compile("|".join(branches)) if branches else None
        # Attempt "prefix" (not kept): 1.1's chain run on with EXTRA among its core words.
        self._prefix = re.compile(f"(?:(?:,?{_S}{link})*,?{_S}{core})+") if "prefix" in rules else None
        self._back = re.compile(f",?{_S}{_BACK}(?![\\w'-])(?:,?{_S}[a-z][a-z'-]*){{0,{BACK_WORDS - 1}}}{_STOP}") \
            if "back" in rules else None

    def end(self, lowered: str, s: int, e: int) -> int:
        """The end of the clause that the span ``[s, e)`` of ``lowered`` opens (``e`` or beyond)."""
        start = e
        for _ in range(3):  # "let me see if" -> "... i can think" -> "... of"
            m = self._union.match(lowered, e) if self._union is not None else None
            if m is None:
                break
            if m.lastgroup == "closed":
                return m.end() if e == start else e  # after another rule's extension: its object follows
            last = lowered[max(s, e - 12):e].rsplit(None, 1)[-1] if e > s else ""
            last = last.rstrip(",")
            kind = m.lastgroup if m.lastgroup != "comp" else "subject"
            if kind == "answer" and last not in _CONCLUDE:
                break
            if kind == "subject" and m.group("comp") is None and last not in _COMPLEMENTIZER:
                break
            if kind == "particle" and last in _NO_PARTICLE:
                break
            e = m.end()
        if e == start:  # what follows another rule's extension is its object, not the rest of a steering sentence
            if self._closed is not None:  # a branch before it matched and was rejected
                m = self._closed.match(lowered, e)
                if m:
                    return m.end()
            if self._prefix is not None:
                m = self._prefix.match(lowered, e)
                if m:
                    return m.end()
            if self._back is not None:
                m = self._back.match(lowered, e)
                if m:
                    return m.end()
        return e

    def extend(self, lowered: str, spans: list) -> list:
        """``spans`` (``(start, end, ...)`` tuples) of ``lowered`` (normalised lower-case text) with each end
        run on to the end of its clause, in the same order; extended spans may overlap, callers merge."""
        match = self._union.match if self._union is not None else (lambda text, at: None)
        end, out = self.end, []
        for x in spans:  # the training loop's path: most span ends match no rule at their first character
            if match(lowered, x[1]) is None and self._back is None and self._prefix is None:
                out.append(x)
            else:
                out.append((x[0], end(lowered, x[0], x[1])) + tuple(x[2:]))
        return out
