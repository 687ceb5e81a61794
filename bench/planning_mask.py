"""Benchmark: planning masks for 64 generated sequences x 1,024 tokens, 300 phrases, and the planning detector.

    python bench/planning_mask.py [--repeats 30] [--sequences 64] [--tokens 1024]

What is timed is what the trainer does every step: from token ids (as
generated) to one bool mask per sequence (decode with offsets, match the
Strategic Grams, map spans to tokens) with the matcher already compiled.
Compiling the matcher (once per run) is reported separately. The text is
seeded synthetic math reasoning with about one Strategic Gram per sentence.
The planning detector (``training/hierarchy/detector.py``, on the
``reasoning`` preset) is timed on the same batch, each version in
``--versions`` (default 1.1 and 1.2, interleaved repeat by repeat so that
both see the same load), with the ratio of their CPU times; the loop's
budget is 20 ms for any. ``--genuine`` also times them on the genuine traces
(``assets/planning-eval/genuine``), where version 1.2's classifier sees more
candidate units than in the synthetic batch.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.analysis import bundled_tokenizer  # noqa: E402
from training.hierarchy.detector import PlanningDetector  # noqa: E402
from training.hierarchy.grams import list_presets, load_preset  # noqa: E402
from training.hierarchy.matching import GramMatcher  # noqa: E402
from training.hierarchy.tokens import token_masks_from_ids  # noqa: E402


def phrase_set(n: int, rng: random.Random) -> list[str]:
    phrases = {g.phrase for name in list_presets() for g in load_preset(name).grams}
    openers = ["let's", "we can", "now we", "first we", "then we", "so we", "next, let's", "i will"]
    verbs = ["reconsider", "check", "compare", "rewrite", "split", "estimate", "simplify", "recall"]
    objects = ["the product", "the remainder", "each part", "the tens digit", "the last step", "the sum"]
    while len(phrases) < n:
        phrases.add(f"{rng.choice(openers)} {rng.choice(verbs)} {rng.choice(objects)}")
    return sorted(phrases)[:n]


def sequences(phrases: list[str], n_seq: int, n_tok: int, rng: random.Random, tok) -> list[list[int]]:
    batch = []
    for _ in range(n_seq):
        ids: list[int] = []
        while len(ids) < n_tok:
            a, b = rng.randint(11, 99), rng.randint(11, 99)
            sentence = f"{rng.choice(phrases).capitalize()}, {a} * {b} = {a * b} and {a} + {b} = {a + b}. "
            ids += tok.encode(sentence, add_special_tokens=False).ids
        batch.append(ids[:n_tok])
    return batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sequences", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=1024)
    ap.add_argument("--phrases", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--versions", default="1.1,1.2", help="detector versions to time, comma-separated")
    ap.add_argument("--genuine", action="store_true", help="also time the detectors on the genuine traces")
    args = ap.parse_args()

    rng = random.Random(args.seed)
    tok = bundled_tokenizer()
    phrases = phrase_set(args.phrases, rng)
    batch = sequences(phrases, args.sequences, args.tokens, rng, tok)

    t0 = time.perf_counter()
    matcher = GramMatcher(phrases)
    compile_ms = (time.perf_counter() - t0) * 1e3
    token_masks_from_ids(tok, batch, matcher)  # warm-up: builds the tokenizer's byte table once

    times, cpu, masks = time_masks(tok, batch, matcher, args.repeats)
    ratio = sum(m.sum() for m in masks) / sum(len(m) for m in masks)
    versions = [v for v in args.versions.split(",") if v]
    detectors = {v: PlanningDetector(load_preset("reasoning"), version=v) for v in versions}
    for d in detectors.values():
        token_masks_from_ids(tok, batch, d)
    timed = {v: ([], [], []) for v in versions}
    for _ in range(args.repeats):  # interleaved: each version sees the same load
        for v, d in detectors.items():
            w, c, m = time_masks(tok, batch, d, 1)
            timed[v][0].extend(w)
            timed[v][1].extend(c)
            timed[v][2][:] = m
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}")
    print(f"batch: {args.sequences} sequences x {args.tokens} tokens, {len(phrases)} phrases, "
          f"planning-token ratio {ratio:.3f}")
    print(f"matcher compile: {compile_ms:.1f} ms (once per run)")
    print(f"planning masks: median {statistics.median(times):.2f} ms, min {min(times):.2f} ms, "
          f"max {max(times):.2f} ms over {args.repeats} repeats; CPU time median {statistics.median(cpu):.2f} ms")
    for v, d in detectors.items():
        det_times, det_cpu, det_masks = timed[v]
        det_ratio = sum(m.sum() for m in det_masks) / sum(len(m) for m in det_masks)
        print(f"planning detector ({d.label}): median {statistics.median(det_times):.2f} ms, "
              f"min {min(det_times):.2f} ms, max {max(det_times):.2f} ms; CPU time median "
              f"{statistics.median(det_cpu):.2f} ms; planning-token ratio {det_ratio:.3f}")
    if len(versions) > 1:
        first = statistics.median(timed[versions[0]][1])
        print("CPU time ratio to " + versions[0] + ": " + ", ".join(
            f"{v} {statistics.median(timed[v][1]) / first:.2f}" for v in versions[1:]))
    if args.genuine:
        from training.hierarchy.planning_eval import EVAL_DIR, load_traces
        texts = [t.text for f in ("dev", "held-out", "held-out-2")
                 for t in load_traces(EVAL_DIR / "genuine" / f"{f}.txt")]
        ids = [tok.encode(t, add_special_tokens=False).ids for t in texts]
        n = sum(map(len, ids))
        for v, d in detectors.items():
            _, c, _ = time_masks(tok, ids, d, max(3, args.repeats // 5))
            per = statistics.median(c) / n * args.sequences * args.tokens
            print(f"genuine traces ({len(texts)}, {n:,} tokens), {d.label}: CPU time median "
                  f"{statistics.median(c):.2f} ms, {per:.2f} ms per {args.sequences} x {args.tokens} tokens")


def time_masks(tok, batch, matcher, repeats: int) -> tuple[list[float], list[float], list]:
    """Wall-clock and CPU milliseconds of each of ``repeats`` mask computations, and the last masks.

    The CPU time (this thread's) is what the work costs on a machine that other processes share:
    wall-clock time there also counts the time the scheduler gave to others.
    """
    times, cpu, masks = [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.thread_time()
        masks = token_masks_from_ids(tok, batch, matcher)
        times.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
    return times, cpu, masks


if __name__ == "__main__":
    main()
