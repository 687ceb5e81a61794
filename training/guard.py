"""The guards: a run that diverges or collapses stops there, as failed, and says why; and what any
other failure was (a full disk, out of memory), in words and as a short cause.

A learning rate far too high, or a bf16 / float16 overflow on a GPU, turns
the loss, the gradients or the LoRA weights into inf or NaN. Nothing
crashes: from then on every step samples from NaN weights, the loss and
the entropies are NaN (``metrics.jsonl`` writes them as null) and the
reward is 0, and without a check the run would end as "finished".

So every update is checked twice (:class:`training.loop.Trainer` calls
these):

1. :func:`check_update`, after the backward pass and before the optimizer
   step: the loss and the gradient norm are finite. A failure here leaves
   the LoRA weights as they were.
2. :func:`check_weights`, after the optimizer step: the LoRA weights are
   finite (an infinite learning rate, or a huge step, turns finite
   gradients into non-finite weights).

Either raises :class:`Diverged`, naming the step (numbered as in
``metrics.jsonl``), what went non-finite and the likely cause;
:mod:`training.arms` adds the last good checkpoint, marks the run failed
and does not write the step's metrics line: ``metrics.jsonl`` ends with the
last step whose update left finite weights. Every checkpoint is written
after its step passed both checks, so every checkpoint is a good one.

With several processes the flags are summed across them, so every process
raises at the same step (the gradients and weights are the same on every
process; the loss is each process's share).

The collapse guard (:class:`CollapseWatch`) catches what stays finite but
is no longer a policy: ``--lr 1 --max-grad-norm 0`` on the bundled model
takes the mean token entropy from 0.09 nats to 3.8-4.7 nats (ln 783 = 6.66
is uniform over its vocabulary) within one step and the reward to 0, and
the run would end "finished"; a healthy run stays at 0.08-0.10 nats
(``python bench/collapse_entropy.py`` prints both, step by step). It fails the run when, for
``collapse_steps`` consecutive steps, the mean token entropy of the step's
responses is at least ``collapse_entropy`` of the uniform maximum
ln(vocabulary size); and, where ``collapse_reward_steps`` is set, when the
mean reward has been exactly 0 for that many consecutive steps after an
earlier step above 0. Unlike a divergence the collapsed step's record is
written (its numbers show the collapse).

:func:`failure_cause` names what any other exception means for a run:
``disk-full`` (ENOSPC), ``out-of-memory``, or ``crashed``; a training
process that vanished without saying is classified from its exit status
and log by :func:`cause_of_exit`. docs/failures.md lists them.
"""

from __future__ import annotations

import errno
import math
import signal
from pathlib import Path

import torch

from training import dist


class RunFailed(RuntimeError):
    """A guard stopped the run at ``step``; ``cause`` is the short name status.json records."""

    cause = "failed"
    step = 0

    def explain(self, checkpoint: Path | None = None, checkpoint_every: int | None = None, arm: str = "") -> str:
        raise NotImplementedError

    def with_checkpoint(self, checkpoint: Path | None, checkpoint_every: int | None = None,
                        arm: str = "") -> "RunFailed":
        """The message with the run's last good checkpoint (and, in a sweep, the arm's name)."""
        self.args = (self.explain(checkpoint, checkpoint_every, arm),)
        return self


def _last(checkpoint: Path | None, checkpoint_every: int | None, what: str = "last good checkpoint") -> str:
    if checkpoint is not None:
        return f"{what}: {checkpoint} (--resume continues from it)"
    return "no checkpoint yet" + (f" (one every {checkpoint_every} steps)" if checkpoint_every else "")


