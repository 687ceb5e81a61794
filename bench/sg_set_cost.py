"""Benchmark: what one highlight costs as an uploaded SG set grows (why training/paths.py caps it).

    python bench/sg_set_cost.py [--sizes 1000,5000,20000,100000]

For each size, a seeded set of distinct three-word phrases is built, then one highlight of a short text is
timed the way the Inspect tab runs it (``lab.analysis.analyse_text``): the first call builds the matcher,
which is most of the cost, and a second call with the same set reuses it. A highlight holds the Inspect
queue while it runs, so the first-call time is what one upload costs every other visitor.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.analysis import analyse_text  # noqa: E402
from training.hierarchy.grams import parse_sg_set  # noqa: E402
from training.paths import MAX_SG_PHRASES  # noqa: E402

TEXT = ("We need 47 * 23. Let's break this down: 47 * 20 = 940 and 47 * 3 = 141, so 940 + 141 = 1081. "
        "Wait, let's double-check: 1081 / 23 = 47. Yes.")


def phrases(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 8))) for _ in range(5000)]
    out: set[str] = set()
    while len(out) < n:
        out.add(" ".join(rng.sample(words, 3)))
    return sorted(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000,100000")
    args = parser.parse_args(argv)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"# the cap: MAX_SG_PHRASES = {MAX_SG_PHRASES:,}")
    print("| phrases | first highlight (s) | again, matcher reused (s) |")
    print("|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        sg = parse_sg_set({"version": 1, "name": f"bench-{n}", "grams": phrases(n)})
        start = time.perf_counter()
        analyse_text(TEXT, sg)
        first = time.perf_counter() - start
        start = time.perf_counter()
        analyse_text(TEXT, sg)
        again = time.perf_counter() - start
        print(f"| {n:,} | {first:.2f} | {again:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
