"""How well does the planning detector do on this model's reasoning? One sentence for Train and Inspect.

The detector was measured on genuine traces of a few model families
(``assets/planning-eval/genuine/``); ``bench/planning_quality.py --results``
writes its precision and recall per family to
``assets/planning-eval/results.json``. :func:`detector_guidance` maps a
model name to its family and says what was measured, or "unmeasured" when
the evaluation set has no traces of that family: a figure measured on one
family says little about another (issue 24: recall 0.53 on R1, 0.20 on a
Qwen3.5 thinking model for the same phrase list).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from training.hierarchy.planning_eval import EVAL_DIR

RESULTS = EVAL_DIR / "results.json"
# (family, substrings of a lower-cased model name); the first that matches wins, so
# "DeepSeek-R1-Distill-Qwen-1.5B" is deepseek-r1 and "QwQ-32B" is not qwen.
FAMILIES = (
    ("deepseek-r1", ("deepseek-r1", "r1-distill", "deepseek-reasoner")),
    ("qwq", ("qwq",)),
    ("marco-o1", ("marco-o1",)),
    ("sky-t1", ("sky-t1",)),
    ("openthinker", ("openthinker",)),
    ("phi4-reasoning", ("phi-4-reasoning", "phi4-reasoning", "phi-4-mini-reasoning", "phi4-mini-reasoning")),
    ("limo", ("limo",)),
    ("s1", ("simplescaling/s1", "/s1-", "/s1.")),
    ("qwen3.5", ("qwen3.5", "qwen3_5")),
    ("qwen3.6", ("qwen3.6", "qwen3_6")),
    ("qwen3", ("qwen3",)),
    ("llama-nemotron", ("llama-3.3-nemotron", "llama-3_3-nemotron", "ll3.3-nemotron", "llama-3.1-nemotron",
                        "llama-3_1-nemotron")),
    ("nemotron", ("nemotron-3", "nemotron3")),  # NVIDIA Nemotron 3; not the Qwen-based *-Nemotron distills
    ("hermes", ("deephermes",)),  # the reasoning previews; plain Hermes models are instruct models
    ("kimi", ("kimi",)),
    ("glm", ("glm-", "glm4", "glm5")),
    ("gpt-oss", ("gpt-oss",)),
    ("minimax", ("minimax",)),
    ("gemini", ("gemini",)),
    ("claude", ("claude",)),
    ("qwen2.5", ("qwen2.5",)),
    ("llama", ("llama",)),
)
TRY = "score it on your own traces: python bench/planning_quality.py --eval-file PATH"
SPLIT_WORDS = {  # what each genuine set is to the default detector (assets/planning-eval/genuine/SOURCES.md)
    "blind": "held-out-2 to -5, gathered blind after it was built",
    "held-out-5": "held-out-5, gathered blind after it was built",
    "held-out-4": "held-out-4, gathered blind after it was built",
    "held-out-3": "held-out-3, gathered blind after it was built",
    "held-out-2": "held-out-2, gathered blind after it was built",
    "held-out": "first held-out half, read while it was built",
    "dev": "dev half, which it was tuned on",
}


def family_of(model: str) -> str | None:
    """The model family of a model name or path, or None.

    >>> family_of("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"), family_of("Qwen/QwQ-32B"), family_of("gpt2")
    ('deepseek-r1', 'qwq', None)
    """
    name = (model or "").lower()
    for family, keys in FAMILIES:
        if any(k in name for k in keys):
            return family
    return None


def load_results(path: str | Path = RESULTS) -> dict:
    """The bench's results file, or ``{}`` when it is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def detector_guidance(model: str, path: str | Path = RESULTS) -> str:
    """One Markdown sentence: the detector's measured precision / recall for this model's family, or unmeasured.

    >>> detector_guidance("tiny")[:40]
    'The bundled model: its planning tokens a'
    """
    if (model or "").strip() in ("", "tiny"):
        return "The bundled model: its planning tokens are the task's ground truth (exact), no detector needed."
    results = load_results(path)
    who = f"{results.get('detector', 'planning-detector')} {results.get('version', '')}".strip()
    family = family_of(model)
    row = (results.get("families") or {}).get(family) if family else None
    if not row or not _finite(row.get("precision")) or not _finite(row.get("recall")):
        fam = f"this model's family ({family})" if family else "this model's family"
        return (f"Planning detector ({who}) on {fam}: **unmeasured**; the evaluation set has no traces of it. "
                f"To measure, {TRY}.")
    half = SPLIT_WORDS.get(row.get("split"), f"the {row.get('split')} set")
    return (f"Planning detector ({who}) on **{family}** reasoning: precision {row['precision']:.2f}, "
            f"recall {row['recall']:.2f} (token level, {row.get('traces', '?')} genuine traces, "
            f"{row.get('phrases', '?')} phrases, {half}; `bench/planning_quality.py`).")


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)
