"""The divergence guard: a run whose numbers stop being finite stops there, as failed, and says why.

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
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from training import dist


class Diverged(RuntimeError):
    """A step produced a non-finite loss, gradient or weight; the message says what, where and why."""

    def __init__(self, step: int, what: str, lr: float, dtype: torch.dtype):
        self.step, self.what, self.lr, self.dtype = step, what, lr, dtype
        super().__init__(self.explain())

    def explain(self, checkpoint: Path | None = None, checkpoint_every: int | None = None, arm: str = "") -> str:
        half = self.dtype in (torch.bfloat16, torch.float16)
        precision = (f"or the model's {str(self.dtype).replace('torch.', '')} precision overflowed (float32 "
                     "avoids that)") if half else "(the model runs in float32, so precision is an unlikely cause)"
        if checkpoint is not None:
            last = f"last good checkpoint: {checkpoint} (--resume continues from it)"
        else:
            last = ("no checkpoint yet" + (f" (one every {checkpoint_every} steps)" if checkpoint_every else ""))
        return (f"{arm or 'the run'} diverged at step {self.step}: {self.what} is not finite. Likely cause: "
                f"the learning rate (lr {self.lr:g}) is too high for this model {precision}; lower --lr and keep "
                f"--max-grad-norm on. Metrics end at the last finite step; {last}.")

    def with_checkpoint(self, checkpoint: Path | None, checkpoint_every: int | None = None,
                        arm: str = "") -> "Diverged":
        """The message with the run's last good checkpoint (and, in a sweep, the arm's name)."""
        self.args = (self.explain(checkpoint, checkpoint_every, arm),)
        return self


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
