"""How good are mined Strategic Grams? Scored against the bundled task's ground truth.

    python bench/mine_quality.py [--solutions 4000] [--eval 1000] [--seed 0] [--sweep]

1. Corpus: worked solutions written by the task's base policy for
   training-split problems (seeded); like the paper, only correct ones are
   mined. Mining uses the default settings (``lab.mine.MineConfig``).
2. Test set: other solutions, for held-out problems, with their exact
   planning spans.
3. Token level: a token (bundled tokenizer) is truly planning when it
   overlaps a ground-truth span; predicted planning when it overlaps an
   occurrence of a mined gram. Precision and recall over all tokens.
4. Phrase level: a mined phrase is correct when at least 90% of the
   characters it covers in the test set (or, if it never occurs there, in
   the corpus) lie inside ground-truth spans.

Scores are given on the correct test solutions (the population the miner
models: it only reads correct solutions) and on all test solutions (which
also hold the dead ends and give-ups of failed attempts; no correct
solution contains those phrases, so no miner of correct solutions can find
them). The shipped presets and the ground truth itself (1.0 / 1.0) are
scored the same way. The default settings run with several KMeans seeds;
``--sweep`` adds other k and percentiles (embeddings are cached, so only
clustering reruns).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.analysis import bundled_tokenizer  # noqa: E402
from training.hierarchy.grams import SGSet, list_presets, load_preset  # noqa: E402
from training.hierarchy.matching import matcher_for  # noqa: E402
from lab.mine import MineConfig, mine  # noqa: E402
from training.hierarchy.tokens import spans_to_mask, token_mask  # noqa: E402
from training.tasks import multiply, multiply_sg_set  # noqa: E402


def solutions(split: str, n: int, seed: int):
    rng = random.Random(seed)
    problems = multiply.problems(split)
    return [multiply.write_trace(rng.choice(problems), rng) for _ in range(n)]


def truth_spans(trace) -> list[tuple[int, int]]:
    """Ground-truth spans without the leading space each phrase is written with."""
    out = []
    for s in trace.spans:
        piece = trace.text[s.start:s.end]
        out.append((s.start + len(piece) - len(piece.lstrip()), s.end))
    return out


def score(sg: SGSet, test, corpus_texts) -> dict:
    tok = bundled_tokenizer()
    matcher = matcher_for(sg)
    tp = fp = fn = 0
    for trace in test:
        _, offsets, pred = token_mask(trace.text, tok, matcher)
        true = spans_to_mask(truth_spans(trace), offsets)
        tp += int((pred & true).sum())
        fp += int((pred & ~true).sum())
        fn += int((~pred & true).sum())
    # phrase level: characters each phrase covers, and how many lie inside the truth
    inside, covered = {}, {}
    for texts, truths in ((test, True), (corpus_texts, False)):
        for item in texts:
            text = item.text if truths else item[0]
            spans = truth_spans(item) if truths else item[1]
            truth = np.zeros(len(text), dtype=bool)
            for s, e in spans:
                truth[s:e] = True
            for s, e, phrase in matcher.occurrences(text):
                if truths or phrase not in covered:
                    covered.setdefault((phrase, truths), 0)
                    covered[(phrase, truths)] += e - s
                    inside[(phrase, truths)] = inside.get((phrase, truths), 0) + int(truth[s:e].sum())
    correct = judged = 0
    for phrase in {p for p, _ in covered}:
        key = (phrase, True) if (phrase, True) in covered else (phrase, False)
        judged += 1
        correct += inside[key] / covered[key] >= 0.9
    return {
        "token_precision": tp / (tp + fp) if tp + fp else float("nan"),
        "token_recall": tp / (tp + fn) if tp + fn else float("nan"),
        "phrase_precision": correct / judged if judged else float("nan"),
        "phrases": len(sg.grams),
        "phrases_found": judged,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--solutions", type=int, default=4000, help="corpus size (before keeping correct ones)")
    ap.add_argument("--eval", type=int, default=1000, help="test solutions")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sweep", action="store_true", help="also try several k and percentiles")
    ap.add_argument("--kmeans-seeds", type=int, default=3, help="default settings, repeated with these KMeans seeds")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    corpus = solutions("train", args.solutions, args.seed)
    correct = [t for t in corpus if t.correct]
    corpus_items = [(t.text, truth_spans(t)) for t in correct]
    test = solutions("eval", args.eval, args.seed + 1)
    report = {"corpus": len(corpus), "correct": len(correct), "test": len(test), "runs": []}

    test_correct = [t for t in test if t.correct]
    settings = [(MineConfig().k, MineConfig().percentile, s) for s in range(args.kmeans_seeds)]
    if args.sweep:
        settings += [(k, p, 0) for k in (5, 10) for p in (10, 20, 30)] + [(100, 10, 0), (100, 30, 0)]
    for k, pct, seed in settings:
        t0 = time.time()
        result = mine([t.text for t in correct], MineConfig(k=k, percentile=pct, seed=seed))
        row = {"k": k, "k_used": result.k, "percentile": pct, "kmeans_seed": seed,
               "seconds": round(time.time() - t0, 1),
               "correct": score(result.sg_set, test_correct, corpus_items),
               "all": score(result.sg_set, test, corpus_items)}
        report["runs"].append(row)
    report["presets"] = {name: {"correct": score(load_preset(name), test_correct, corpus_items),
                                "all": score(load_preset(name), test, corpus_items)} for name in list_presets()}
    report["ground_truth"] = {"correct": score(multiply_sg_set(), test_correct, corpus_items),
                              "all": score(multiply_sg_set(), test, corpus_items)}

    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"corpus: {report['correct']} correct of {report['corpus']} solutions; test: {report['test']} "
          f"solutions ({len(test_correct)} correct)")
    print(f"{'':<36} {'correct test solutions':^27}   {'all test solutions':^18}")
    print(f"{'SG set':<36} {'token P':>8} {'token R':>8} {'phrase P':>9}   {'token P':>8} {'token R':>8} "
          f"{'grams':>6}")

    def line(label, c, a):
        print(f"{label:<36} {c['token_precision']:8.3f} {c['token_recall']:8.3f} {c['phrase_precision']:9.3f}   "
              f"{a['token_precision']:8.3f} {a['token_recall']:8.3f} {c['phrases']:6d}")

    for row in report["runs"]:
        label = (f"mined k={row['k']} (used {row['k_used']}) top {row['percentile']:g}% "
                 f"seed {row['kmeans_seed']}")
        line(label, row["correct"], row["all"])
    for name, row in list(report["presets"].items()) + [("ground truth", report["ground_truth"])]:
        line(name, row["correct"], row["all"])


if __name__ == "__main__":
    main()
