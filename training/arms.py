"""Running arms: one run, or a fair A/B sweep of several, each in its run directory.

:func:`train_arms` puts every arm (a :class:`training.loop.Trainer`, one LoRA
adapter) on one shared model, steps them in turn, writes their records,
evaluations and checkpoints (see :mod:`training.runs`), resumes them from
their last checkpoint, and stops them at the end of a step on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Iterator

from training import dist
from training.engine.backbone import Backbone
from training.config import RunConfig, save_config
from training.loop import Trainer
from training.report import Reporter
from training.runs import RunDir


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


def _evaluate(i: int, trainer: Trainer, run: RunDir, reporter: Reporter, main: bool) -> Iterator[tuple[int, dict]]:
    """Rank 0 evaluates and writes; the other processes wait for it."""
    if main:
        record, samples = trainer.eval_record()
        run.log(record)
        reporter.log(record)
        run.log_samples(samples)
        yield i, record
    dist.barrier()


def train_arms(arms: list[tuple[RunConfig, Path]], resume: bool = False) -> Iterator[tuple[int, dict]]:
    """Train several arms on one backbone, interleaved step by step.

    One base model in memory with one LoRA adapter per arm. Prompts and
    sampling seeds depend only on an arm's seed and the step, so arms that
    share a seed see the same prompts and the same random numbers: their
    curves can be compared at every step. Yields ``(arm index, record)``.
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
    try:
        for (cfg, _), run in zip(arms, runs):
            if main:
                save_config(cfg, run.path / "config.json")
            run.set_status("running", step=0, pid=os.getpid(), started=time.time())
            reporters.append(Reporter(cfg.report_to if main else "", run.path, run.path.name, cfg.to_json()))
        backbone = Backbone(arms[0][0])
        for i, ((cfg, _), run) in enumerate(zip(arms, runs)):
            trainer = Trainer(cfg, backbone, adapter=f"arm{i}")
            ckpt = run.latest_checkpoint() if resume else None
            if ckpt is not None:
                trainer.load(ckpt)
            if resume:
                run.truncate_to(trainer.step)
            trainers.append(trainer)
            if cfg.eval_every and trainer.step == 0:
                yield from _evaluate(i, trainer, run, reporters[i], main)
        while not stop["flag"] and any(t.step < t.cfg.steps for t in trainers):
            for i, (trainer, run) in enumerate(zip(trainers, runs)):
                cfg = trainer.cfg
                if trainer.step >= cfg.steps:
                    continue
                record = trainer.train_step()
                run.log(record)
                reporters[i].log(record)
                extra = {}
                if record.get("planning/warning") and not run.status().get("warning"):
                    extra = {"warning": record["planning/warning"], "warning_step": record["step"]}
                run.set_status("running", step=trainer.step, **extra)
                if main:
                    yield i, record
                if cfg.eval_every and trainer.step % cfg.eval_every == 0:
                    yield from _evaluate(i, trainer, run, reporters[i], main)
                if main and (trainer.step % cfg.checkpoint_every == 0 or trainer.step == cfg.steps):
                    trainer.save(run.checkpoints / f"step-{trainer.step}")
        for trainer, run in zip(trainers, runs):
            if stop["flag"] and trainer.step < trainer.cfg.steps:
                if main:
                    trainer.save(run.checkpoints / f"step-{trainer.step}")
                run.set_status("stopped", step=trainer.step, ended=time.time())
            else:
                run.set_status("finished", step=trainer.step, ended=time.time())
    except Exception as err:
        for run in runs:
            run.set_status("failed", error=f"{type(err).__name__}: {err}", ended=time.time())
        raise
    finally:
        for reporter in reporters:
            reporter.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
