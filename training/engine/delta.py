"""A Linear layer whose low-rank (LoRA) delta stays unmerged: the sampler copy's projections in bf16.

The sampler copy of the model (:class:`training.engine.backbone.Backbone`)
samples with an arm's LoRA adapter. In float32 the delta is merged into its
weights (``W + s B A``, exact to float32 rounding, no cost per token). In
bf16 a merge rounds each weight to 8 significant bits: a delta far below a
weight's rounding step vanishes. Measured on the bundled tests' random
Qwen2 (weights of RMS 0.03): a LoRA delta of RMS 1e-5 loses 89% of itself
in the merge, one of 1e-4 half (tests/test_sampler_lora.py). The
policy itself computes ``x W^T + s (x A^T) B^T`` with the delta in float32
and sees it. So in bf16 the sampler copy keeps its base weights and each
adapted projection is a :class:`DeltaLinear` that reads the policy's own
LoRA factors (shared, not copied): the sampler computes what the policy
computes. :mod:`training.engine.decoder` and
:mod:`training.engine.lean_forward` read ``lora`` directly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# A LoRA delta: A (r, in), B (out, r) and the scaling s, applied as s (x A^T) B^T.
Lora = tuple[torch.Tensor, torch.Tensor, float]


class DeltaLinear(torch.nn.Linear):
    """``x W^T + b``, plus ``s (x A^T) B^T`` when ``lora`` is set (computed in the factors' dtype,
    as peft does, and added before the one rounding to the output's dtype)."""

    lora: Lora | None = None

    @classmethod
    def wrap(cls, linear: torch.nn.Linear) -> "DeltaLinear":
        """A DeltaLinear that shares ``linear``'s weight and bias (nothing copied), no delta yet."""
        module = cls.__new__(cls)
        torch.nn.Module.__init__(module)
        module.in_features, module.out_features = linear.in_features, linear.out_features
        module.weight, module.bias = linear.weight, linear.bias
        module.lora = None
        return module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x, self.weight, self.bias)
        if self.lora is None:
            return y
        a, b, scaling = self.lora
        return (y + F.linear(F.linear(x.to(a.dtype), a), b) * scaling).to(y.dtype)
