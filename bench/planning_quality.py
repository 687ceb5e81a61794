"""Planning detection in open-language reasoning: token precision and recall per SG set and function.

    python bench/planning_quality.py [--split held-out|dev] [--sg-set FILE ...] [--json OUT]

Scores every shipped preset (and any SG set file given) on the annotated
reasoning traces of ``assets/planning-eval/`` (README there: how they were
written and annotated) with :func:`training.hierarchy.planning_eval.score`: a token (the
bundled byte-level BPE tokenizer) is truly planning when it overlaps an
annotated phrase, predicted planning when it overlaps an occurrence of the
set's grams. Figures are on the held-out half unless ``--split dev``; the
presets were tuned on the dev half only.

Next to them, the same sets on the bundled task (1,000 base-policy
solutions to held-out problems with their exact planning spans, as in
``bench/mine_quality.py``), where the task's ground-truth set scores 1.0 /
1.0 by construction: an SG set is domain-specific, and this shows how each
one transfers.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.analysis import bundled_tokenizer  # noqa: E402
from training.hierarchy.grams import TAGS, SGSet, list_presets, load_preset, load_sg_set  # noqa: E402
from training.hierarchy.planning_eval import AnnotatedTrace, eval_split, score  # noqa: E402
from training.tasks import multiply, multiply_sg_set  # noqa: E402


def bundled_traces(n: int = 1000, seed: int = 1) -> list[AnnotatedTrace]:
    """Base-policy solutions to held-out problems, with their exact planning spans (no leading space)."""
    rng = random.Random(seed)
    problems = multiply.problems("eval")
    out = []
    for i in range(n):
        trace = multiply.write_trace(rng.choice(problems), rng)
        spans = []
        for s in trace.spans:
            piece = trace.text[s.start:s.end]
            spans.append((s.start + len(piece) - len(piece.lstrip()), s.end, s.tag))
        out.append(AnnotatedTrace(f"bundled-{i}", {}, trace.text, tuple(spans)))
    return out


def _fmt(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def run(split: str = "held-out", extra: list[str] = (), bundled_n: int = 1000) -> dict:
    sets: list[SGSet] = [load_preset(n) for n in list_presets()] + [load_sg_set(p) for p in extra] + \
        [multiply_sg_set()]
    traces = eval_split(split)
    tok = bundled_tokenizer()
    bundled = bundled_traces(bundled_n)
    rows = {}
    for sg in sets:
        s, b = score(sg, traces, tok), score(sg, bundled, tok)
        rows[sg.name] = {
            "grams": len(sg.grams),
            "precision": s.all.precision, "recall": s.all.recall,
            "by_function": {t: {"precision": c.precision, "recall": c.recall,
                                "annotated_tokens": c.found + c.missed} for t, c in s.by_tag.items()},
            "bundled_precision": b.all.precision, "bundled_recall": b.all.recall,
        }
    return {"split": split, "traces": len(traces), "spans": sum(len(t.spans) for t in traces),
            "tokens": score(sets[0], traces, tok).tokens, "bundled_solutions": bundled_n, "sets": rows}


def table(result: dict) -> str:
    lines = [f"Annotated traces: {result['traces']} ({result['split']} half), {result['spans']} planning "
             f"phrases, {result['tokens']:,} tokens (bundled tokenizer).", "",
             "| SG set | grams | precision | recall | bundled task: precision | recall |",
             "|---|---|---|---|---|---|"]
    for name, r in result["sets"].items():
        lines.append(f"| {name} | {r['grams']} | {_fmt(r['precision'])} | {_fmt(r['recall'])} | "
                     f"{_fmt(r['bundled_precision'])} | {_fmt(r['bundled_recall'])} |")
    lines += ["", "By function (precision of the set's grams of that function / recall of the annotated "
              "tokens of that function):", "",
              "| SG set | " + " | ".join(TAGS) + " |", "|---|" + "---|" * len(TAGS)]
    for name, r in result["sets"].items():
        cells = [f"{_fmt(r['by_function'][t]['precision'])} / {_fmt(r['by_function'][t]['recall'])}"
                 for t in TAGS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    counts = next(iter(result["sets"].values()))["by_function"]
    lines += ["", "Annotated tokens per function: " + ", ".join(f"{t} {counts[t]['annotated_tokens']}"
                                                              for t in TAGS) + "."]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", default="held-out", choices=("held-out", "dev"), help="half of the set to score")
    ap.add_argument("--sg-set", action="append", default=[], help="also score this SG set file (repeatable)")
    ap.add_argument("--bundled", type=int, default=1000, help="bundled-task solutions to score on")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    result = run(args.split, args.sg_set, args.bundled)
    print(table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
