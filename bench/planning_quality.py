"""Planning detection in reasoning traces: token precision and recall per set, detector, function and family.

    python bench/planning_quality.py [--sg-set FILE ...] [--bundled N] [--json OUT] [--results OUT]
    python bench/planning_quality.py --eval-file PATH [--sg-set FILE ...]

Scores every shipped SG preset, the bundled task's ground-truth set and the
planning detector (``training/hierarchy/detector.py``, on the ``reasoning``
preset; versions 1.0, 1.1, 1.2 and 1.3) with :func:`training.hierarchy.planning_eval.score`: a token (the
bundled byte-level BPE tokenizer) is truly planning when it overlaps an
annotated phrase, predicted planning when it overlaps what the scorer marks.

Without ``--eval-file``, one row per set, cleanest first (SOURCES.md in
``assets/planning-eval/genuine/`` says where each came from):

* genuine held-out-5: gathered and annotated blind after every version was
  built, from new repositories, scored once: clean for 1.1, 1.2 and 1.3;
* genuine held-out-4: gathered and annotated blind while 1.3 was built on
  the other four sets, from new repositories: the clean test of 1.1, 1.2
  **and** 1.3;
* genuine held-out-3: gathered and annotated blind while 1.2 was built on
  the other three: clean for 1.1 and 1.2; 1.3's rules were written after
  reading it;
* genuine held-out-2: gathered blind after 1.1 was built: clean for 1.1;
  1.2's classifier trained on it;
* held-out-2 to held-out-5 pooled (clean for 1.1; the default detector's headline);
* genuine held-out, and its traces from repositories not in dev: read while
  1.1 was built; genuine dev: 1.0 and 1.1 were tuned on it;
* self-written held-out and dev (``assets/planning-eval/``).

1.2's classifier was trained on dev, held-out and held-out-2, so its rows
there are training-set figures; its cross-validated evidence is
``bench/detector_cv.py --pool``. 1.3's rules were written after every set
here had been read: no row is out-of-sample for it (the same command has
its cross-validated choice of rules). On each set, the detector and the
``reasoning`` preset per function, per model family and maths vs non-maths,
and the share of annotated phrases touched (a token marked) and fully
covered; and every scorer on the bundled task (1,000 base-policy solutions
with their exact planning spans), where the task's ground-truth set scores
1.0 / 1.0 by construction.

``--results OUT`` writes the default detector's figures per model family
(from the pooled blind sets where the family is there, else the first
held-out half, else dev, marked so) as the JSON that the app's Train and
Inspect tabs read (``assets/planning-eval/results.json``).

With ``--eval-file PATH`` (any file in the annotation format of
``assets/planning-eval/README.md``), the same figures on that file, ending
with one line per scorer: ``NAME P=0.xx R=0.xx`` (token level).
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
from training.hierarchy.detector import NAME, VERSION, PlanningDetector  # noqa: E402
from training.hierarchy.grams import TAGS, list_presets, load_preset, load_sg_set  # noqa: E402
from training.hierarchy.planning_eval import (EVAL_DIR, AnnotatedTrace, EvalSetError, Score,  # noqa: E402
                                              load_traces, score)
from training.tasks import multiply, multiply_sg_set  # noqa: E402

GENUINE_DIR = EVAL_DIR / "genuine"


def sets(genuine_dir: Path = GENUINE_DIR) -> tuple[tuple[str, Path], ...]:
    """The rows: the fresh held-out-5 set (gathered and annotated blind after every version was built),
    held-out-4 (gathered and annotated blind while detector 1.3 was built on the other four: the clean test
    of 1.3), held-out-3 (the clean test of 1.2), held-out-2 (the clean test
    of 1.1; 1.2's classifier trained on it), genuine held-out and dev halves, self-written held-out and dev
    halves."""
    return (("genuine held-out-5 (fresh)", genuine_dir / "held-out-5.txt"),
            ("genuine held-out-4", genuine_dir / "held-out-4.txt"),
            ("genuine held-out-3", genuine_dir / "held-out-3.txt"),
            ("genuine held-out-2", genuine_dir / "held-out-2.txt"),
            ("genuine held-out", genuine_dir / "held-out.txt"), ("genuine dev", genuine_dir / "dev.txt"),
            ("self-written held-out", EVAL_DIR / "held-out.txt"), ("self-written dev", EVAL_DIR / "dev.txt"))
_MATHS = {"maths", "math", "math-word", "competition", "arithmetic", "algebra", "geometry"}


UNSEEN = "genuine held-out, repositories not in dev"


def unseen_repositories(held_out: list[AnnotatedTrace], dev_file: Path) -> list[AnnotatedTrace]:
    """The held-out traces from repositories that no dev trace came from (the split is by source file, and
    some repositories give a file to each half)."""
    if not dev_file.exists():
        return []
    seen = {t.meta.get("repo") for t in load_traces(dev_file)}
    return [t for t in held_out if t.meta.get("repo") and t.meta["repo"] not in seen]


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


def scorers(extra: list[str] = ()) -> dict[str, object]:
    """Name -> SG set or detector: every preset, files given, the task's ground truth, the detector."""
    out: dict[str, object] = {n: load_preset(n) for n in list_presets()}
    for path in extra:
        sg = load_sg_set(path)
        out[sg.name] = sg
    gt = multiply_sg_set()
    out[gt.name] = gt
    out[f"{NAME}-1.0"] = PlanningDetector(load_preset("reasoning"), options=())  # 1.1 without its options
    out[f"{NAME}-{VERSION}"] = PlanningDetector(load_preset("reasoning"))
    out[f"{NAME}-1.2"] = PlanningDetector(load_preset("reasoning"), version="1.2")  # 1.1 + step-clause classifier
    out[f"{NAME}-1.3"] = PlanningDetector(load_preset("reasoning"), version="1.3")  # 1.1 + clause-end post-pass
    return out


def family(meta: dict) -> str:
    """The model family of a trace (``family=``; the self-written set's ``style=``), or ``unknown``."""
    return meta.get("family") or (f"style:{meta['style']}" if meta.get("style") else "unknown")


def maths(meta: dict) -> str:
    domain = meta.get("domain", "")
    if not domain:
        return "unknown"
    return "maths" if domain in _MATHS else "non-maths"


def figures(s: Score) -> dict:
    return {"precision": s.all.precision, "recall": s.all.recall, "tokens": s.tokens, "phrases": s.phrases,
            "touched": s.touched / s.phrases if s.phrases else float("nan"),
            "covered": s.covered / s.phrases if s.phrases else float("nan"),
            "by_function": {t: {"precision": c.precision, "recall": c.recall,
                                "annotated_tokens": c.found + c.missed} for t, c in s.by_tag.items()}}


def evaluate(traces: list[AnnotatedTrace], named: dict[str, object], tok, detail: tuple[str, ...]) -> dict:
    """Figures of every scorer on ``traces``, and per family and maths / non-maths for those in ``detail``."""
    out = {"traces": len(traces), "scorers": {}}
    groups = {"family": family, "maths": maths}
    for name, sg in named.items():
        row = figures(score(sg, traces, tok))
        if name in detail:
            for key, of in groups.items():
                row[key] = {}
                for value in sorted({of(t.meta) for t in traces}):
                    subset = [t for t in traces if of(t.meta) == value]
                    row[key][value] = {**figures(score(sg, subset, tok)), "traces": len(subset)}
        out["scorers"][name] = row
    return out


def _f(x: float) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def report(title: str, result: dict, detail: tuple[str, ...]) -> list[str]:
    rows = result["scorers"]
    first = next(iter(rows.values()))
    lines = [f"## {title}: {result['traces']} traces, {first['phrases']} annotated phrases, "
             f"{first['tokens']:,} tokens", "",
             "| scorer | precision | recall | phrases touched | fully covered |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {_f(r['precision'])} | {_f(r['recall'])} | {_f(r['touched'])} | {_f(r['covered'])} |"
              for n, r in rows.items()]
    lines += ["", "By function (precision of what the scorer tags with that function / recall of the annotated "
              "tokens of that function):", "", "| scorer | " + " | ".join(TAGS) + " |", "|---|" + "---|" * len(TAGS)]
    for n, r in rows.items():
        if n in detail:
            lines.append(f"| {n} | " + " | ".join(f"{_f(r['by_function'][t]['precision'])} / "
                                                  f"{_f(r['by_function'][t]['recall'])}" for t in TAGS) + " |")
    lines += ["", "Annotated tokens per function: " + ", ".join(
        f"{t} {first['by_function'][t]['annotated_tokens']}" for t in TAGS) + "."]
    for key, head in (("family", "model family"), ("maths", "maths vs non-maths")):
        lines += ["", f"By {head} (precision / recall, phrases touched):", "",
                  f"| {head} | traces | phrases | " + " | ".join(n for n in rows if n in detail) + " |",
                  "|---|---|---|" + "---|" * len(detail)]
        groups = next(r[key] for n, r in rows.items() if n in detail)
        for value, g in groups.items():
            cells = [f"{_f(rows[n][key][value]['precision'])} / {_f(rows[n][key][value]['recall'])}, "
                     f"{_f(rows[n][key][value]['touched'])}" for n in rows if n in detail]
            lines.append(f"| {value} | {g['traces']} | {g['phrases']} | " + " | ".join(cells) + " |")
    return lines + [""]


# The genuine rows, cleanest and largest first, and what each is to the default detector (1.1): held-out-2 to
# -5 were gathered blind after it was built (pooled: BLIND); the first held-out half was read while it was
# built; dev tuned it.
BLIND = "genuine blind to 1.1 (held-out-2 to held-out-5)"
BLIND_FILES = ("held-out-2.txt", "held-out-3.txt", "held-out-4.txt", "held-out-5.txt")
SPLITS = ((BLIND, "blind"), ("genuine held-out-5 (fresh)", "held-out-5"), ("genuine held-out-4", "held-out-4"),
          ("genuine held-out-3", "held-out-3"),
          ("genuine held-out-2", "held-out-2"),
          ("genuine held-out", "held-out"), ("genuine dev", "dev"))


def results_json(by_set: dict[str, dict], det: str) -> dict:
    """The detector's figures per model family, for the app: from the cleanest set that has the family."""
    families: dict[str, dict] = {}
    for label, split in SPLITS:
        for fam, r in by_set.get(label, {}).get("scorers", {}).get(det, {}).get("family", {}).items():
            families.setdefault(fam, {"split": split, "precision": r["precision"], "recall": r["recall"],
                                      "traces": r["traces"], "phrases": r["phrases"]})
    overall = {split: {"precision": by_set[label]["scorers"][det]["precision"],
                       "recall": by_set[label]["scorers"][det]["recall"]}
               for label, split in SPLITS if label in by_set}
    return {"schema": "hicra-lab/planning-results", "detector": NAME, "version": VERSION, "sg_set": "reasoning",
            "command": "python bench/planning_quality.py --results assets/planning-eval/results.json",
            "token_level": True, "genuine": overall, "families": families}


def _clean(x):
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    return x


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--eval-file", default=None, help="score every scorer on this annotated file only")
    ap.add_argument("--sg-set", action="append", default=[], help="also score this SG set file (repeatable)")
    ap.add_argument("--bundled", type=int, default=1000, help="bundled-task solutions to score on (0 = skip)")
    ap.add_argument("--json", default=None, help="also write all figures to this JSON file")
    ap.add_argument("--results", default=None, help="write the detector's per-family figures (for the app) here")
    ap.add_argument("--genuine-dir", default=str(GENUINE_DIR), help="folder of the genuine set's dev.txt and "
                    "held-out.txt (default assets/planning-eval/genuine)")
    args = ap.parse_args(argv)
    tok = bundled_tokenizer()
    named = scorers(args.sg_set)
    det = f"{NAME}-{VERSION}"
    detail = (det, f"{NAME}-1.2", f"{NAME}-1.3", "reasoning")
    if args.eval_file:
        try:
            traces = load_traces(args.eval_file)
        except EvalSetError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        if not traces:
            print(f"error: {args.eval_file}: no traces (each starts with a '### id=...' header)", file=sys.stderr)
            return 2
        result = evaluate(traces, named, tok, detail)
        print("\n".join(report(args.eval_file, result, detail)))
        for name, r in result["scorers"].items():
            print(f"{name} P={r['precision']:.2f} R={r['recall']:.2f}")
        if args.json:
            Path(args.json).write_text(json.dumps(_clean(result), indent=2) + "\n")
        return 0
    by_set: dict[str, dict] = {}
    for label, path in sets(Path(args.genuine_dir)):
        if not path.exists():
            print(f"## {label}: not found ({path}); skipped\n")
            continue
        by_set[label] = evaluate(load_traces(path), named, tok, detail)
        print("\n".join(report(label, by_set[label], detail)))
        blind = [Path(args.genuine_dir) / f for f in BLIND_FILES]
        if path == blind[0] and all(p.exists() for p in blind):
            # all gathered blind after detector 1.1 was built: its clean test, pooled (not clean for 1.2 or 1.3)
            by_set[BLIND] = evaluate([t for p in blind for t in load_traces(p)], named, tok, detail)
            print("\n".join(report(BLIND, by_set[BLIND], detail)))
        if label == "genuine held-out":  # the strictest row: no repository that a dev trace came from
            unseen = unseen_repositories(load_traces(path), Path(args.genuine_dir) / "dev.txt")
            if unseen:
                by_set[UNSEEN] = evaluate(unseen, named, tok, detail)
                print("\n".join(report(UNSEEN, by_set[UNSEEN], detail)))
    if args.bundled:
        bundled = bundled_traces(args.bundled)
        print(f"## Bundled task: {args.bundled} base-policy solutions with exact planning spans\n")
        print("| scorer | precision | recall |\n|---|---|---|")
        for name, sg in named.items():
            s = score(sg, bundled, tok)
            by_set.setdefault("bundled", {"scorers": {}})["scorers"][name] = figures(s)
            print(f"| {name} | {_f(s.all.precision)} | {_f(s.all.recall)} |")
        print()
    print("Summary (token level):")
    for label, r in by_set.items():
        d = r["scorers"][det]
        print(f"{label}: {det} P={d['precision']:.2f} R={d['recall']:.2f}, "
              f"phrases touched {_f(d['touched']) if 'touched' in d else '-'}")
    if args.json:
        Path(args.json).write_text(json.dumps(_clean(by_set), indent=2) + "\n")
    if args.results:
        Path(args.results).write_text(json.dumps(_clean(results_json(by_set, det)), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
