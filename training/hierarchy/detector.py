"""A planning detector for genuine model reasoning: an SG set plus rules that generalise beyond its phrases.

An SG set's phrase list, tuned on one style of reasoning, finds about 90% of
the planning there and far less in traces that real reasoning models wrote
(issue 24: recall 0.40). What it misses is mostly not new *words* but new
*shapes*: a step that starts after ``*`` or ``- *Label:*``, an apostrophe
written ``’`` or ``‛``, a steering clause of which only the first words
("Okay, so") are in the list, an opener built from a pronoun and a modal
("I should also consider"). :class:`PlanningDetector` adds these rules on
top of the set's matcher, each measured on the dev halves
(``bench/planning_quality.py``; ``docs/planning-detector.md`` has the figures):

1. **Normalisation** (:func:`normalise`): typographic apostrophes, quotes,
   dashes and spaces become their ASCII forms, one character for one, so
   offsets into the original text stay valid.
2. **Wider step starts** (:data:`_STEP`): a step also starts after italics
   (``*Wait*``), a ``*Label:*`` bullet, a lettered list item, a semicolon
   and an em dash run, as well as where
   :func:`training.hierarchy.matching.step_starts` says.
3. **Generic openers and clause extension**: at a step start, a short
   list of opener *shapes* (:data:`_GENERIC`: "Let me <verb>", "I should
   <verb>", "How about", "Another <angle>", "For example", "Idea:", ...) as
   well as the set's own step-start phrases; a matched opener runs on through
   a chain of closed-class words (:data:`_CHAIN`: pronouns, modals,
   auxiliaries, planning verbs and their particles) and stops at the first
   word outside it, the start of the step's content. So "Okay, so I'm
   trying to figure out how many ..." is marked up to "figure out".

Two guards: no step starts at a "Yes" / "No" / "Right" that answers the
model's own question (right after a ``?``), and nothing in fenced or
inline code is planning.

Version 1.1 adds six small options to these rules (:data:`OPTIONS`: labels
with a parenthesis, "to <verb>" and gerunds inside a clause, "the user
wants", ordinals that name content, plan statements of narrative
summaries), each kept because grouped cross-validation over the dev half's
source repositories chose it (``bench/detector_cv.py``);
``PlanningDetector(sg, options=())`` is version 1.0.

Version 1.2 (``PlanningDetector(sg, version="1.2")``, opt-in) adds a learned
step-clause classifier (:mod:`training.hierarchy.step_classifier`): where no
opener matches at a step start, the same scan reads a short label or
sentence there, and a logistic model over cheap features decides whether it
is a planning clause (chosen by leave-one-repository-out cross-validation
over the genuine sets, ``bench/detector_cv.py --pool``).

Version 1.3 (``version="1.3"``, opt-in) is 1.1 with a post-pass that runs each span's end on to the end of its
steering clause (:mod:`training.hierarchy.clause_end`: a first-person clause after "if" / "whether" / "that",
a verb's particle, "so the answer is", the rest of a sentence with no content word), chosen by the same
leave-one-repository-out cross-validation over all four genuine sets.

Pure and deterministic: regexes only, compiled once per SG set; masks for
a batch of 64 x 1,024 tokens cost about twice the SG matcher's, within the
loop's 20 ms budget (``bench/planning_mask.py``).
The detector has the interface of a :class:`~training.hierarchy.matching.GramMatcher`
(``spans``, ``occurrences``), so :func:`training.hierarchy.tokens.token_masks_from_ids`,
the coverage guard and Inspect take it in place of one.

Layout: :func:`normalise` and the regex building blocks named above (:data:`_STEP`, :data:`_GENERIC`,
:data:`_CHAIN`, the 1.1 options' patterns, :data:`OPTIONS`) live in
:mod:`training.hierarchy.detector_patterns`; this module puts them together per SG set
(:class:`PlanningDetector`), names the versions and picks a run's matcher. ``normalise``,
``OPTION_NAMES`` and ``OPTIONS`` are importable from here as before.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

from training.hierarchy import clause_end, step_classifier
from training.hierarchy.grams import SGSet, StrategicGram, load_preset, normalize_phrase
from training.hierarchy.alternation import dispatch
from training.hierarchy.matching import GramMatcher, _compile, _trie_source
from training.hierarchy.detector_patterns import (_CHAIN, _CHAIN_PLUS, _CHAIN_USER, _CLOSE, _CORE_WORDS,
                                                  _FENCE, _GENERIC, _GERUND, _HEADING, _LABEL_END, _LEADIN,
                                                  _LINK_WORDS, _MOVE, _MOVE_1_0, _NARRATIVE, _NOT_ORDINAL,
                                                  _STEP, _SUBJ, _SUBJ_WIDE, _SUBJECT, _TAGS, _words,
                                                  OPTION_NAMES, OPTIONS, normalise)
from training.hierarchy.step_classifier import StepClassifier, Unit

NAME = "planning-detector"
VERSION = "1.1"  # the default; VERSIONS are all that can be chosen (``PlanningDetector(sg, version=...)``)
VERSIONS = ("1.0", "1.1", "1.2", "1.3")
# "sg": the SG set's phrases as they are (the matcher of every earlier run); NAME: the default version;
# "planning-detector-1.2" / "-1.3": versions 1.2 and 1.3, opt-in (any f"{NAME}-{v}" of VERSIONS is read)
DETECTORS = ("sg", NAME, f"{NAME}-1.2", f"{NAME}-1.3")


class PlanningDetector:
    """Planning spans of open-language reasoning: an SG set's matcher plus the rules above.

    >>> d = PlanningDetector(SGSet("t", (StrategicGram("so", at="step-start"),)))
    >>> text = "Okay, so I\u2019m trying to figure out how many. *Wait*, 3 is odd. Let me check B."
    >>> [text[s:e] for s, e in d.spans(text)]
    ['Okay, so I\u2019m trying to figure out', 'Wait', 'Let me check']
    """

    name = NAME

    def __init__(self, sg: SGSet, options: tuple[str, ...] | frozenset | None = None, version: str | None = None,
                 classifier: StepClassifier | None = None, clause_rules: tuple[str, ...] | None = None):
        """``version``: ``"1.0"``, ``"1.1"`` (the default), ``"1.2"`` (1.1 and the step-clause classifier,
        :mod:`training.hierarchy.step_classifier`) or ``"1.3"`` (1.1 and the clause-end post-pass,
        :mod:`training.hierarchy.clause_end`; ``clause_rules``: other rules of it, for the cross-validation). ``options``: the 1.1 options to use instead
        (``OPTION_NAMES``; () is version 1.0). ``classifier``: a model other than the shipped one (1.2 only;
        the cross-validation trains one per fold)."""
        if version is not None and version not in VERSIONS:
            raise ValueError(f"unknown planning-detector version {version!r}; use one of {', '.join(VERSIONS)}")
        if version == "1.0" and options is None:
            options = ()
        self.version = version or ("1.0" if options is not None and not options else VERSION)
        if self.version == "1.2":
            classifier = classifier or _shipped_classifier()
        elif classifier is not None:
            raise ValueError("a step classifier is part of version 1.2 only")
        self.classifier = classifier
        self._ends = None
        if self.version == "1.3" or clause_rules is not None:
            self._ends = clause_ends(clause_end.KEPT if clause_rules is None else tuple(clause_rules))
        self.sg = sg
        free = [g for g in sg.grams if g.at == "anywhere"]
        self._free = GramMatcher(free) if free else None  # tags, and text whose length changes under lower()
        self._free_tag = {normalize_phrase(g.phrase): g.tag for g in free}
        keys = {normalize_phrase(g.phrase): g.followed_by for g in free}
        # The free phrases' scan (spans()). Where every phrase starts and ends with a word character (all
        # presets), "a non-word character, then a phrase", run on "\n" + the text, finds what "a phrase at a
        # word start" finds in the text (no phrase can then start where the one before it ends), and the
        # engine's search jumps from one non-word character to the next in C instead of trying the pattern
        # at every position: half the time. The match starts one character early, as the "\n" does.
        self._free_after_nonword = all(re.match(r"\w", k[0]) and re.match(r"\w", k[-1]) for k in keys)
        if not keys:
            self._free_re = None
        elif self._free_after_nonword:
            self._free_re = re.compile(r"\W" + _trie_source(keys, lead=False))
        else:
            self._free_re = _compile(keys)[0]
        anchored_by_tag: dict[str, dict[str, str]] = {}
        for g in sg.grams:
            anchored_by_tag.setdefault(g.tag, {})[normalize_phrase(g.phrase)] = g.followed_by
        opts = OPTIONS if options is None else frozenset(options)
        if opts - set(OPTION_NAMES):
            raise ValueError(f"unknown detector option(s) {', '.join(sorted(opts - set(OPTION_NAMES)))}; "
                             f"use some of {', '.join(OPTION_NAMES)}")
        self.options = opts
        shapes = {tag: [a.replace(" ", r"\s+") for a in _GENERIC[tag]] for tag in _TAGS}  # wrapped text too
        if "label" in opts:
            shapes = {tag: [a.replace(r"(?=\s*[:.)*])", _LABEL_END)
                            .replace("|possibility)", "|possibility|alternative)") for a in v]
                      for tag, v in shapes.items()}
        chain = _CHAIN
        if {"chain", "user", "gerund"} & opts:
            extra = (_CHAIN_PLUS if "chain" in opts else []) + (_CHAIN_USER if "user" in opts else []) + \
                ([_GERUND] if "gerund" in opts else [])
            chain = _CHAIN[:-2] + "|" + "|".join(extra) + ")*"
        if "narrative" in opts:
            shapes["other"].append(_NARRATIVE)
        if "moves" in opts:
            shapes["other"].append(_MOVE + r"(?=[^\n.]{0,60}?(?::|\*\*))")
        if "heading" in opts:
            shapes["other"].insert(0, _HEADING if "moves" in opts else _HEADING.replace(_MOVE, _MOVE_1_0))
        subject = _SUBJECT
        if "they" in opts:
            chain, subject = chain.replace(_SUBJ, _SUBJ_WIDE), _SUBJECT.replace(_SUBJ, _SUBJ_WIDE)
        step = _STEP + (_NOT_ORDINAL if "ordinal" in opts else "")
        order = (lambda trie, sh: sh + trie) if "order" in opts else (lambda trie, sh: trie + sh)
        if "leadin" in opts:
            shapes["other"].append(_LEADIN)
        shapes["other"].append(subject)  # "I laid out", "I'll create": a first-person clause opening a step
        # Tagged (Inspect, the bench's per-function figures): one named group per function.
        groups = []
        for tag in _TAGS:
            trie = [_trie_source(anchored_by_tag[tag])] if anchored_by_tag.get(tag) else []
            groups.append(f"(?P<{tag}>(?:{'|'.join(order(trie, shapes[tag]))})(?!\\w))")
        tagged = "(?:" + "|".join(groups) + ")"
        # Untagged (the training loop's masks): the set's phrases of every function in one trie, then
        # the shapes; faster, and the same spans but where two functions' openers overlap. The trie goes in
        # one part per first character (the same branches) and the alternation is dispatched on the first
        # character (training.hierarchy.alternation): the same matches, but a failed attempt at a step start
        # tries only the openers that can start with the character there, not all ~100 one by one.
        phrases = {k: v for by_tag in anchored_by_tag.values() for k, v in by_tag.items()}
        tries = [_trie_source({k: v for k, v in phrases.items() if k[0] == c})
                 for c in sorted({k[0] for k in phrases})]
        plain = f"(?:{dispatch(order(tries, [a for tag in _TAGS for a in shapes[tag]]))}(?!\\w))"
        # An opener and its chain, then further openers after a comma: "Hmm, wait, let me check".
        # Each pattern starts with the boundary character, which the engine finds fast; the
        # text gets a leading "\n" so that its start is a boundary too (offsets shift by one).
        # Version 1.2: where no opener matches at a step start, a candidate unit (a short label or sentence)
        # for the step-clause classifier; its step start is captured for the unit's markup features.
        unit = f"|{step_classifier.UNIT}" if classifier is not None else ""
        step = f"(?P<pre>{step})" if classifier is not None else step
        self._step_tagged = re.compile(f"{step}(?:(?P<body>{tagged}{chain}(?:,[ \t]+{plain}{chain})*{_CLOSE}){unit})")
        self._step = re.compile(f"{step}(?:(?P<body>{plain}{chain}(?:,[ \t]+{plain}{chain})*{_CLOSE}){unit})")
        self._step_i = re.compile(self._step.pattern, re.I)
        self._step_tagged_i = re.compile(self._step_tagged.pattern, re.I)

    def __repr__(self) -> str:
        return f"PlanningDetector({self.sg.name!r}, version {self.version})"

    @property
    def label(self) -> str:
        """One line naming the detector, its version and its SG set."""
        return planning_label(f"{NAME}-{self.version}", self.sg)

    def units(self, text: str) -> list[Unit]:
        """Version 1.2: the candidate units of ``text`` (short labels and sentences at step starts where no
        opener matches), before the classifier; what ``bench/train_step_classifier.py`` trains on."""
        if self.classifier is None:
            return []
        lowered = normalise(text).lower()
        prepared, pattern = ("\n" + lowered, self._step) if len(lowered) == len(text) else \
            ("\n" + normalise(text), self._step_i)
        return step_classifier.candidates_of(pattern.finditer(prepared))

    def tagged_spans(self, text: str) -> list[tuple[int, int, str]]:
        """Every detected phrase as ``(start, end, function tag)``, sorted, possibly overlapping."""
        normal = normalise(text)
        out = [(s, e, self._free_tag.get(p, "other")) for s, e, p in self._free.occurrences(normal)] \
            if self._free is not None else []
        prepared = "\n" + normal.lower()
        pattern = self._step_tagged
        if len(prepared) != len(text) + 1:
            prepared, pattern = "\n" + normal, self._step_tagged_i
        if self.classifier is None:
            out += [(m.start("body") - 1, m.end("body") - 1, _tag_of(m)) for m in pattern.finditer(prepared)]
        else:
            matches = list(pattern.finditer(prepared))
            out += [(m.start("body") - 1, m.end("body") - 1, _tag_of(m)) for m in matches if m.group("body")]
            out += [(u.start, u.end, step_classifier.tag_of(u))
                    for u in self.classifier.marked(step_classifier.candidates_of(matches))]
        if self._ends is not None:  # 1.3: each span run on to its clause's end (ASCII case folding keeps offsets)
            lowered = normal.lower()
            out = self._ends.extend(lowered if len(lowered) == len(text) else _ascii_lower(normal), out)
        return _outside_code(text, sorted(out))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Merged ``[start, end)`` character spans of planning (the mask's input).

        The training loop's path, kept lean (two regex scans, no tags): free
        phrases by non-overlapping search (a phrase that starts inside another
        and ends beyond it is left out, unlike :meth:`GramMatcher.spans`).
        """
        lowered = normalise(text).lower()
        if len(lowered) != len(text):
            found = [(s, e) for s, e, _ in self.tagged_spans(text)]
        else:
            prepared = "\n" + lowered
            if self._free_re is None:
                found = []
            elif self._free_after_nonword:
                found = [(m.start(), m.end() - 1) for m in self._free_re.finditer(prepared)]
            else:
                found = [m.span() for m in self._free_re.finditer(lowered)]
            if self.classifier is None:
                found += [(m.start("body") - 1, m.end("body") - 1) for m in self._step.finditer(prepared)]
            else:
                matches = list(self._step.finditer(prepared))
                found += [(m.start("body") - 1, m.end("body") - 1) for m in matches if m.group("body")]
                found += [(u.start, u.end) for u in self.classifier.marked(step_classifier.candidates_of(matches))]
            found = _outside_code(text, sorted(found))
        merged = _merged(found)
        if self._ends is not None and len(lowered) == len(text):  # 1.3: the post-pass on the merged spans (on
            # the other path, tagged_spans did it); an end runs on over words and spaces only, never into
            # code, and may reach the next span
            return _merged(self._ends.extend(lowered, merged))
        return merged

    def occurrences(self, text: str) -> list[tuple[int, int, str]]:
        """Non-overlapping ``(start, end, normalized phrase)``, as :meth:`GramMatcher.occurrences`."""
        return [(s, e, normalize_phrase(text[s:e])) for s, e in self.spans(text)]