class Diverged(RunFailed):
    """A step produced a non-finite loss, gradient or weight; the message says what, where and why."""

    cause = "diverged"

    def __init__(self, step: int, what: str, lr: float, dtype: torch.dtype):
        self.step, self.what, self.lr, self.dtype = step, what, lr, dtype
        super().__init__(self.explain())

    def explain(self, checkpoint: Path | None = None, checkpoint_every: int | None = None, arm: str = "") -> str:
        half = self.dtype in (torch.bfloat16, torch.float16)
        precision = (f"or the model's {str(self.dtype).replace('torch.', '')} precision overflowed (float32 "
                     "avoids that)") if half else "(the model runs in float32, so precision is an unlikely cause)"
        last = _last(checkpoint, checkpoint_every)
        return (f"{arm or 'the run'} diverged at step {self.step}: {self.what} is not finite. Likely cause: "
                f"the learning rate (lr {self.lr:g}) is too high for this model {precision}; lower --lr and keep "
                f"--max-grad-norm on. Metrics end at the last finite step; {last}.")


def check_update(step: int, metrics: dict, grad_norm: float, lr: float, dtype: torch.dtype) -> None:
    """Before the optimizer step: the loss terms (``loss/*``, ``kl/*``) and the gradient norm are finite."""
    bad = [k for k, v in metrics.items() if k.startswith(("loss/", "kl/")) and not math.isfinite(v)]
    if dist.total(float(bool(bad))) > 0:
        raise Diverged(step, f"the loss ({', '.join(bad) or 'on another process'})", lr, dtype)
    if not math.isfinite(grad_norm):
        raise Diverged(step, f"the gradient norm ({grad_norm})", lr, dtype)


def check_weights(step: int, params: list[torch.Tensor], lr: float, dtype: torch.dtype) -> None:
    """After the optimizer step: every LoRA weight is finite (one device sync for all of them)."""
    with torch.no_grad():
        finite = bool(torch.stack([torch.isfinite(p).all() for p in params]).all())
    if not finite:
        raise Diverged(step, "a LoRA weight, after the optimizer step,", lr, dtype)


# ----------------------------------------------------------------- collapse


class Collapsed(RunFailed):
    """The policy collapsed (entropy or reward pinned for several steps); ``record`` is the step's metrics."""

    cause = "collapsed"

    def __init__(self, step: int, since: int, what: str, lr: float, max_grad_norm: float, record: dict):
        self.step, self.since, self.what, self.lr, self.max_grad_norm = step, since, what, lr, max_grad_norm
        self.record = record
        super().__init__(self.explain())

    def explain(self, checkpoint: Path | None = None, checkpoint_every: int | None = None, arm: str = "") -> str:
        clip = "with gradient clipping off, --max-grad-norm 0" if not self.max_grad_norm else \
            f"with --max-grad-norm {self.max_grad_norm:g}"
        last = _last(checkpoint, checkpoint_every, "last checkpoint")
        return (f"{arm or 'the run'} collapsed at step {self.step}: {self.what} since step {self.since}. The policy "
                f"no longer writes answers; likely cause: the learning rate (lr {self.lr:g}) is too high "
                f"({clip}); lower --lr and keep --max-grad-norm on. Checkpoints from step-{self.since} on hold "
                f"the collapsing policy; {last}. The guard's settings: --collapse-entropy, --collapse-steps, "
                "--collapse-reward-steps.")


