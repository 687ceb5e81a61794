"""GRPO and HICRA as pure tensor functions: no model, tokenizer or config.

Shapes: N responses in the batch, laid out group after group (``N = P * G``
for P prompts with G responses each); T token positions per response. Token
masks are (N, T) bool and are False on prompt and padding positions.

Conventions (each one tested):

* Group advantages are mean-centred, ``A_i = R_i - mean(R_group)`` (the
  paper's form, as Dr. GRPO argues). ``scale_by_std=True`` also divides by
  the group's sample standard deviation (unbiased, as DeepSeek's GRPO and
  TRL). A group whose rewards are all equal, and a group of one, get exactly
  zero advantage, never NaN.
* HICRA: ``A' = A + alpha * |A|`` on planning tokens, ``A`` elsewhere. With
  ``alpha = 0`` or an empty mask this is GRPO's advantage, bit for bit.
* The policy loss is PPO's clipped surrogate with separate lower and upper
  clip ranges; tokens are aggregated by :func:`aggregate` ("token-mean":
  every valid token in the batch weighs the same; "seq-mean": the mean over
  responses of each response's token mean). An optional KL penalty to a
  reference policy uses the k3 estimator. An all-False mask gives a zero loss.
"""

from __future__ import annotations

import torch

# ----------------------------------------------------------------- advantages


def group_advantages(rewards: torch.Tensor, group_size: int, scale_by_std: bool = False,
                     eps: float = 1e-6) -> torch.Tensor:
    """Per-response advantages from rewards, normalized within each group.

    Args:
        rewards: (N,) rewards, N a multiple of ``group_size``.
        group_size: G, responses per prompt.
        scale_by_std: also divide by the group's sample std (+ ``eps``).
    Returns:
        (N,) float32 advantages.

    >>> group_advantages(torch.tensor([1., 0., 0., 1., 1., 1.]), 3)
    tensor([ 0.6667, -0.3333, -0.3333,  0.0000,  0.0000,  0.0000])
    """
    if group_size < 1:
        raise ValueError(f"group_size must be at least 1, got {group_size}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ValueError(f"rewards must be a 1-D tensor whose length is a multiple of "
                         f"group_size={group_size}; got shape {tuple(rewards.shape)}")
    r = rewards.float().view(-1, group_size)  # (P, G)
    adv = r - r.mean(dim=1, keepdim=True)
    # Equal rewards: exactly zero (float rounding could leave ~1e-8 behind).
    flat = (r.max(dim=1, keepdim=True).values == r.min(dim=1, keepdim=True).values)
    adv = adv.masked_fill(flat, 0.0)
    if scale_by_std and group_size > 1:
        std = r.std(dim=1, keepdim=True)  # unbiased; > 0 wherever not flat
        adv = torch.where(flat, adv, adv / (std + eps))
    return adv.view(-1)