def _outside_code(text: str, spans: list) -> list:
    """``spans`` less those that overlap fenced or inline code (never planning).

    The code spans come out of one regex scan in order and do not overlap, so their ends rise with their
    starts: of those that start before a span ends, the last one reaches furthest, and one binary search
    per span decides (a scan of every code span per span cost half the detector's time on genuine traces).
    """
    if "`" not in text:
        return spans
    code = [m.span() for m in _FENCE.finditer(text)]
    if not code:
        return spans
    starts = [a for a, _ in code]
    out = []
    for x in spans:
        i = bisect_left(starts, x[1]) - 1  # the last code span that starts before x ends
        if i < 0 or code[i][1] <= x[0]:
            out.append(x)
    return out


@lru_cache(maxsize=64)
def clause_ends(rules: tuple[str, ...] = clause_end.KEPT) -> clause_end.ClauseEnds:
    """Version 1.3's clause-end post-pass with ``rules`` (of :data:`training.hierarchy.clause_end.RULES`), on this
    module's grammar: the first-person clause of 1.1's chain and its lexicon (with the post-pass's extra words)."""
    return clause_end.ClauseEnds(rules, subject=_SUBJECT, link=_words(_LINK_WORDS),
                                 core=_words(_CORE_WORDS + " " + clause_end.EXTRA))


