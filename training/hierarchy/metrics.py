"""Token-level statistics the paper tracks, as pure tensor functions.

Shapes: B sequences, T token positions, V vocabulary entries. ``valid`` is
the (B, T) bool mask of real response tokens (False on prompt and padding);
``planning`` is the (B, T) bool planning-token mask; execution tokens are
``valid & ~planning``.

Conventions (tested):

* entropies and NLLs are in nats, computed in float32 whatever the logits'
  dtype;
* a mean over an empty selection is ``nan`` (a chart shows a gap, not a
  misleading 0);
* "high-entropy" means the top ``ceil(fraction * n_valid)`` valid tokens of
  each sequence by entropy (fraction 0.3 as in the paper), ties broken by
  position.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution at each position.

    Args:
        logits: (..., V) unnormalized scores.
    Returns:
        (...,) float32 entropy in nats.
    """
    logp = F.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(dim=-1)


def token_nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of ``targets`` under ``logits``.

    Args:
        logits: (..., V) scores for the distribution that produced each target.
        targets: (...,) int token ids.
    Returns:
        (...,) float32 NLL in nats.
    """
    logp = F.log_softmax(logits.float(), dim=-1)
    return -logp.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` where ``mask`` is True; ``nan`` when nothing is selected.

    Args:
        values: (B, T) floats. mask: (B, T) bool.
    Returns:
        0-d float32 tensor.
    """
    mask = mask.bool()
    count = mask.sum()
    if count == 0:
        return torch.tensor(float("nan"))
    return (values.float() * mask).sum() / count


def role_means(values: torch.Tensor, planning: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
    """Mean of a per-token statistic over planning and over execution tokens.

    Args:
        values: (B, T), e.g. :func:`token_entropy` or :func:`token_nll`.
        planning, valid: (B, T) bool.
    Returns:
        ``{"planning": float, "execution": float, "all": float}``.
    """
    valid = valid.bool()
    planning = planning.bool() & valid
    return {
        "planning": float(masked_mean(values, planning)),
        "execution": float(masked_mean(values, valid & ~planning)),
        "all": float(masked_mean(values, valid)),
    }


def perplexity(mean_nll: float) -> float:
    """``exp(mean NLL)``: the perplexity of a set of tokens."""
    return math.exp(mean_nll)


def relative_perplexity(mean_nll: float, baseline_mean_nll: float) -> float:
    """Perplexity now divided by perplexity at step 0: ``exp(nll - nll_0)``.

    1.0 means unchanged, below 1 means the tokens became more predictable.
    ``nan`` in either argument gives ``nan``.
    """
    return math.exp(mean_nll - baseline_mean_nll)


def high_entropy_mask(entropy: torch.Tensor, valid: torch.Tensor, fraction: float = 0.3) -> torch.Tensor:
    """Per-sequence top-``fraction`` tokens by entropy.

    Each sequence marks ``ceil(fraction * n_valid)`` of its valid tokens, the
    ones with the highest entropy (earlier position first among ties).

    Args:
        entropy: (B, T) floats. valid: (B, T) bool.
    Returns:
        (B, T) bool.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    valid = valid.bool()
    keyed = entropy.float().masked_fill(~valid, float("-inf"))
    order = torch.sort(keyed, dim=-1, descending=True, stable=True).indices  # (B, T)
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(order.shape[-1]).expand_as(order))
    k = torch.ceil(valid.sum(-1).float() * fraction - 1e-9).long()  # (B,)
    return (rank < k.unsqueeze(-1)) & valid


def overlap_shares(planning: torch.Tensor, high_entropy: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
    """The two overlap figures the paper reports, over the whole batch.

    * ``planning_high_share``: share of planning tokens that are high-entropy
      (the paper: more than half);
    * ``high_planning_share``: share of high-entropy tokens that are planning
      tokens (the paper: about 5-9%).

    Args: (B, T) bool masks. Returns floats, ``nan`` for an empty denominator.
    """
    valid = valid.bool()
    p = planning.bool() & valid
    h = high_entropy.bool() & valid
    both = (p & h).sum().item()
    n_p, n_h = p.sum().item(), h.sum().item()
    return {
        "planning_high_share": both / n_p if n_p else float("nan"),
        "high_planning_share": both / n_h if n_h else float("nan"),
    }
