"""Training in chunks: a run advanced k steps at a time, each chunk resumed from the last checkpoint.

Why: on a ZeroGPU Space CUDA exists only inside a call of a function that
``spaces.GPU(duration=...)`` decorates, each call is cut off at about its
duration, and the call runs in a forked process whose memory is lost when
it returns. So a run cannot hold a GPU for its whole length; it advances in
chunks, each one call. Between chunks the adapter, the optimizer state, the
RNG state and the step (the prompts and sampling seeds follow from the seed
and the step) live on disk as the run's ordinary checkpoints, and the next
chunk resumes from them. Resuming is exact (tests/test_loop.py,
tests/test_chunks.py): a run in chunks writes the same metrics and adapter
as the same run in one go.

Three pieces, none of which imports gradio or spaces (``lab/zerogpu.py``
wraps :func:`run_chunk` in ``spaces.GPU`` and schedules the chunks):

* :func:`steps_per_chunk`, pure: k from the measured seconds a step, a
  held-out evaluation and a chunk's fixed cost take, so that a chunk fits
  the call's duration with a margin.
* :func:`measure_pace`: those seconds, read from the run directory.
* :func:`run_chunk`: resume the run (or sweep) in a folder, take up to k
  steps of each arm, checkpoint, and say what was done. A chunk cut off
  part-way loses at most its own steps: the next one resumes from the
  previous chunk's checkpoint.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from training.config import RunConfig
from training.runs import RunDir, append_jsonl, read_jsonl

CHUNKS_FILE = "chunks.jsonl"  # one line per chunk attempt, in the run (or sweep) folder
RECENT = 10  # steps whose median is "the" step time: recent, and robust to one slow step


@dataclass(frozen=True)
class Pace:
    """Measured seconds of a run's parts (``None``: not measured yet). A sweep's are summed over its arms,
    since one chunk steps every arm k times."""

    step_s: float | None = None  # one training step (median of the last RECENT)
    eval_s: float | None = None  # one held-out evaluation (the last)
    overhead_s: float | None = None  # a chunk's fixed cost: loading the model, checkpointing (the largest seen)


def steps_per_chunk(pace: Pace, duration_s: float, eval_every: int, margin: float = 0.3,
                    steps_left: int | None = None) -> int:
    """How many steps one chunk takes so that it fits a call of ``duration_s`` seconds with ``margin``.

    Only ``(1 - margin) * duration_s`` is planned for; from it go the chunk's
    fixed cost and one held-out evaluation (a chunk may start or end with
    one), and each step costs its own time plus its share of evaluations.
    With no step time measured yet the chunk is one step: the first chunk
    measures. 0 means not even one step fits, and the caller must say so.

    >>> steps_per_chunk(Pace(), 120, eval_every=25)
    1
    >>> steps_per_chunk(Pace(step_s=4.0, eval_s=20.0, overhead_s=10.0), 120, eval_every=25)  # (84-10-20)/4.8
    11
    >>> steps_per_chunk(Pace(step_s=200.0, overhead_s=5.0), 120, eval_every=0)
    0
    >>> steps_per_chunk(Pace(step_s=1.0, overhead_s=0.0), 120, eval_every=0, steps_left=7)
    7
    """
    if not 0 <= margin < 1:
        raise ValueError(f"margin must be from 0 to below 1, got {margin}")
    if pace.step_s is None:
        k = 1
    else:
        eval_s = pace.eval_s or 0.0
        budget = duration_s * (1 - margin) - (pace.overhead_s or 0.0) - eval_s
        per_step = pace.step_s + (eval_s / eval_every if eval_every else 0.0)
        k = max(0, math.floor(budget / max(per_step, 1e-9)))
    return min(k, steps_left) if steps_left is not None else k


def arms_of(path: str | Path) -> tuple[list[tuple[RunConfig, Path]], bool]:
    """The arms of the run (or sweep) in ``path``, as the job manager queued it; and whether it is a sweep."""
    from training.arms import compare_arms

    path = Path(path)
    cfg = RunConfig.from_json(json.loads((path / "config.json").read_text())).validate()
    job = json.loads((path / "job.json").read_text()) if (path / "job.json").exists() else {"kind": "run"}
    if job.get("kind") == "compare":
        return compare_arms(cfg, list(job["algos"]), [int(s) for s in job["seeds"]], path), True
    return [(cfg, path)], False


def measure_pace(path: str | Path) -> Pace:
    """The run's measured seconds: step and evaluation times from each arm's ``metrics.jsonl``, a chunk's
    fixed cost from ``chunks.jsonl`` (the largest seen: loading a model can be slow once, then cached)."""
    arms, _ = arms_of(path)
    step_s, eval_s = [], []
    for _, out in arms:
        records = read_jsonl(Path(out) / "metrics.jsonl")
        steps = [r["time/step_s"] for r in records if r.get("kind") == "step" and r.get("time/step_s")]
        evals = [r["time/eval_s"] for r in records if r.get("kind") == "eval" and r.get("time/eval_s") is not None]
        step_s.append(statistics.median(steps[-RECENT:]) if steps else None)
        eval_s.append(evals[-1] if evals else None)
    chunks = [c["overhead_s"] for c in read_jsonl(Path(path) / CHUNKS_FILE) if c.get("overhead_s") is not None]
    return Pace(step_s=sum(step_s) if None not in step_s else None,
                eval_s=sum(eval_s) if None not in eval_s else None,
                overhead_s=max(chunks) if chunks else None)


def diverged_arms(path: str | Path) -> dict[str, str]:
    """Arms of a sweep that diverged in an earlier chunk, name -> message: later chunks leave them out, as a
    sweep on the command line goes on without them."""
    out: dict[str, str] = {}
    for chunk in read_jsonl(Path(path) / CHUNKS_FILE):
        out.update(chunk.get("diverged") or {})
    return out


def steps_done(path: str | Path, gone: dict | None = None) -> int:
    """Steps every arm still training has behind a checkpoint (what a chunk resumes from); ``gone``: the
    diverged arms (default: those ``chunks.jsonl`` names)."""
    arms, _ = arms_of(path)
    gone = diverged_arms(path) if gone is None else gone
    arms = [a for a in arms if a[1].name not in gone] or arms
    done = []
    for _, out in arms:
        ckpt = RunDir(out).latest_checkpoint()
        done.append(int(ckpt.name.split("-")[1]) if ckpt is not None else 0)
    return min(done)


def run_chunk(path: str | Path, n_steps: int) -> dict:
    """Resume the run (or sweep) in ``path``, take up to ``n_steps`` steps of each arm, checkpoint.

    The run folder is as the job manager made it (``config.json``, and
    ``job.json`` for a sweep). Returns ``{"start", "end", "steps", "state",
    "seconds", "overhead_s", "error", "diverged"}``: ``state`` is
    ``"running"`` while steps are left, else ``"finished"`` or ``"failed"``
    (a diverged arm; its status says why). An arm of a sweep that diverges
    (``diverged``: name -> message) stops alone: later chunks train the
    others, and the sweep fails, with that message, once they are done, as
    on the command line. Also appends the summary to ``chunks.jsonl``.

    An arm with no checkpoint starts over: whatever a chunk cut off before
    its first checkpoint wrote is removed first, so its step-0 evaluation is
    not written twice.
    """
    from training.arms import train_arms
    from training.guard import RunFailed

    if not isinstance(n_steps, int) or n_steps < 1:
        raise ValueError(f"a chunk takes at least one step, got {n_steps!r}")
    t0 = time.time()
    path = Path(path)
    arms, is_sweep = arms_of(path)
    before = diverged_arms(path) if is_sweep else {}
    live = [(c, out) for c, out in arms if out.name not in before]
    for _, out in live:
        if RunDir(out).latest_checkpoint() is None:
            for name in ("metrics.jsonl", "samples.jsonl"):
                (Path(out) / name).unlink(missing_ok=True)
    start = steps_done(path)
    sweep = RunDir(path) if is_sweep else None
    if sweep is not None:
        names = [out.name for _, out in arms]
        sweep.set_status("running", pid=os.getpid(), started=sweep.status().get("started") or time.time(),
                         ended=None, step=start, steps=arms[0][0].steps, arms=names,
                         arm_steps={n: start for n in names})
    started = {out: RunDir(out).status().get("started") for _, out in live}  # the run's start, not the chunk's
    measured, error = 0.0, None
    try:
        for _, record in train_arms(live, resume=True, sweep=sweep, max_steps=n_steps) if live else ():
            measured += record.get("time/step_s", 0.0) if record.get("kind") == "step" else record.get("time/eval_s", 0.0)
    except RunFailed as err:  # diverged or collapsed: that arm says "failed" with this message; others took steps
        error = str(err)
    except Exception as err:  # the arms say "failed" (train_arms); so does the sweep, then the caller hears it
        if sweep is not None:
            sweep.set_status("failed", error=f"{type(err).__name__}: {err}", ended=time.time())
        raise
    for _, out in live:
        run = RunDir(out)
        if started[out] and run.status().get("state"):
            run.set_status(run.status()["state"], started=started[out])
    states = {out.name: RunDir(out).status() for _, out in live}
    now = {name: s.get("error") or "" for name, s in states.items() if error and s.get("state") == "failed"}
    left = [name for name, s in states.items() if name not in now and s.get("state") != "finished"]
    error = error or next(iter(before.values()), None)
    if is_sweep:  # a diverged arm stops alone; the sweep fails (saying why) once the others are done
        state = "running" if left else "failed" if error else "finished"
    else:
        state = "failed" if error else "running" if left else "finished"
    end = steps_done(path, {**before, **now})
    if sweep is not None and state != "running":
        sweep.set_status(state, ended=time.time(), step=end, **({"error": error} if error else {}))
    seconds = time.time() - t0
    summary = {"start": start, "end": end, "steps": n_steps, "state": state, "seconds": seconds,
               "overhead_s": max(0.0, seconds - measured), "error": error, "diverged": now, "time": time.time()}
    append_jsonl(path / CHUNKS_FILE, summary)
    return summary


def log_attempt(path: str | Path, steps: int, error: str, seconds: float) -> None:
    """A chunk that did not come back (cut off, no GPU, ...), for the record: the next one resumes."""
    append_jsonl(Path(path) / CHUNKS_FILE, {"start": steps_done(path), "steps": steps, "state": "cut off",
                                            "error": error, "seconds": seconds, "overhead_s": None,
                                            "time": time.time()})
