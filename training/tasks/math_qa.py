"""Math word problems with a checkable final answer: GSM8K, MATH, or a local JSONL file.

Task names: ``gsm8k`` and ``math`` load their hub data sets with ``datasets``
(a network, or a local cache, is needed); ``jsonl:PATH`` reads a local file
with one ``{"question": ..., "answer": ...}`` object per line (about 10% of
it, chosen by a hash of the question, is the held-out split).

Answers are compared with ``math-verify`` (the last ``\\boxed{...}`` or the
last number of the response against the reference). These tasks have no
ground-truth planning spans and no exact error types: a failed response is
counted as ``"error"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

HUB = {
    "gsm8k": ("openai/gsm8k", "main", "question", "answer"),
    "math": ("DigitalLearningGmbH/MATH-lighteval", "default", "problem", "solution"),
}
INSTRUCTION = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
_BOXED = re.compile(r"\\boxed\{")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


@dataclass(frozen=True)
class QAProblem:
    question: str
    answer: str  # the reference final answer (a number or a LaTeX expression)


class TaskDataError(ValueError):
    """The data set cannot be loaded or read; the message says what to do."""


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (nested braces handled), or None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    i, depth = starts[-1], 1
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i:j]
    return None


def reference_answer(name: str, solution: str) -> str:
    """The final answer inside a data set's reference solution."""
    if name == "gsm8k":
        return solution.split("####")[-1].strip().replace(",", "")
    boxed = last_boxed(solution)
    return boxed if boxed is not None else solution.strip()


def extract(response: str) -> str | None:
    boxed = last_boxed(response)
    if boxed is not None:
        return boxed
    numbers = _NUMBER.findall(response)
    return numbers[-1].replace(",", "") if numbers else None


@lru_cache(maxsize=4096)
def _parse(text: str):
    from math_verify import parse

    return parse(f"${text}$")


def is_correct(reference: str, response: str) -> bool:
    found = extract(response)
    if found is None:
        return False
    if found.strip() == reference.strip():
        return True
    try:
        from math_verify import verify

        return bool(verify(_parse(reference), _parse(found)))
    except Exception:  # noqa: BLE001 - an unparsable answer is a wrong answer
        return False


def _is_eval(question: str) -> bool:
    return hashlib.sha256(question.encode()).digest()[0] < 26  # about 10%


@lru_cache(maxsize=8)
def load(name: str) -> dict[str, tuple[QAProblem, ...]]:
    """``{"train": (...), "eval": (...)}`` for ``gsm8k``, ``math`` or ``jsonl:PATH``."""
    if name.startswith("jsonl:"):
        path = Path(name[len("jsonl:"):])
        if not path.exists():
            raise TaskDataError(f"{path}: no such file (a JSONL file of question/answer objects)")
        rows = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                rows.append(QAProblem(str(row["question"]), str(row["answer"])))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise TaskDataError(f"{path}: line {number} is not a JSON object with 'question' and "
                                    "'answer'") from None
        if len(rows) < 2:
            raise TaskDataError(f"{path}: needs at least 2 problems")
        held = tuple(p for p in rows if _is_eval(p.question)) or rows[-1:]
        train = tuple(p for p in rows if p not in held)
        return {"train": train, "eval": tuple(held)}
    if name not in HUB:
        raise TaskDataError(f"unknown task {name!r}")
    repo, subset, q_field, a_field = HUB[name]
    _offline_if_unreachable()
    try:
        import datasets

        data = datasets.load_dataset(repo, subset)
    except ImportError:
        raise TaskDataError(f"task {name!r} needs the datasets package (pip install datasets)") from None
    except Exception as err:  # noqa: BLE001 - no network, unknown repo
        raise TaskDataError(f"cannot load {repo} ({type(err).__name__}); it needs a network or a local "
                            "cache; a local file works offline: --task jsonl:PATH") from None
    split = {s: tuple(QAProblem(r[q_field], reference_answer(name, r[a_field])) for r in data[s])
             for s in data}
    return {"train": split["train"], "eval": split.get("test", split["train"][-500:])}


def _offline_if_unreachable() -> None:
    """When the hub cannot be reached, put ``datasets`` in offline mode (checked once per process).

    A cached copy of the data set then loads as usual and a missing one fails
    at once, instead of after half a minute of retries. The environment
    variables cover a ``datasets`` imported later; the module flags one
    imported already (they are read at import).
    """
    from training.engine import modeling

    if modeling.hub_reachable():
        return
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    import sys

    for module in ("datasets.config", "huggingface_hub.constants"):
        if module in sys.modules:
            sys.modules[module].HF_HUB_OFFLINE = True


def problems(name: str, split: str, n: int | None = None, seed: int = 0) -> list[QAProblem]:
    if split not in ("train", "eval"):
        raise ValueError(f"split must be 'train' or 'eval', got {split!r}")
    pool = list(load(name)[split])
    random.Random(seed).shuffle(pool)
    return pool if n is None else pool[:n]
