"""Running arms: one run, or a fair A/B sweep of several, each in its run directory.

:func:`train_arms` puts every arm (a :class:`training.loop.Trainer`, one LoRA
adapter) on one shared model, steps them in turn, writes their records,
evaluations and checkpoints (see :mod:`training.runs`), resumes them from
their last checkpoint, and stops them at the end of a step on SIGTERM.
An arm whose numbers stop being finite, or whose policy collapses
(:mod:`training.guard`), fails at that step with a message; the other arms
of a sweep go on, and :func:`train_arms` raises the first
:class:`~training.guard.RunFailed` once they are done. Any other failure
(a full disk, out of memory) marks every arm failed with its cause in
``status.json`` (``error``, ``cause``), even on a full disk
(:func:`training.runs.write_json_atomic`).

A resumed arm starts from its newest checkpoint that can be read; a newer
one that cannot (a torn or corrupt file) is skipped, and ``status.json``
(``resume_note``) and the log say so (docs/failures.md).
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from typing import Iterator

from training import dist
from training.engine.backbone import Backbone
from training.config import RunConfig, save_config
from training.guard import Collapsed, RunFailed, failure_cause
from training.loop import Trainer
from training.report import Reporter
from training.runs import RunDir, machine

log = logging.getLogger(__name__)


def train(cfg: RunConfig, out: str | Path, resume: bool = False) -> Iterator[dict]:
    """Run (or resume) one training run in ``out``; yields every record it writes.

    SIGTERM stops the run at the end of the current step, with a checkpoint.
    """
    for _, record in train_arms([(cfg, Path(out))], resume=resume):
        yield record


def arm_name(algo: str, seed: int) -> str:
    return f"{algo}-s{seed}"


def compare_arms(cfg: RunConfig, algos: list[str], seeds: list[int], out: str | Path) -> list[tuple[RunConfig, Path]]:
    """The arms of a fair A/B sweep: every algorithm with every seed, in ``out/<algo>-s<seed>``."""
    from dataclasses import replace

    if not algos or not seeds:
        raise ValueError("a comparison needs at least one algorithm and one seed")
    if len(set(algos)) != len(algos) or len(set(seeds)) != len(seeds):
        raise ValueError("algorithms and seeds must not repeat")
    return [(replace(cfg, algo=a, seed=s).validate(), Path(out) / arm_name(a, s)) for s in seeds for a in algos]


def resume_from(trainer: Trainer, run: RunDir) -> str | None:
    """Load the newest readable checkpoint of ``run`` into ``trainer``; a note when newer ones were skipped.

    No checkpoint: nothing is loaded (the run starts at step 0). Checkpoints
    that all fail to load: a ValueError naming each one and why.
    """
    skipped = []
    for ckpt in run.checkpoint_list():
        try:
            trainer.load(ckpt)
        except Exception as err:  # noqa: BLE001 - a torn or corrupt file: SafetensorError, UnpicklingError, ...
            first = (str(err).strip().splitlines() or [""])[0][:160]
            skipped.append(f"{ckpt.name} ({type(err).__name__}{': ' + first if first else ''})")
            continue
        if not skipped:
            return None
        note = (f"resumed from {ckpt.name}, the newest checkpoint that could be read; skipped "
                f"{', '.join(skipped)}")
        log.warning("%s: %s", run.path, note)
        return note
    if skipped:
        raise ValueError(f"cannot resume {run.path}: no checkpoint can be read ({'; '.join(skipped)}); start "
                         "again without --resume (add --overwrite to replace the old records)")
    return None


def _failed(run: RunDir, **fields) -> None:
    """Mark ``run`` failed; on a disk too full even for that, say so in the log (the cause is in the message
    the process prints, and the job manager reads it from there)."""
    try:
        run.set_status("failed", ended=time.time(), **fields)
    except OSError as err:
        log.error("%s: could not record the failure in status.json (%s): %s", run.path, err, fields.get("error"))


def _evaluate(i: int, trainer: Trainer, run: RunDir, reporter: Reporter, main: bool) -> Iterator[tuple[int, dict]]:
    """Rank 0 evaluates and writes; the other processes wait for it."""
    if main:
        run.set_status("running", phase="evaluating")
        record, samples = trainer.eval_record()
        run.log(record)
        reporter.log(record)
        run.log_samples(samples)
        run.set_status("running", phase="training", eval_s=record.get("time/eval_s"))
        yield i, record
    dist.barrier()


def evaluates_after(step: int, cfg: RunConfig) -> bool:
    """Is there a held-out evaluation once ``step`` steps are done? Every ``eval_every`` steps, and always
    at the last step, so a run's final figure is its final model's."""
    return bool(cfg.eval_every) and (step % cfg.eval_every == 0 or step == cfg.steps)


class _Pace:
    """Recent seconds per step of each arm (the mean of the last ten), for the ETA in status.json."""

    def __init__(self, n: int):
        self.times: list[list[float]] = [[] for _ in range(n)]

    def add(self, i: int, seconds: float) -> float:
        self.times[i] = (self.times[i] + [seconds])[-10:]
        return sum(self.times[i]) / len(self.times[i])


def train_arms(arms: list[tuple[RunConfig, Path]], resume: bool = False,
               sweep: RunDir | None = None, max_steps: int | None = None) -> Iterator[tuple[int, dict]]:
    """Train several arms on one backbone, interleaved step by step.

    One base model in memory with one LoRA adapter per arm. Prompts and
    sampling seeds depend only on an arm's seed and the step, so arms that
    share a seed see the same prompts and the same random numbers: their
    curves can be compared at every step. Yields ``(arm index, record)``.

    Each arm's ``status.json`` is rewritten after every step with what
    :mod:`training.progress` reads: ``step`` of ``steps``, ``start_step``,
    ``phase`` (loading, evaluating, training), ``step_s`` (recent seconds
    per step) and ``eval_s`` (the last evaluation's seconds). ``sweep``, the
    sweep's own folder, gets ``step`` (the fewest steps any arm has done)
    and ``arm_steps`` (each arm's step) at the same time.

    ``max_steps``: take at most this many steps of each arm in this call,
    then stop as SIGTERM does (a checkpoint, state "stopped"): one chunk of
    a run trained in chunks on ZeroGPU (:mod:`training.chunks`).
    """
    models = {(c.model, c.task, c.device) for c, _ in arms}
    if len(models) != 1:
        raise ValueError("all arms of a comparison must use the same model, task and device")
    rank, _ = dist.world()
    main = rank == 0  # only rank 0 writes; the others train their share and wait at evaluations
    runs = [RunDir(out, readonly=not main).create() for _, out in arms]
    stop = {"flag": False}
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.update(flag=True))
    except ValueError:  # not in the main thread: no signal handling
        pass
    trainers: list[Trainer] = []
    reporters: list[Reporter] = []
    failed: dict[int, RunFailed] = {}  # arm index -> why a guard stopped it
    try:
        for (cfg, _), run in zip(arms, runs):
            if main:
                save_config(cfg, run.path / "config.json")
            run.set_status("running", step=0, steps=cfg.steps, start_step=0, phase="loading", pid=os.getpid(),
                           started=time.time(), ended=None, step_s=None, error=None, cause=None, machine=machine())
            reporters.append(Reporter(cfg.report_to if main else "", run.path, run.path.name, cfg.to_json()))
        backbone = Backbone(arms[0][0])
        pace = _Pace(len(arms))

        def tell_sweep() -> None:
            if sweep is not None and main:
                sweep.set_status("running", step=min(t.step for t in trainers),
                                 steps=max(t.cfg.steps for t in trainers),
                                 arm_steps={r.path.name: t.step for t, r in zip(trainers, runs)})

        for i, ((cfg, _), run) in enumerate(zip(arms, runs)):
            trainer = Trainer(cfg, backbone, adapter=f"arm{i}")
            note = resume_from(trainer, run) if resume else None
            if resume:
                run.truncate_to(trainer.step)
            trainers.append(trainer)
            run.set_status("running", step=trainer.step, start_step=trainer.step, phase="training",
                           planning=trainer.planning, **({"resume_note": note} if resume else {}))
            if cfg.eval_every and trainer.step == 0:
                yield from _evaluate(i, trainer, run, reporters[i], main)
        tell_sweep()
        ends = [t.cfg.steps if max_steps is None else min(t.cfg.steps, t.step + max_steps) for t in trainers]
        while not stop["flag"] and any(t.step < ends[i] for i, t in enumerate(trainers) if i not in failed):
            for i, (trainer, run) in enumerate(zip(trainers, runs)):
                cfg = trainer.cfg
                if trainer.step >= ends[i] or i in failed:
                    continue
                try:
                    record = trainer.train_step()
                except RunFailed as err:  # this arm stops here; a sweep's others go on
                    if isinstance(err, Collapsed):  # its step's record shows the collapse: written
                        run.log(err.record)
                        reporters[i].log(err.record)
                        if main:
                            yield i, err.record
                    failed[i] = err.with_checkpoint(run.latest_checkpoint(), cfg.checkpoint_every,
                                                    arm=run.path.name if len(runs) > 1 else "")
                    run.set_status("failed", step=trainer.step, error=str(err), cause=err.cause, ended=time.time())
                    continue
                run.log(record)
                reporters[i].log(record)
                extra = {}
                if record.get("planning/warning") and not run.status().get("warning"):
                    extra = {"warning": record["planning/warning"], "warning_step": record["step"]}
                run.set_status("running", step=trainer.step, step_s=pace.add(i, record["time/step_s"]), **extra)
                tell_sweep()
                if main:
                    yield i, record
                if evaluates_after(trainer.step, cfg):
                    yield from _evaluate(i, trainer, run, reporters[i], main)
                if main and (trainer.step % cfg.checkpoint_every == 0 or trainer.step == cfg.steps):
                    trainer.save(run.checkpoints / f"step-{trainer.step}")
        for i, (trainer, run) in enumerate(zip(trainers, runs)):
            if i in failed:
                continue
            if (stop["flag"] or max_steps is not None) and trainer.step < trainer.cfg.steps:
                if main and not (run.checkpoints / f"step-{trainer.step}" / "state.pt").exists():
                    trainer.save(run.checkpoints / f"step-{trainer.step}")
                if stop["flag"]:
                    run.set_status("stopped", step=trainer.step, phase=None, ended=time.time())
                else:  # the end of a chunk: the run goes on in the next one
                    run.set_status("running", step=trainer.step, phase="between chunks")
            else:
                run.set_status("finished", step=trainer.step, phase=None, ended=time.time())
        if failed:
            raise failed[min(failed)]
    except RunFailed:
        raise  # the arms a guard stopped are marked failed, the others ended normally
    except Exception as err:
        cause, message = failure_cause(err)
        for i, run in enumerate(runs):
            if i not in failed:
                _failed(run, error=message, cause=cause)
        raise
    finally:
        for reporter in reporters:
            reporter.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