def _merged(spans: list) -> list[tuple[int, int]]:
    """Sorted ``spans`` with those that touch or overlap joined."""
    out: list[list[int]] = []
    for s, e in spans:
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return [(s, e) for s, e in out]


def _ascii_lower(text: str) -> str:
    """``text`` with A-Z lowered only: the same length whatever else it holds (``str.lower`` may change it)."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = str.maketrans({chr(c): chr(c + 32) for c in range(65, 91)})


def _tag_of(m: re.Match) -> str:
    for tag in _TAGS:
        if m.group(tag) is not None:
            return tag
    return "other"


@lru_cache(maxsize=1)
def _shipped_classifier() -> StepClassifier:
    return step_classifier.load()


@lru_cache(maxsize=16)
def _cached(sg: SGSet, version: str = VERSION) -> PlanningDetector:
    return PlanningDetector(sg, version=version)


def detector_version(detector: str) -> str | None:
    """The version a detector name selects (``"planning-detector"``: :data:`VERSION`;
    ``"planning-detector-1.2"``: 1.2), None for ``"sg"``; a clear error for any other name."""
    if detector == "sg":
        return None
    if detector == NAME:
        return VERSION
    if detector.startswith(NAME + "-") and detector[len(NAME) + 1:] in VERSIONS:
        return detector[len(NAME) + 1:]
    raise ValueError(f"unknown planning detector {detector!r}; use one of {', '.join(DETECTORS)}")


def planning_matcher(detector: str, sg: SGSet):
    """The matcher a run's planning masks use: the SG set's own (``"sg"``) or the detector on it."""
    version = detector_version(detector)
    if version is None:
        from training.hierarchy.matching import matcher_for
        return matcher_for(sg)
    return _cached(sg, version)


def planning_label(detector: str, sg: SGSet) -> str:
    """One line saying what marks a run's planning tokens (status.json, Inspect).

    >>> planning_label("sg", SGSet("reasoning", (StrategicGram("so"),)))
    'SG set reasoning (its phrases as they are)'
    >>> planning_label("planning-detector-1.2", SGSet("reasoning", (StrategicGram("so"),)))
    'planning-detector 1.2 on SG set reasoning'
    """
    version = detector_version(detector)
    if version is None:
        return f"SG set {sg.name} (its phrases as they are)"
    return f"{NAME} {version} on SG set {sg.name}"


def default_detector() -> PlanningDetector:
    """The detector on the ``reasoning`` preset: what Inspect and the bench show."""
    return _cached(load_preset("reasoning"))
