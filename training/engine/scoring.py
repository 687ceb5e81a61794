"""Teacher-forced scoring of sampled responses: log-probs and entropies per token.

The same forward pass gives the log-probs the loss needs and the entropies
and NLLs the metrics need; nothing is computed twice.

The decoder runs once, through :mod:`training.engine.lean_forward` where it covers
the model (else through transformers' own forward).

Memory: full-vocabulary logits for a whole batch (N x T x V: 20 GB in float32
for 64 x 512 tokens of a 152k vocabulary) are never built. The output layer,
softmax, log-prob and entropy run on chunks of positions, each under
activation checkpointing when gradients are needed, so only one chunk's
logits exist at a time, in the forward and in the backward pass. A chunk
holds ``LOGIT_BUDGET // vocabulary`` positions (441 for Qwen's 151,936 ids:
268 MB of float32 logits). A batch whose logits fit in the budget (a small
vocabulary) is one chunk, with no checkpointing: no second pass to pay.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from training.engine.decoder import base_model
from training.engine.lean_forward import final_hidden
from training.engine.rollout import left_pad

LOGIT_BUDGET = 2 ** 26  # float32 logits (256 MB) computed at once before chunking


def build_inputs(prompts: list[list[int]], response_ids: torch.Tensor, response_mask: torch.Tensor,
                 pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Prompt (left-padded) + response (right-padded) as one batch.

    Returns (N, P + T) input ids, attention mask and position ids.
    """
    p_ids, p_mask = left_pad(prompts, pad_id)  # (N, P)
    ids = torch.cat([p_ids, response_ids], dim=1)
    mask = torch.cat([p_mask, response_mask.long()], dim=1)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def _head_chunk(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, targets: torch.Tensor,
                with_entropy: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(M, H) hidden states -> (M,) log-prob of the targets and (M,) entropy (float32), or None."""
    logits = F.linear(hidden, weight, bias).float()  # (M, V)
    logp = F.log_softmax(logits, dim=-1)
    lp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    if not with_entropy:
        return lp, None
    with torch.no_grad():  # a metric: no graph to keep
        entropy = -(logp.exp() * logp).sum(-1)
    return lp, entropy


def score(model, prompts: list[list[int]], response_ids: torch.Tensor, response_mask: torch.Tensor,
          pad_id: int, with_entropy: bool = True, chunk_tokens: int | None = None,
          lean: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the response tokens under ``model`` (with grad if enabled).

    Args:
        prompts: N prompt id lists. response_ids, response_mask: (N, T).
        chunk_tokens: positions per output-layer chunk (memory vs speed);
            default: as many as fit ``LOGIT_BUDGET`` logits.
        lean: use :mod:`training.engine.lean_forward` where it covers the model.
    Returns:
        ``(logprobs, entropy)``: (N, T) float32 each, 0 on padding; entropy
        (detached) is None when ``with_entropy`` is False.
    """
    base = base_model(model)
    device = next(model.parameters()).device
    n, t_len = response_ids.shape
    hidden = final_hidden(model, prompts, response_ids, response_mask) if lean else None  # (N, T, H)
    if hidden is None:
        ids, mask, positions = (t.to(device) for t in build_inputs(prompts, response_ids, response_mask, pad_id))
        hidden = base.get_decoder()(input_ids=ids, attention_mask=mask, position_ids=positions,
                                    use_cache=False).last_hidden_state
        # Positions P-1 .. P+T-2 predict the response tokens 0 .. T-1.
        hidden = hidden[:, -(t_len + 1):-1, :]
    # The output layer runs on the response tokens only, not on padding.
    # (found on the host: nonzero() on the device would make the host wait for it)
    keep = response_mask.cpu().reshape(-1).nonzero().squeeze(1)  # (K,)
    targets = response_ids.cpu().reshape(-1).index_select(0, keep).to(device)
    keep = keep.to(device)
    hidden = hidden.reshape(n * t_len, -1).index_select(0, keep)  # (K, H)
    head = base.get_output_embeddings()
    positions = len(keep)
    if chunk_tokens is None:
        chunk_tokens = LOGIT_BUDGET // head.weight.shape[0]
    chunk_tokens = max(chunk_tokens, 1)
    chunked = chunk_tokens < positions
    lps, ents = [], []
    for start in range(0, positions, chunk_tokens):
        end = min(start + chunk_tokens, positions)
        args = (hidden[start:end], head.weight, head.bias, targets[start:end], with_entropy)
        if chunked and hidden.requires_grad:
            lp, ent = checkpoint(_head_chunk, *args, use_reentrant=False)
        else:
            lp, ent = _head_chunk(*args)
        lps.append(lp)
        ents.append(ent)
    def spread(values: list[torch.Tensor]) -> torch.Tensor:  # (K,) pieces -> (N, T), zeros on padding
        if not values:  # no response token at all: zeros, still attached to the graph
            return torch.zeros(n, t_len, device=device) + hidden.sum() * 0.0
        return torch.zeros(n * t_len, device=device).index_copy(0, keep, torch.cat(values)).view(n, t_len)

    return spread(lps), spread(ents).detach() if with_entropy else None  # detached: the empty case
