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
"""

from __future__ import annotations

import re
from bisect import bisect_left
from functools import lru_cache

from training.hierarchy import clause_end, step_classifier
from training.hierarchy.grams import SGSet, StrategicGram, load_preset, normalize_phrase
from training.hierarchy.alternation import dispatch
from training.hierarchy.matching import GramMatcher, _compile, _trie_source
from training.hierarchy.step_classifier import StepClassifier, Unit

NAME = "planning-detector"
VERSION = "1.1"  # the default; VERSIONS are all that can be chosen (``PlanningDetector(sg, version=...)``)
VERSIONS = ("1.0", "1.1", "1.2", "1.3")
# "sg": the SG set's phrases as they are (the matcher of every earlier run); NAME: the default version;
# "planning-detector-1.2" / "-1.3": versions 1.2 and 1.3, opt-in (any f"{NAME}-{v}" of VERSIONS is read)
DETECTORS = ("sg", NAME, f"{NAME}-1.2", f"{NAME}-1.3")

# One character for one: offsets into the normalised text are offsets into the original.
_CHARS = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u201b": "'", "\u02bc": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201f": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00a0": " ", "\u2009": " ", "\u202f": " ", "\u2007": " ", "\u3000": " ",
})


_TYPOGRAPHIC = re.compile("[" + "".join(map(chr, _CHARS)) + "]")


def normalise(text: str) -> str:
    """Typographic apostrophes, quotes, dashes and spaces as ASCII, one character for one.

    ASCII text is returned as it is, and other text is searched for the few characters that change (a regex
    scan in C), which costs a fraction of ``str.translate`` on non-ASCII text (it goes character by character).

    >>> normalise("Let\u201bs try \u2014 \u201cmaybe\u201d")
    'Let\\'s try - "maybe"'
    """
    if text.isascii():
        return text
    return _TYPOGRAPHIC.sub(lambda m: _CHARS[ord(m.group())], text)


# Where a step starts (consumed by the match, which then names the opener):
# a line start, the batch separator \x00, <think>, a sentence end / colon /
# semicolon followed by closing marks and a space, or a spaced dash; then
# indentation, list markers (-, *, +, >, bullets, headings, "1." "a)"),
# opening emphasis and quotes. After a question mark, "Yes" / "No" / "Right"
# answer the model's own question (content, annotation rule 7), so no step
# starts there. Every branch starts with its boundary character as a plain
# character (".", "!", ":", ";" each a branch of its own, not a class), so
# that the engine's search jumps from one boundary character to the next in
# C instead of trying the whole pattern at every position.
_SELF_ANSWER = r"(?!(?:yes|no|yeah|yep|nope|right|correct)(?![\w'-]))"
_CLOSING = r"[\"')\]*_]*[ \t]+"  # closing marks and a space after a sentence end
_STEP = (r"(?:\n(?<![?\n]\n)\n*|\x00|<think>\s*|" + "|".join(re.escape(c) + _CLOSING for c in ".!:;") +
         r"|-(?<=[ \t]-)-?[ \t]+|\?" + _CLOSING + _SELF_ANSWER + r"|\n(?<=\?\n)\n*" + _SELF_ANSWER + ")"
         r"[ \t]*(?:(?:[-*+>\u2022]|#{1,6}|\d{1,3}[.)]|\(?[a-h][.)])[ \t]+)*"
         r"(?:\*{1,2}|_{1,2}|[\"(\[])*")

# Opener shapes at a step start, by function. Patterns, not phrase lists:
# each names a construction ("let me" + any verb), not an instance.
_W = r"[a-z][a-z'-]*"  # one word
_TAGS = ("backtracking", "verification", "branching", "deduction", "other")  # the order openers are tried in
_GENERIC = {
    "deduction": [
        r"(?:so )?that (?:would|will|should|must) mean", r"(?:i|we) (?:know|remember|recall) that",
        r"(?:so|then) (?:that|this) (?:means|gives|implies)", r"which (?:would )?(?:mean|give)s?",
        r"(?:the )?result", r"conclusion", r"the key(?: here)? is(?: to)?", r"(?:in )?summary", r"so overall",
        r"putting (?:it|this|that) together",
        r"this (?:suggests|led me to|establishes|established|shows|reminds me of)",
        r"(?:logically|similarly|ultimately|consequently|overall)", r"in (?:our|this|that) case",
    ],
    "branching": [
        r"how about", r"what about", r"what if", r"or (?:maybe|perhaps|what if)",
        r"another (?:angle|approach|way|idea|thought|option|possibility|interpretation|thing|case)",
        r"(?:for example|for instance|e\.g\.|like)",
        r"(?:an? )?(?:idea|hypothesis|scenario|option|case|approach|possibility)"
        r"(?: \d{1,2}| [a-d])?(?=\s*[:.)*])",
        r"(?:scenario|option|case|hypothesis|approach|possibility|attempt) (?:\d{1,2}|[a-d])(?=\s*[:.)*])",
        r"let(?:'s| me) (?:go with|assume|say|suppose|consider|try|pick|choose|guess)",
        r"i(?:'ll| will) (?:go with|try|assume|pick|choose)", r"i (?:could|might) (?:also )?" + _W,
        r"(?:alternatively|or else|instead)", r"(?:possible|potential) (?:approach|interpretation)s?",
        r"(?:the )?best (?:approach|way|option) (?:is|would be)(?: to)?", r"that way",
    ],
    "backtracking": [
        r"(?:but |hmm,? |oh,? |no,? )?wait", r"hold on", r"actually", r"oops", r"hmm, (?:but|no)",
        r"(?:no,? )?that(?:'s| is) not (?:right|correct|it)", r"i (?:was|got (?:it|that)) wrong",
        r"(?:that|this|it|something)(?:'s| is| does(?:n't| not)| can(?:'t|not)| did(?:n't| not)| is(?:n't| not))?"
        r" (?:seems?|looks?|feels?|sounds?|be|add up|make sense|work)(?: (?:right|correct|off|wrong|quite right))?",
        r"i (?:think i )?(?:made|make) (?:a |an )?(?:mistake|error)", r"however", r"but since",
        r"let me (?:re-?think|re-?consider|re-?do|re-?evaluate|re-?examine|correct)", r"on second thought",
        r"(?:still )?not (?:matching|quite|right|correct)", r"nope",
    ],
    "verification": [
        r"let(?:'s| me) (?:check|verify|double[- ]check|make sure|confirm|test|re-?check|sanity[- ]check)",
        r"(?:i|we) should (?:also )?(?:check|verify|double[- ]check|make sure|confirm|test)",
        r"(?:to )?(?:check|verify|confirm|double[- ]check)(?=\s*[:,])", r"(?:sanity|quick|final) check",
        r"(?:checking|verifying|verification|double[- ]checking|self-check|check)(?=\s*[:.*])",
        r"(?:yes|yep|yeah),? (?:that|this|it) (?:works|matches|checks out|is (?:right|correct))",
        r"(?:that|this|it) (?:works|checks out|matches|could work|would work|should work|was consistent)",
        r"(?:looks|seems) (?:right|good|correct)", r"(?:yep|yes),? definitely",
    ],
    "other": [
        r"(?:okay|ok|alright|all right|right|yeah|hmm+|so|now|well|oh|ah|first|next|also|finally|then)"
        r"(?=[,.!:\s])(?:,? (?:so|now|then|first|next|also|okay|ok))?",
        r"let(?:'s| me) " + _W, r"(?:i|we) (?:should|need to|have to|want to|must|'ll|will) (?:also )?" + _W,
        r"(?:i|we)(?:'m| am|'re| are) (?:trying|going|supposed|asked|being asked) to " + _W,
        r"(?:i|we) (?:think|guess|suppose|wonder|recall|remember)",
        r"(?:the|my) (?:goal|task|plan|question|strategy) is",
        r"(?:the )?(?:user|problem|question) (?:wants|asks|is asking|says|is about)",
        r"(?:analy[sz]e|understand|re-?read|break down|identify|outline|draft|plan|review|recap)"
        r" (?:the )?(?:request|problem|question|task|constraints?|requirements?|goal)",
        r"(?:step|part|phase) \d{1,2}",
        r"(?:goal|plan|strategy|approach|decision|key (?:idea|insight|point))(?=\s*[:.*?])",
        r"(?:to (?:start|begin|summari[sz]e|recap|find))", r"(?:first|next|finally),? (?:i|we|let's|let me)",
        r"the next step (?:is|was)(?: to)?", r"here's (?:what|how|my)",
        r"but(?=\s+(?:i|we|let's|let me|maybe|perhaps|actually|wait)(?![\w'-]))",
        r"(?:note|compute|re-?read|thinking process|task)(?=\s*[:.*])",
        # A heading or bold label that names a move: a gerund or a process word (its colon or closing ** follows).
        r"(?:[a-z]+ing|determine|identify|analy[sz]e|draft|refine|final polish|task|goal|plan)"
        r"(?=[^\n.]{0,60}?(?::|\*\*))",
    ],
}

# Where a steering clause ends (annotation rule 1: "at the object of the
# steering verb, or at the first word that belongs to the problem"). A
# grammar of closed classes, not a phrase list: after an opener the clause
# runs on through
#   * discourse markers, planning verbs, particles, complementizers and
#     metalanguage nouns (_CORE: "so", "figure out", "about", "if", "this
#     problem"), a clause may end on one;
#   * subjects, auxiliaries, determiners and a few adjectives (_LINK: "I",
#     "need to", "a better"), only when a _CORE word or a verb follows:
#     "Okay, so I" is "Okay, so";
#   * a first-person subject with its auxiliaries and the verb after them,
#     whatever the verb (_SUBJECT: "Maybe I can *incorporate*", "I'll
#     *create*"), the verb of a steering clause being open-class;
# and stops at the first other word: its content or object ("Let me check
# *B's* statement").
_LINK_WORDS = (
    "i i'm i've i'll i'd we we're we've we'll you need needs to should must can could will would might may "
    "am is are was be been want wanted going gonna trying supposed asked also just really probably still "
    "the a an my our some better different other another bit good little closer quick more carefully this it there "
    "with for in of from on by but"
)
_CORE_WORDS = (
    "let let's me us now then so first next finally okay ok alright hmm well actually maybe perhaps quickly "
    "try tried figure find think thinking see check verify double-check make sure confirm recall remember "
    "know consider look start begin compute calculate determine understand work go break analyze analyse "
    "approach tackle solve list write count compare reconsider re-examine reevaluate re-evaluate test plug "
    "substitute visualize imagine assume suppose evaluate identify outline summarize recap clarify parse read "
    "re-read reread explore brainstorm focus trace sketch set organize recount redo rethink revisit use apply "
    "out about at through up down over back into like "
    "here again problem question puzzle case terms way approach step steps idea part thing "
    "things sense logic logical goal plan user request task options possibilities"
)
# A complementizer ends the clause: what follows is the proposition, content ("whether *I watered*").
_END_WORDS = "if whether that"
_SUBJ = r"(?:i|we|let me|let's)(?:'m|'ll|'ve|'d)?"
_AUX = r"(?:will|can|could|should|might|must|may|would|need to|have to|want to|going to|trying to|has to|" \
    r"also|just|now|then|first|probably|really|still|definitely|actually|to|[a-z]+ly)"
_PARTICLE = r"(?:with|on|at|about|for|from|into|out|up|down|through|over|back|of)"
# a determiner or a number starts content; a copula or a negation is no steering verb
_NOT_VERB = r"(?!(?:the|a|an|my|our|their|his|her|its|this|these|those|\d|was|were|am|is|are|didn't|don't|doesn't|" \
    r"wasn't|am|here|there|sorry|not|so|someone|something|another|they|they're|it|it's|that|there's)(?![\w'-]))"


def _words(words: str) -> str:
    """One of ``words`` as a whole word, as a character trie: the engine follows one path, not 100 branches."""
    trie: dict = {}
    for word in set(words.split()):
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _trie(trie) + r"(?![\w'-])"


def _trie(node: dict) -> str:
    branches = [re.escape(ch) + _trie(node[ch]) for ch in sorted(node) if ch]
    if "" in node:
        branches.append("")
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


_SEP = r",?(?:[ \t]+\n?|\n)[ \t]*"  # a space or one line break (wrapped text), after an optional comma
_VERB = f"{_NOT_VERB}[a-z][a-z'-]*(?![\\w'-])(?:{_SEP}{_PARTICLE}(?![\\w'-]))?"
_SUBJECT = f"{_SUBJ}(?:{_SEP}{_AUX})*{_SEP}{_VERB}"
# After a modal, "to", "let me" or "maybe", the next word is the clause's verb, whatever it is.
_BEFORE_VERB = "|".join(f"(?<={w})" for w in ("can", "could", "should", "will", "'ll", "might", "must", "would",
                                              " to", " me", "let's", "now", "maybe", "perhaps"))
_CHAIN = f"(?:(?:{_SEP}{_words(_LINK_WORDS)})*{_SEP}{_words(_CORE_WORDS)}" \
    f"|{_SEP}{_SUBJECT}|(?:{_BEFORE_VERB}){_SEP}{_VERB})*"
# What may close the whole clause, after any further openers: a complementizer, or a pronoun before punctuation.
_CLOSE = f"(?:{_SEP}{_words(_END_WORDS)}|[ \\t]+(?:that|this|it)(?=[ \\t]*[.!?;:,]))?"  # "Let me double-check that."
# Version 1.1: options on top of 1.0, each measured by cross-validation over the genuine dev half grouped by
# source repository (bench/detector_cv.py; docs/planning-detector.md); OPTIONS are the ones that won.
# ``PlanningDetector(sg, options=())`` is version 1.0.
#   order:     (not kept: +0.002 recall, and the mask then took 18.8-20.0 ms) a function's opener shapes are tried
#              before the SG set's phrases ("So that would mean", not "So")
#   label:     a label may carry a parenthesis before its colon ("*Option 1 (Too brief):*"); "Alternative:"
#   chain:     the clause runs on through "to <verb>", "how to <verb>" ("I tried to deduce")
#   user:      "the user / problem / question wants, says, asks, needs, requires" ("Okay, the user wants")
#   ordinal:   "First" / "Second" / "Last" + a word other than a subject is content ("First sentence sets")
#   narrative: narrative summaries' plan statements ("My plan is to", "Ultimately, the goal is to")
#   gerund:    a gerund after "on", "by", "about", "with" ("focusing on pinpointing", "start by brainstorming")
#   leadin:    (not kept, see the docs) a clause of 2-7 words that introduces a sub-list, its colon ending the
#              line ("The pattern should match:")
#   heading:   (not kept: precision) a bold or heading label that opens with a move, marked up to its colon
#   moves:     (not kept: no effect on dev) more move words as labels ("*Critique:*", "**Formulate ...:**")
_LABEL_END = r"(?=\s*(?:\([^)\n]{0,40}\)\s*)?[:.)*])"  # "*Option 1 (Too brief):*"
_CHAIN_PLUS = [f"{_SEP}(?:how{_SEP})?to{_SEP}{_VERB}"]
_CHAIN_USER = ["(?:(?<=user)|(?<=problem)|(?<=question)|(?<=task)|(?<=prompt))" + _SEP +
               "(?:wants|says|said|asks|asked|is asking|needs|requires|mentions|mentioned)(?![\\w'-])"]
_NOT_ORDINAL = (r"(?!(?:first|second|third|fourth|fifth|last)[ \t]+"
                r"(?!(?:i|we|let|let's|i'll|we'll|i'm|we're|i've|you)(?![\w'-]))[a-z])")
# Gemini-style narrative summaries: "My plan is to", "My current focus is", "Ultimately, the goal is to".
_NARRATIVE = (r"(?:ultimately,? )?(?:my|our|the) "
              r"(?:(?:current|main|primary|initial|immediate|overall|final|first|new) )?"
              r"(?:strategy|plan|approach|goal|focus|aim|priority|objective|next step|hypothesis|conclusion|"
              r"intention)"
              r"(?: (?:is|was|remains|now|here)(?: now)?(?: to)?)?")
# A heading or bold label that opens with a move, marked to its colon or closing emphasis (up to 6 words).
_MOVE = (r"(?:[a-z]+ing|determine|identify|analy[sz]e|draft|refine|final polish|task|goal|plan|critique|"
         r"refinement|revision|self-correction|correction|evaluat(?:e|ion)|assess(?:ment)?|reflection|observation|"
         r"consideration|interpretation|outline|summary|decision|verdict|conclusion|formulate|construct|structure|"
         r"review|revise|recap|verify|check|compare|select|choose|decide|address|consider|explore|clarify|"
         r"brainstorm|simulate|organi[sz]e|define|recall|apply|summari[sz]e|polish|initial thoughts?)")
_MOVE_1_0 = r"(?:[a-z]+ing|determine|identify|analy[sz]e|draft|refine|final polish|task|goal|plan)"
_HEADING = _MOVE + r"(?:[ \t-]+[a-z0-9/'&-]+){0,5}(?=[ \t]*(?::|\*\*))"
_GERUND = f"(?:(?<= by)|(?<= on)|(?<=about)|(?<=with)|{_SEP}(?:by|on|about|with)){_SEP}[a-z]{{3,}}ing(?![\\w'-])"
_SUBJ_WIDE = r"(?:i|we|let me|let's|they|the user)(?:'m|'ll|'ve|'d|'re)?"
# A short clause that introduces a sub-list (ends in a colon at the end of its line): "The pattern should match:"
_LEADIN = r"[a-z][a-z'-]*(?:,?[ \t]+[a-z][a-z'-]*){1,6}(?=:(?:\*{1,2})?[ \t]*\n)"
OPTION_NAMES = ("order", "label", "chain", "user", "ordinal", "narrative", "heading", "moves", "gerund", "they",
                "leadin")
OPTIONS = frozenset(("label", "chain", "user", "ordinal", "narrative", "gerund"))
_FENCE = re.compile(r"```[\s\S]*?(?:```|\Z)|`[^`\n]+`")  # code: never planning


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
