"""The planning detectors' mask-cost tests share one batch (:func:`mask_batch`): a quarter of
``bench/planning_mask.py``'s batch (16 x 1,024 tokens of the bundled tokenizer, phrases of a random
300-phrase set); the ratio tests of versions 1.2 and 1.3 against 1.1 share one timing of it
(:func:`mask_cpu_times`: each detector's median thread CPU time). Each test keeps its own bound."""

import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def mask_batch():
    """``(tokenizer, batch)``: the bundled tokenizer and 16 x 1,024 token ids built as the bench builds them."""
    from lab.analysis import bundled_tokenizer

    sys.path.insert(0, str(ROOT / "bench"))
    from planning_mask import phrase_set, sequences

    rng = random.Random(0)
    tok = bundled_tokenizer()
    return tok, sequences(phrase_set(300, rng), 16, 1024, rng, tok)


def mask_cpu_times(*detectors, runs: int = 7) -> list[float]:
    """Each detector's median thread CPU time (seconds, of ``runs``) to mask :func:`mask_batch`'s batch,
    measured in the order given, after one warm-up pass of each."""
    from training.hierarchy.tokens import token_masks_from_ids

    tok, batch = mask_batch()
    for d in detectors:
        token_masks_from_ids(tok, batch, d)

    def cpu(d) -> float:
        times = []
        for _ in range(runs):
            t0 = time.thread_time()
            token_masks_from_ids(tok, batch, d)
            times.append(time.thread_time() - t0)
        return float(np.median(times))

    return [cpu(d) for d in detectors]
