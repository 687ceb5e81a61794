"""Mean token entropy and reward per step, of a healthy run and of one collapsed by too high a learning rate.

    python bench/collapse_entropy.py [--steps 10]

The numbers behind the collapse guard's default (training/guard.py,
docs/failures.md): on the bundled model, 2 prompts x 4 responses of at most
128 tokens (long enough to finish an answer, so groups have mixed rewards
and a gradient), one CPU thread. "healthy" is the tiny-cpu preset's
learning rate (3e-4, warm-up 10); "collapsing" is ``--lr 1
--max-grad-norm 0 --warmup 1``. The guard itself is switched off here, so
both run every step. Prints one line per step and each run's range, with
the entropy also as a fraction of the uniform maximum ln(vocabulary size).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.config import preset  # noqa: E402
from training.loop import Trainer  # noqa: E402

SETTINGS = dict(prompts_per_step=2, group_size=4, max_new_tokens=128, eval_every=0, threads=1, collapse_entropy=0.0)
RUNS = {"healthy": dict(), "collapsing": dict(lr=1.0, max_grad_norm=0.0, warmup=1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10, help="steps of each run")
    args = ap.parse_args(argv)
    for name, extra in RUNS.items():
        trainer = Trainer(preset("tiny-cpu", **SETTINGS, **extra))
        uniform = math.log(trainer.lm.model.config.vocab_size)
        entropies = []
        for _ in range(args.steps):
            record = trainer.train_step()
            entropies.append(record["entropy/all"])
            entropy = record["entropy/all"]
            print(f"{name:>10} step {record['step']:3d}: entropy {entropy:.3f} nats ({entropy / uniform:.3f} of "
                  f"ln V = {uniform:.2f}), reward {record['reward/mean']:.3f}", flush=True)
        later = entropies[1:] or entropies
        print(f"{name:>10}: entropy {min(entropies):.3f}-{max(entropies):.3f} nats over all steps, "
              f"{min(later):.3f}-{max(later):.3f} after step 0 ({min(later) / uniform:.3f}-{max(later) / uniform:.3f} "
              "of the uniform maximum)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
