"""The planning detector's text normalisation and regular-expression building blocks.

:func:`normalise` (typographic apostrophes, quotes, dashes and spaces as ASCII, one character for one) and
the pattern strings that :class:`training.hierarchy.detector.PlanningDetector` puts together per SG set:
where a step starts (``_STEP``), the opener shapes by function (``_GENERIC``), the closed-class grammar a
steering clause runs on through (``_CHAIN``, ``_SUBJECT``, ``_CLOSE``, built by ``_words``), version 1.1's
options (``OPTION_NAMES``, ``OPTIONS`` and their patterns) and the code guard (``_FENCE``). Strings and
compiled regexes only, no state; :mod:`training.hierarchy.detector` says what each rule is for and imports
them from here.
"""

from __future__ import annotations

import re

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
