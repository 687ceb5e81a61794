"""Teacher-forced scoring of sampled responses: log-probs and entropies per token.

The same forward pass gives the log-probs the loss needs and the entropies
and NLLs the metrics need; nothing is computed twice.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.rollout import left_pad


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


def score(model, prompts: list[list[int]], response_ids: torch.Tensor, response_mask: torch.Tensor,
          pad_id: int, with_entropy: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-probs of the response tokens under ``model`` (with grad if enabled).

    Args:
        prompts: N prompt id lists. response_ids, response_mask: (N, T).
    Returns:
        ``(logprobs, entropy)``: (N, T) float32 each; entropy (no grad) is
        None when ``with_entropy`` is False. Padding positions hold garbage;
        mask them with ``response_mask``.
    """
    device = next(model.parameters()).device
    ids, mask, positions = (t.to(device) for t in build_inputs(prompts, response_ids, response_mask, pad_id))
    t_len = response_ids.shape[1]
    # Only the logits that predict response tokens: positions P-1 .. P+T-2.
    logits = model(input_ids=ids, attention_mask=mask, position_ids=positions,
                   logits_to_keep=t_len + 1).logits[:, :-1, :]  # (N, T, V)
    logp_all = F.log_softmax(logits.float(), dim=-1)
    targets = response_ids.to(device)
    logprobs = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (N, T)
    entropy = None
    if with_entropy:
        with torch.no_grad():
            entropy = -(logp_all.exp() * logp_all).sum(-1)  # (N, T)
    return logprobs, entropy
