"""Train the planning detector 1.2's step-clause classifier and write its weights (bit for bit).

    python bench/train_step_classifier.py [--out training/hierarchy/step_classifier.json] [--check]

The units (short labels and sentences at step starts where none of 1.1's
openers matches, :meth:`PlanningDetector.units`) of every annotated genuine
trace in dev, held-out and held-out-2 (``assets/planning-eval/genuine/``)
are labelled planning when annotated spans cover at least half of their
characters, and a logistic model is fitted on them
(:func:`training.hierarchy.step_classifier.fit`; L2 penalty, threshold
:data:`THRESHOLD`, both chosen by grouped cross-validation in
``bench/detector_cv.py --pool``). ``--check`` compares the result with the
shipped file instead of writing it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.hierarchy.detector import PlanningDetector  # noqa: E402
from training.hierarchy.grams import load_preset  # noqa: E402
from training.hierarchy.planning_eval import EVAL_DIR, AnnotatedTrace, load_traces  # noqa: E402
from training.hierarchy.step_classifier import WEIGHTS_FILE, StepClassifier, Unit, fit  # noqa: E402

SPLITS = ("dev", "held-out", "held-out-2")  # every genuine set seen so far (never held-out-3)
THRESHOLD = 0.4  # chosen by bench/detector_cv.py --pool (highest recall at precision within 0.01 of 1.1's)
L2 = 1.0
PLACEHOLDER = StepClassifier(0.0, {}, 0.5)  # any model: the units do not depend on it


def genuine_traces(splits: tuple[str, ...] = SPLITS) -> list[AnnotatedTrace]:
    return [t for s in splits for t in load_traces(EVAL_DIR / "genuine" / f"{s}.txt")]


def labelled_units(traces: list[AnnotatedTrace], detector: PlanningDetector | None = None) -> tuple[list, list]:
    """``(units, labels)``: every trace's units, 1 where annotated spans cover half of the unit or more."""
    d = detector or PlanningDetector(load_preset("reasoning"), version="1.2", classifier=PLACEHOLDER)
    units: list[Unit] = []
    labels: list[int] = []
    for t in traces:
        annotated = np.zeros(len(t.text) + 1, dtype=bool)  # (chars,)
        for s, e, _ in t.spans:
            annotated[s:e] = True
        for u in d.units(t.text):
            units.append(u)
            labels.append(int(annotated[u.start:u.end].mean() >= 0.5))
    return units, labels


def train(traces: list[AnnotatedTrace], threshold: float = THRESHOLD) -> StepClassifier:
    units, labels = labelled_units(traces)
    return fit(units, labels, threshold, l2=L2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(WEIGHTS_FILE))
    ap.add_argument("--check", action="store_true", help="compare with the shipped weights, write nothing")
    args = ap.parse_args(argv)
    text = train(genuine_traces()).to_json()
    if args.check:
        same = Path(args.out).read_text(encoding="utf-8") == text
        print(f"{args.out}: {'reproduced bit for bit' if same else 'DIFFERS from a fresh training'}")
        return 0 if same else 1
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
