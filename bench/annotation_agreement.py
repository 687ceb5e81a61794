"""How far do two annotators of the same traces agree? The human ceiling for the planning detector.

    python bench/annotation_agreement.py [FIRST SECOND] [--json OUT]

FIRST and SECOND are two annotations of the same traces in the format of
``assets/planning-eval/README.md`` (same ids, same text once the marks are
removed). Without arguments: ``held-out-4.txt`` and its second, independent
annotation ``held-out-4.second.txt`` (``assets/planning-eval/genuine/``,
SOURCES.md says how it was made).

Token level, with the scorer's rule (:func:`training.hierarchy.planning_eval.score`,
bundled tokenizer: a token is planning when it overlaps a span), it prints

* the second annotation scored against the first as if it were a detector,
  and the first against the second (precision and recall swap; F1 and
  Cohen's kappa over all tokens do not depend on the direction), with the
  share of the reference's phrases touched, each with a 95% bootstrap
  interval over traces;
* the share of tokens both mark that carry the same tag;
* the default planning detector scored against each annotation, so its
  figures sit beside the human ones: the humans' F1 is what agreement
  between two careful readers of the same rules looks like.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.analysis import bundled_tokenizer  # noqa: E402
from training.hierarchy.detector import NAME, VERSION, PlanningDetector  # noqa: E402
from training.hierarchy.grams import TAGS, load_preset  # noqa: E402
from training.hierarchy.planning_eval import EVAL_DIR, AnnotatedTrace, EvalSetError, load_traces  # noqa: E402
from training.hierarchy.tokens import backend_of, spans_to_mask  # noqa: E402

GENUINE = EVAL_DIR / "genuine"
FIRST = GENUINE / "held-out-4.txt"
SECOND = GENUINE / "held-out-4.second.txt"
BOOT = 2000  # bootstrap resamples over traces


def paired(first: Path, second: Path) -> list[tuple[AnnotatedTrace, AnnotatedTrace]]:
    """The traces of both files, matched by id; the texts must be identical once unmarked."""
    a, b = load_traces(first), load_traces(second)
    by_id = {t.id: t for t in b}
    if {t.id for t in a} != set(by_id):
        only = sorted({t.id for t in a} ^ set(by_id))
        raise EvalSetError(f"the two files hold different traces (ids in one only: {', '.join(only[:5])})")
    if not a:
        raise EvalSetError(f"{first}: no traces (each starts with a '### id=...' header)")
    pairs = [(t, by_id[t.id]) for t in a]
    for x, y in pairs:
        if x.text != y.text:
            at = next(i for i, (p, q) in enumerate(zip(x.text + "\0", y.text + "\1")) if p != q)
            raise EvalSetError(f"trace {x.id}: the texts differ from character {at} "
                               f"({x.text[at:at + 30]!r} vs {y.text[at:at + 30]!r})")
    return pairs


def _mask(spans, offsets) -> np.ndarray:
    return spans_to_mask(sorted((s, e) for s, e, *_ in spans), offsets)


def _tags(spans, offsets) -> np.ndarray:
    """(T,) index into TAGS of the span a token overlaps, -1 where none."""
    out = np.full(len(offsets), -1)
    for s, e, tag in spans:
        out[spans_to_mask([(s, e)], offsets)] = TAGS.index(tag)
    return out


def counts(pairs, tokenizer, detector=None) -> np.ndarray:
    """Per trace: [both, first only, second only, neither, first phrases, touched by second,
    second phrases, touched by first, both same tag, first-only tokens inside phrases the second touches];
    with ``detector`` it stands in for the second."""
    rows, backend = [], backend_of(tokenizer)
    for a, b in pairs:
        offsets = np.asarray(backend.encode(a.text, add_special_tokens=False).offsets).reshape(-1, 2)
        b_spans = detector.spans(a.text) if detector is not None else [(s, e) for s, e, _ in b.spans]
        ma, mb = _mask(a.spans, offsets), _mask(b_spans, offsets)
        inside_a = [spans_to_mask([(s, e)], offsets) for s, e, _ in a.spans]
        touched_ab = sum(bool((mb & inside).any()) for inside in inside_a)
        shared = np.zeros(len(offsets), dtype=bool)  # tokens of the first's phrases that the second touches
        for inside in inside_a:
            if (mb & inside).any():
                shared |= inside
        inner = int((shared & ~mb).sum())
        touched_ba = sum(bool((ma & spans_to_mask([(s, e)], offsets)).any()) for s, e in b_spans)
        same = 0
        if detector is None:
            ta, tb = _tags(a.spans, offsets), _tags(b.spans, offsets)
            same = int(((ta == tb) & ma & mb).sum())
        rows.append([(ma & mb).sum(), (ma & ~mb).sum(), (~ma & mb).sum(), (~ma & ~mb).sum(),
                     len(a.spans), touched_ab, len(b_spans), touched_ba, same, inner])
    return np.asarray(rows, dtype=np.int64)  # (traces, 10)


def measures(c: np.ndarray) -> dict[str, float]:
    """Agreement figures from summed per-trace counts (second scored against first)."""
    both, a_only, b_only, neither, pa, tab, pb, tba, same, inner = (int(x) for x in c.sum(axis=0))
    n = both + a_only + b_only + neither
    precision = both / (both + b_only) if both + b_only else math.nan
    recall = both / (both + a_only) if both + a_only else math.nan
    f1 = 2 * both / (2 * both + a_only + b_only) if both + a_only + b_only else math.nan
    observed = (both + neither) / n
    expected = ((both + a_only) * (both + b_only) + (neither + a_only) * (neither + b_only)) / n ** 2
    kappa = (observed - expected) / (1 - expected) if expected < 1 else math.nan
    return {"precision": precision, "recall": recall, "f1": f1, "kappa": kappa,
            "touched_first": tab / pa if pa else math.nan, "touched_second": tba / pb if pb else math.nan,
            "same_tag": same / both if both else math.nan, "tokens": n, "first_tokens": both + a_only,
            "second_tokens": both + b_only, "first_phrases": pa, "second_phrases": pb,
            "first_only_tokens": a_only, "first_only_in_shared_phrases_tokens": inner}


def intervals(c: np.ndarray, seed: int = 0) -> dict[str, tuple[float, float]]:
    """95% percentile bootstrap intervals over traces for each figure of :func:`measures`."""
    rng = np.random.default_rng(seed)
    draws = [measures(c[rng.integers(0, len(c), len(c))]) for _ in range(BOOT)]
    return {k: (float(np.nanpercentile([d[k] for d in draws], 2.5)),
                float(np.nanpercentile([d[k] for d in draws], 97.5))) for k in draws[0]}


def report(first: Path, second: Path) -> dict:
    pairs = paired(first, second)
    tok = bundled_tokenizer()
    detector = PlanningDetector(load_preset("reasoning"))
    out = {"first": first.name, "second": second.name, "traces": len(pairs), "bootstrap": BOOT}
    swapped = [(b, a) for a, b in pairs]  # the second annotation as the reference
    for key, c in (("second_vs_first", counts(pairs, tok)), ("first_vs_second", counts(swapped, tok)),
                   ("detector_vs_first", counts(pairs, tok, detector)),
                   ("detector_vs_second", counts(swapped, tok, detector))):
        m, ci = measures(c), intervals(c)
        out[key] = {k: {"value": v, "ci95": ci[k]} if not k.endswith(("tokens", "phrases")) else v
                    for k, v in m.items()}
    return out


def _fmt(entry) -> str:
    return f"{entry['value']:.3f} [{entry['ci95'][0]:.3f}, {entry['ci95'][1]:.3f}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("first", nargs="?", type=Path, default=FIRST, help="the reference annotation")
    p.add_argument("second", nargs="?", type=Path, default=SECOND, help="the other annotation")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = p.parse_args(argv)
    if args.second == SECOND and args.first != FIRST:  # one file given: its partner is not held-out-4's
        p.error("give both annotation files (FIRST SECOND), or neither for held-out-4 and its second annotation")
    try:
        out = report(args.first, args.second)
    except EvalSetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    h = out["second_vs_first"]
    print(f"{out['traces']} traces; first {out['first']} ({h['first_phrases']} phrases, {h['first_tokens']} "
          f"planning tokens), second {out['second']} ({h['second_phrases']} phrases, {h['second_tokens']}); "
          f"{h['tokens']} tokens; 95% bootstrap intervals over traces\n")
    rows = (("second annotation vs first", "second_vs_first"), ("first annotation vs second", "first_vs_second"),
            (f"{NAME}-{VERSION} vs first", "detector_vs_first"),
            (f"{NAME}-{VERSION} vs second", "detector_vs_second"))
    print("| scored | reference | precision | recall | F1 | kappa | phrases touched |")
    print("|---|---|---|---|---|---|---|")
    for label, key in rows:
        r = out[key]
        who, ref = label.split(" vs ")
        print(f"| {who} | {ref} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | {_fmt(r['f1'])} | "
              f"{_fmt(r['kappa'])} | {_fmt(r['touched_first'])} |")
    print(f"\nfirst's phrases the second touches: {_fmt(h['touched_first'])}; "
          f"second's phrases the first touches: {_fmt(h['touched_second'])}")
    print(f"tokens both annotators mark that carry the same tag: {_fmt(h['same_tag'])}")
    print(f"tokens only the first marks: {h['first_only_tokens']}, of which {h['first_only_in_shared_phrases_tokens']} "
          f"lie inside phrases the second also marks (its spans there are shorter or split) and "
          f"{h['first_only_tokens'] - h['first_only_in_shared_phrases_tokens']} in phrases it does not mark")
    if args.json:
        try:
            args.json.write_text(json.dumps(out, indent=1) + "\n")
        except OSError as err:
            print(f"error: cannot write {args.json} ({err.strerror or err})", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