class CollapseWatch:
    """Watches each step's record for a collapsed policy (the rule is in the module docstring).

    ``vocab_size`` sets the uniform maximum entropy ln(V). Non-finite numbers
    are the divergence guard's business and are not counted here.
    """

    def __init__(self, entropy_fraction: float, steps: int, reward_steps: int, vocab_size: int,
                 lr: float, max_grad_norm: float):
        self.fraction, self.vocab_size = entropy_fraction, max(vocab_size, 2)
        self.limit = entropy_fraction * math.log(self.vocab_size)  # nats
        self.entropy_on = entropy_fraction > 0
        self.steps, self.reward_steps = steps, reward_steps
        self.lr, self.max_grad_norm = lr, max_grad_norm
        self.high: list[int] = []  # consecutive steps with the entropy over the limit
        self.zero: list[int] = []  # consecutive steps with zero reward, after a step above zero
        self.rewarded = False

    def check(self, step: int, record: dict) -> None:
        """Count ``record`` (step ``step``); raise :class:`Collapsed` once a rule holds."""
        entropy, reward = record.get("entropy/all"), record.get("reward/mean")
        high = self.entropy_on and isinstance(entropy, float) and math.isfinite(entropy) and entropy >= self.limit
        self.high = self.high + [step] if high else []
        zero = self.rewarded and reward == 0
        self.zero = self.zero + [step] if zero else []
        if isinstance(reward, (int, float)) and reward > 0:
            self.rewarded = True
        # every process raises at the same step (the flags are summed, as in check_update)
        entropy_hit = dist.total(float(len(self.high) >= self.steps)) > 0
        reward_hit = self.reward_steps > 0 and dist.total(float(len(self.zero) >= self.reward_steps)) > 0
        if entropy_hit:
            raise Collapsed(step, self.high[0] if self.high else step,
                            f"the mean token entropy ({entropy:.2f} nats) has been at least {self.limit:.2f} nats "
                            f"({self.fraction:g} of the uniform maximum, ln {self.vocab_size} = "
                            f"{math.log(self.vocab_size):.2f}) for {len(self.high)} steps",
                            self.lr, self.max_grad_norm, record)
        if reward_hit:
            raise Collapsed(step, self.zero[0] if self.zero else step,
                            f"the mean reward has been exactly 0 for {len(self.zero)} steps after earlier steps "
                            "earned reward", self.lr, self.max_grad_norm, record)


# ------------------------------------------------------------- other causes

OOM_WORDS = ("out of memory", "outofmemoryerror", "memoryerror", "cannot allocate memory", "can't allocate memory")


def failure_cause(err: BaseException) -> tuple[str, str]:
    """``(cause, message)`` for an exception that ended a run: a guard's own, ``disk-full``,
    ``out-of-memory`` or ``crashed``."""
    if isinstance(err, RunFailed):
        return err.cause, str(err)
    if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT):
        where = f" writing {err.filename}" if err.filename else ""
        return "disk-full", (f"the disk is full (No space left on device{where}): free some space, then resume "
                             "(it continues from the last checkpoint)")
    text = f"{type(err).__name__}: {err}"
    if isinstance(err, MemoryError) or any(w in text.lower() for w in OOM_WORDS):
        return "out-of-memory", (f"out of memory ({text.splitlines()[0][:200]}): lower prompts_per_step, "
                                 "group_size, max_new_tokens or micro_batch_groups, then resume")
    return "crashed", text


def cause_of_exit(returncode: int | None, log_tail: str) -> tuple[str, str]:
    """``(cause, message)`` for a training process that ended without writing why (its status still says
    running): read from its exit status and the end of its log."""
    low = log_tail.lower()
    if "no space left on device" in low:
        return "disk-full", ("the training process ended on a full disk (No space left on device, in its log): "
                             "free some space, then resume (it continues from the last checkpoint)")
    if any(w in low for w in OOM_WORDS):
        return "out-of-memory", ("the training process ran out of memory (its log says so): lower "
                                 "prompts_per_step, group_size, max_new_tokens or micro_batch_groups, then resume")
    if returncode == -signal.SIGKILL:
        return "killed", ("the training process was killed (SIGKILL): most often the system's out-of-memory "
                          "killer, or kill -9; resume continues from the last checkpoint")
    said = [line[len("error: "):] for line in log_tail.splitlines() if line.startswith("error: ")]
    if said:  # the process's own one-line message (training/__main__.py)
        return "failed", said[-1]
    how = f" (exit status {returncode})" if returncode is not None else ""
    return "crashed", (f"the training process ended without finishing (killed or crashed){how}; see log.txt; "
                       "resume continues from the last checkpoint")