def broadcast_to_tokens(advantages: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(N,) per-response advantages -> (N, T) per-token, zero off ``valid``."""
    return advantages.float().unsqueeze(-1) * valid.float()


def hicra_advantages(advantages: torch.Tensor, planning: torch.Tensor, alpha: float = 0.2) -> torch.Tensor:
    """HICRA's credit assignment: ``A + alpha * |A|`` on planning tokens.

    Planning tokens of successful responses (A > 0) get ``(1 + alpha)`` times
    the credit; those of failed responses (A < 0) get ``(1 - alpha)`` times
    the blame. Other tokens keep ``A``.

    Args:
        advantages: (N, T) per-token, or (N,) per-response advantages
            (broadcast along T).
        planning: (N, T) bool planning-token mask.
        alpha: amplification, >= 0 (the paper uses 0.2).
    Returns:
        (N, T) float32 advantages.
    """
    if not alpha >= 0.0:  # also rejects NaN
        raise ValueError(f"alpha must be a non-negative number, got {alpha}")
    adv = advantages.float()
    if adv.dim() == 1:
        adv = adv.unsqueeze(-1).expand(planning.shape)
    if adv.shape != planning.shape:
        raise ValueError(f"advantages {tuple(adv.shape)} and planning mask "
                         f"{tuple(planning.shape)} must have the same shape")
    return torch.where(planning.bool(), adv + alpha * adv.abs(), adv)


def released_code_mask(advantages: torch.Tensor, planning: torch.Tensor, high_entropy: torch.Tensor,
                       valid: torch.Tensor, group_size: int) -> torch.Tensor:
    """The tokens the paper's released code amplifies (as a third-party port describes).

    Planning OR high-entropy tokens, but only in responses with ``A > 0``
    that are longer than their group's mean response length. Feed the result
    to :func:`hicra_advantages` as the mask.

    Args:
        advantages: (N,) per-response advantages.
        planning, high_entropy, valid: (N, T) bool.
        group_size: G.
    Returns:
        (N, T) bool.
    """
    lengths = valid.sum(-1).float()  # (N,)
    group_mean = lengths.view(-1, group_size).mean(dim=1).repeat_interleave(group_size)  # (N,)
    eligible = (advantages > 0) & (lengths > group_mean)  # (N,)
    return (planning.bool() | high_entropy.bool()) & valid.bool() & eligible.unsqueeze(-1)


def matched_entropy_mask(entropy: torch.Tensor, planning: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """The highest-entropy tokens of each response, as many as it has planning tokens.

    The entropy-only ablation with the planning mask's token budget: the
    paper's high-entropy arm amplifies the top 30% of tokens, about half
    again the planning mask's share, so a difference could be the budget's.
    Ties break by position (earlier first).

    >>> e = torch.tensor([[0.1, 0.9, 0.5, 0.7], [0.3, 0.2, 0.1, 0.0]])
    >>> plan = torch.tensor([[True, False, False, True], [False, False, False, False]])
    >>> matched_entropy_mask(e, plan, torch.ones(2, 4, dtype=torch.bool)).int().tolist()
    [[0, 1, 0, 1], [0, 0, 0, 0]]

    Args:
        entropy: (N, T) floats. planning, valid: (N, T) bool.
    Returns:
        (N, T) bool.
    """
    valid = valid.bool()
    counts = (planning.bool() & valid).sum(-1)  # (N,)
    scores = entropy.float().masked_fill(~valid, float("-inf"))
    order = scores.argsort(dim=-1, descending=True, stable=True)  # (N, T)
    ranks = torch.empty_like(order)
    ranks.scatter_(-1, order, torch.arange(order.shape[-1]).expand_as(order))
    return (ranks < counts[:, None]) & valid


def placebo_mask(planning: torch.Tensor, valid: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random "n-grams" with the same token budget as the planning mask.

    For each response, every contiguous run of planning tokens is replaced by
    a run of the same length at a random position among the valid tokens;
    runs do not overlap, so each response keeps exactly its planning-token
    count (when its valid tokens can hold the runs). The paper's placebo
    ablation: amplify random spans instead of Strategic Grams.

    Args:
        planning, valid: (N, T) bool. generator: for reproducibility.
    Returns:
        (N, T) bool.
    """
    out = torch.zeros_like(valid, dtype=torch.bool)
    for i in range(planning.shape[0]):
        positions = valid[i].nonzero().flatten()  # valid token positions, in order
        runs = _run_lengths(planning[i].bool() & valid[i].bool())
        free = len(positions) - sum(runs)
        if not runs or free < 0:
            continue
        # Place runs in random order with random gaps: draw where the free
        # (non-placebo) tokens fall between runs, uniformly.
        order = torch.randperm(len(runs), generator=generator).tolist()
        cuts = torch.sort(torch.randint(0, free + 1, (len(runs),), generator=generator)).values.tolist()
        cursor, used_free = 0, 0
        for run_index, cut in zip(order, cuts):
            cursor += cut - used_free
            used_free = cut
            length = runs[run_index]
            out[i, positions[cursor:cursor + length]] = True
            cursor += length
    return out


def _run_lengths(row: torch.Tensor) -> list[int]:
    runs, current = [], 0
    for flag in row.tolist():
        if flag:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    if current:
        runs.append(current)
    return runs


# ----------------------------------------------------------------------- loss


def aggregate(values: torch.Tensor, mask: torch.Tensor, mode: str = "token-mean",
              denominator: float | None = None) -> torch.Tensor:
    """Reduce per-token values (N, T) to a scalar.

    ``"token-mean"``: sum over valid tokens / number of valid tokens (long
    responses weigh more, DAPO / Dr. GRPO). ``"seq-mean"``: mean over
    responses that have tokens of their own token mean (original GRPO).
    An all-False mask gives 0.

    ``denominator`` replaces the local count (valid tokens, or responses
    with tokens): a process holding a shard of a batch divides by the whole
    batch's count, so the sum of the shards' gradients is the batch's.
    """
    mask = mask.float()
    if mode == "token-mean":
        count = mask.sum() if denominator is None else torch.tensor(float(denominator))
        return (values * mask).sum() / count.clamp(min=1.0)
    if mode == "seq-mean":
        per_seq_count = mask.sum(-1)  # (N,)
        per_seq = (values * mask).sum(-1) / per_seq_count.clamp(min=1.0)
        has_tokens = (per_seq_count > 0).float()
        count = has_tokens.sum() if denominator is None else torch.tensor(float(denominator))
        return (per_seq * has_tokens).sum() / count.clamp(min=1.0)
    raise ValueError(f"aggregation mode must be 'token-mean' or 'seq-mean', got {mode!r}")


def kl_k3(logprobs: torch.Tensor, ref_logprobs: torch.Tensor) -> torch.Tensor:
    """Per-token k3 estimate of KL(pi || pi_ref): ``exp(d) - d - 1``, ``d = ref - logp``.

    Non-negative, zero where the two agree. (N, T) -> (N, T).
    """
    d = ref_logprobs - logprobs
    return torch.exp(d) - d - 1.0


def policy_loss(logprobs: torch.Tensor, old_logprobs: torch.Tensor, advantages: torch.Tensor,
                mask: torch.Tensor, clip_low: float = 0.2, clip_high: float = 0.2,
                aggregation: str = "token-mean", ref_logprobs: torch.Tensor | None = None,
                kl_coef: float = 0.0, denominator: float | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """PPO-style clipped surrogate loss (to minimize), with an optional k3 KL penalty.

    ``ratio = exp(logprobs - old_logprobs)``; per token
    ``loss = -min(ratio * A, clip(ratio, 1 - clip_low, 1 + clip_high) * A)
    + kl_coef * k3``, then aggregated over ``mask``.

    Args:
        logprobs: (N, T) log-probs of the sampled tokens under the current policy
            (carries the gradient).
        old_logprobs: (N, T) under the policy that sampled them (no gradient).
        advantages: (N, T) per-token advantages (GRPO or HICRA).
        mask: (N, T) bool, valid response tokens.
        ref_logprobs: (N, T) under the reference policy, needed when kl_coef > 0.
        denominator: see :func:`aggregate` (multi-process training).
    Returns:
        ``(loss, metrics)``: a scalar tensor and floats under ``loss/``,
        ``clip/``, ``ratio/`` and ``kl/`` keys.
    """
    if kl_coef and ref_logprobs is None:
        raise ValueError("kl_coef > 0 needs ref_logprobs")
    mask = mask.bool()
    log_ratio = logprobs - old_logprobs.detach()
    ratio = torch.exp(log_ratio)
    adv = advantages.detach()
    unclipped = ratio * adv
    clipped = torch.clamp(ratio, 1.0 - clip_low, 1.0 + clip_high) * adv
    per_token = -torch.minimum(unclipped, clipped)
    pg_loss = aggregate(per_token, mask, aggregation, denominator)
    loss = pg_loss
    values: dict[str, torch.Tensor] = {"loss/policy": pg_loss}
    if ref_logprobs is not None:
        kl = kl_k3(logprobs, ref_logprobs.detach())
        kl_loss = aggregate(kl, mask, aggregation, denominator)
        if kl_coef:
            loss = loss + kl_coef * kl_loss
        values["kl/k3"] = kl_loss
    with torch.no_grad():
        m = mask.float()
        n = m.sum().clamp(min=1.0)
        # A token is clipped when the clipped term is the one min() picked
        # and it differs from the unclipped term (the gradient is zero there).
        is_clipped = (clipped < unclipped).float() * m
        low = ((ratio < 1.0 - clip_low) & (adv < 0)).float() * m
        high = ((ratio > 1.0 + clip_high) & (adv > 0)).float() * m
        values.update({
            "loss/total": loss,
            "clip/fraction": is_clipped.sum() / n,
            "clip/low_fraction": low.sum() / n,
            "clip/high_fraction": high.sum() / n,
            "ratio/mean": (ratio * m).sum() / n,
            "ratio/max": ratio.masked_fill(~mask, float("-inf")).max() if ratio.numel() else torch.tensor(1.0),
        })
        # one copy to the host for all of them (each .item() would wait for the device on its own)
        metrics = dict(zip(values, torch.stack([v.detach().float().to(pg_loss.device) for v in values.values()])
                           .tolist()))
    if metrics["ratio/max"] == float("-inf"):  # no valid token
        metrics["ratio/max"] = 1.0
    return loss, metrics
