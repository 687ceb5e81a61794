"""Mining at scale: 10,000 solutions of about 200 words, timed, with peak memory.

    python bench/mine_scale.py [--solutions 10000] [--words 200]

The corpus is seeded and synthetic: each solution is worked multiplication
steps from the bundled task plus filler sentences drawn from a Zipf-
distributed vocabulary of 5,000 made-up words, so that the number of
distinct n-grams is like real text, not like the small task vocabulary.
The embedding cache is a fresh temporary folder, so the time includes
embedding from scratch (a rerun with other clustering settings skips it).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.mine import MineConfig, mine  # noqa: E402
from training.tasks import multiply  # noqa: E402


def make_corpus(n: int, words: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    syllables = ["ka", "lo", "mi", "ren", "sa", "tu", "vel", "no", "ri", "dan", "pe", "sho", "gu", "tra", "li"]
    vocab = sorted({"".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))) for _ in range(20000)})[:5000]
    weights = [1 / (r + 1) for r in range(len(vocab))]
    problems = multiply.problems("train")
    texts = []
    for _ in range(n):
        parts, count = [], 0
        while count < words:
            if rng.random() < 0.4:
                p = rng.choice(problems)
                piece = p.prompt + multiply.write_trace(p, rng).text
            else:
                piece = " ".join(rng.choices(vocab, weights, k=rng.randint(6, 14))).capitalize() + "."
            parts.append(piece)
            count += len(piece.split())
        texts.append(" ".join(parts))
    return texts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--solutions", type=int, default=10000)
    ap.add_argument("--words", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--min-docs", type=int, default=0, help="as lab.mine (0: 0.5%% of the solutions)")
    args = ap.parse_args()
    texts = make_corpus(args.solutions, args.words, args.seed)
    n_words = sum(len(t.split()) for t in texts)
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.time()
        result = mine(texts, MineConfig(cache_dir=cache, min_docs=args.min_docs))
        total = time.time() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}")
    print(f"corpus: {len(texts):,} solutions, {n_words / len(texts):.0f} words each on average")
    print(f"n-grams kept: {len(result.ngrams):,}; clusters {result.k}; grams selected {len(result.sg_set.grams):,}")
    print("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items()))
    print(f"total: {total:.1f} s ({total / 60:.2f} min); peak memory (max RSS): {peak_mb:,.0f} MB")
    for note in result.notes:
        print(f"note: {note}")


if __name__ == "__main__":
    main()
