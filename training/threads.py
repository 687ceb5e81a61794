"""CPU threads for a run: ``threads = 0`` (the default) picks them.

The bundled tiny models on a CPU get one thread. Their matrices are too
small for torch's intra-op threads to pay, and on a busy machine the threads
wait on each other: on the shared 2-core test machine a ``tiny-cpu`` step
took 14-92 s with torch's default threads and 1.0 s with ``--threads 1``
(issue 30). Any other model on a CPU, and every GPU run, keeps torch's
default (one thread per physical core). ``--threads N`` always wins.
"""

from __future__ import annotations

from pathlib import Path

from training.engine.modeling import BUNDLED, resolve_name


def is_bundled(model_path: str) -> bool:
    """Is ``model_path`` (a name :func:`resolve_name` understands) one of the bundled tiny models?

    >>> is_bundled("tiny"), is_bundled("tiny-planning"), is_bundled("Qwen/Qwen2.5-0.5B-Instruct")
    (True, True, False)
    """
    return Path(resolve_name(model_path)).resolve().parent == BUNDLED.parent.resolve()


def pick_threads(requested: int, model_path: str, device_type: str) -> int | None:
    """The thread count to set, or ``None`` for torch's default.

    >>> pick_threads(0, "tiny", "cpu"), pick_threads(3, "tiny", "cpu"), pick_threads(0, "tiny", "cuda")
    (1, 3, None)
    """
    if requested:
        return requested
    if device_type == "cpu" and is_bundled(model_path):
        return 1
    return None
