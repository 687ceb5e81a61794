"""Sampling responses: a lean decoding loop with a reused KV cache.

One prefill over the (left-padded) prompts (through the lean decoder, each
distinct prompt once: a group's responses share theirs), then one model
call per new token for the whole batch; a sequence that has emitted EOS keeps emitting
padding, and the loop stops as soon as every sequence is done. Through the
lean decoder, finished sequences leave the batch once they are a quarter of
it (``COMPACT``), so the model stops computing their padding (not while
its steps replay as CUDA graphs: a graph's batch is fixed). Sampling uses
an explicit ``torch.Generator`` on the model's device (another device is an
error, not a silent fall back to the global generator), and every sequence
draws its own random number each step, so runs are reproducible and a
sequence's random numbers do not depend on which others are still running
(its logits can still differ in float rounding with the batch's size).
The sampler's log-probability of each sampled token (at temperature 1, as
the update scores it) comes back with the tokens, so the loop can measure
how far the sampler and the policy disagree.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from functools import lru_cache

import torch

from training.engine.decoder import LeanDecoder, base_model, lean_decoder
from training.engine import graphs as cuda_graphs
from training.engine.modeling import with_index

COMPACT = 4  # drop finished rows once they are 1/COMPACT of the batch (0: never)
GRAPH_DEVICES = ("cuda",)  # where the lean decoder's steps replay as CUDA graphs (training/engine/graphs.py)
# How the last call of sample() ran the model (decoder, graphs, attention): the benchmarks report it.
last_path = ""


@dataclass(frozen=True)
class Rollout:
    """Sampled responses for a batch of prompts (one row per response)."""

    prompt_ids: list[list[int]]  # (N,) prompts, unpadded
    response_ids: torch.Tensor  # (N, T) int64, padded with pad_id after EOS
    response_mask: torch.Tensor  # (N, T) bool, True on generated tokens (EOS included)
    logprobs: torch.Tensor | None = None  # (N, T) float32: the sampler's log-prob of each token (temperature 1)

    @property
    def lengths(self) -> torch.Tensor:
        return self.response_mask.sum(-1)

    def responses(self) -> list[list[int]]:
        """Generated ids per row, without padding (EOS kept when emitted)."""
        return [row[m].tolist() for row, m in zip(self.response_ids, self.response_mask)]


def distinct_prompts(prompts: list[list[int]]) -> tuple[list[int], list[int]]:
    """``(firsts, copy_of)``: the first row of each distinct prompt (U,), and each row's distinct prompt (N,).

    >>> distinct_prompts([[5, 6], [7], [5, 6]])
    ([0, 1], [0, 1, 0])
    """
    index: dict[tuple, int] = {}
    firsts, copy_of = [], []
    for i, p in enumerate(prompts):
        if tuple(p) not in index:
            index[tuple(p)] = len(firsts)
            firsts.append(i)
        copy_of.append(index[tuple(p)])
    return firsts, copy_of


def left_pad(prompts: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, P) ids and attention mask, prompts aligned to the right."""
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p):] = 1
    return ids, mask


@torch.no_grad()
def sample(model, prompts: list[list[int]], *, max_new_tokens: int, temperature: float,
           eos_id: int, pad_id: int, generator: torch.Generator | None = None,
           top_p: float = 1.0, lean: bool = True, graphs: bool = True) -> Rollout:
    """Sample one response per prompt (repeat a prompt G times for a group).

    Args:
        prompts: N lists of prompt token ids.
        temperature: 0 means greedy.
        top_p: nucleus sampling threshold (1.0 = off).
        lean: run the model through :mod:`training.engine.decoder` when it covers
            the architecture (same logits up to float rounding, fewer
            operations per token); False always uses transformers' forward.
        graphs: on a GPU, replay the lean decoder's steps as CUDA graphs
            (:mod:`training.engine.graphs`; finished rows then stay in the batch).
        generator: on the model's device (else ValueError); None uses the global one.
    """
    global last_path
    device = next(model.parameters()).device
    check_generator(generator, device)
    ids, prompt_mask = left_pad(prompts, pad_id)
    ids = ids.to(device)
    n, width = ids.shape
    prompt_mask = prompt_mask.to(device)
    positions = (prompt_mask.cumsum(-1) - 1).clamp(min=0)  # (N, P)
    # A group's responses share their prompt: the lean decoder reads each distinct prompt once and
    # then copies its cache to the rows that share it.
    firsts, copy_of = distinct_prompts(prompts)
    forward = None
    if lean and graphs and device.type in GRAPH_DEVICES and cuda_graphs.usable():
        forward = cuda_graphs.graphed_decoder(model, n, width + max_new_tokens)
    if forward is None and lean:
        forward = lean_decoder(model, len(firsts), width + max_new_tokens)
    last_path = "transformers" if forward is None else \
        f"lean decoder{', CUDA graphs' if isinstance(forward, cuda_graphs.GraphedDecoder) else ''}; {forward.attention}"
    if forward is not None:
        firsts, copy_of = torch.tensor(firsts, device=device), torch.tensor(copy_of, device=device)
        logits = forward.prefill(ids[firsts], prompt_mask[firsts], positions[firsts])[copy_of]
        forward.keep(copy_of)
    else:
        forward = _HFForward(model, n, width + max_new_tokens)
        logits = forward.prefill(ids, prompt_mask, positions)
    # logits: (B, V), B rows still in the batch (B <= N)
    next_pos = positions[:, -1] + 1  # (B,)
    tokens = torch.full((n, max_new_tokens), pad_id, dtype=torch.long, device=device)
    logprobs = torch.zeros((n, max_new_tokens), dtype=torch.float32, device=device)
    produced = torch.zeros((n, max_new_tokens), dtype=torch.bool, device=device)
    rows = torch.arange(n, device=device)  # (B,) each batch row's place among the N
    alive = torch.ones(n, dtype=torch.bool, device=device)  # (B,)
    check_every = 1 if device.type == "cpu" else 8
    for t in range(max_new_tokens):
        tok = _pick(logits, temperature, top_p, generator, rows, n)  # (B,)
        tok = torch.where(alive, tok, pad_id)
        tokens[rows, t] = tok
        logprobs[rows, t] = token_logprobs(logits, tok)
        produced[rows, t] = alive
        alive = alive & (tok != eos_id)
        if t == max_new_tokens - 1:
            break
        # "How many are done?" makes the host wait for the device; on a GPU ask every few tokens only.
        if t % check_every == check_every - 1:
            done = len(alive) - int(alive.sum())
            if done == len(alive):
                break
            if COMPACT and done * COMPACT >= len(alive) and isinstance(forward, LeanDecoder):
                # drop the finished rows: the model stops computing their padding
                keep = alive.nonzero().squeeze(1)
                forward.keep(keep)
                rows, alive, tok, next_pos = rows[keep], alive[keep], tok[keep], next_pos[keep]
        logits = forward.step(tok, next_pos)
        next_pos = next_pos + 1
    used = int(produced.sum(-1).max().item()) if n else 0
    mask = produced[:, :used].cpu()
    return Rollout(prompt_ids=[list(p) for p in prompts], response_ids=tokens[:, :used].cpu(), response_mask=mask,
                   logprobs=logprobs[:, :used].cpu() * mask)


def check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    """A generator on another device than the model's is an error (torch would otherwise need the
    global generator there, and the run's seeds would silently stop mattering)."""
    if generator is not None and with_index(generator.device) != with_index(device):
        raise ValueError(f"the sampling generator is on {generator.device}, the model on {device}: create it "
                         "with torch.Generator(device=<the model's device>)")


def token_logprobs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, V) logits, (B,) tokens -> (B,) float32 log-probs of the tokens at temperature 1."""
    logits = logits.float()
    return logits.gather(-1, tokens[:, None]).squeeze(-1) - torch.logsumexp(logits, dim=-1)


class _HFForward:
    """transformers' forward with its own KV cache, behind the two calls of
    :class:`training.engine.decoder.LeanDecoder`."""

    def __init__(self, model, batch: int, max_len: int):
        self.model, self.width, self.t = model, 0, 0
        self.cache = None
        self.cache_kw = _cache_keyword(type(base_model(model)))
        self.attn = torch.ones((batch, max_len), dtype=torch.long)  # prompt mask, then ones

    def prefill(self, ids, prompt_mask, positions):
        self.width = ids.shape[1]
        self.attn = self.attn.to(ids.device)
        self.attn[:, :self.width] = prompt_mask
        out = self.model(input_ids=ids, attention_mask=self.attn[:, :self.width], position_ids=positions,
                         use_cache=True, logits_to_keep=1)
        self.cache = _cache_of(out)
        return out.logits[:, -1, :]

    def step(self, tok, positions):
        self.t += 1
        out = self.model(input_ids=tok.unsqueeze(-1), attention_mask=self.attn[:, :self.width + self.t],
                         position_ids=positions.unsqueeze(-1), use_cache=True, **{self.cache_kw: self.cache})
        self.cache = _cache_of(out)
        return out.logits[:, -1, :]


@lru_cache(maxsize=None)
def _cache_keyword(model_class) -> str:
    """transformers renamed ``past_key_values`` to ``cache`` (5.2x); accept both."""
    params = inspect.signature(model_class.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _cache_of(out):
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _pick(logits: torch.Tensor, temperature: float, top_p: float, generator, rows: torch.Tensor,
          n: int) -> torch.Tensor:
    """Next token for each batch row (``rows``: their places among ``n``): greedy at temperature 0,
    else an exact sample.

    Sampling inverts the CDF with one uniform number per row (N random
    numbers a step instead of N x V: the CPU generator is the slow part).
    All ``n`` numbers are drawn every step and each row takes its own, so a
    row's sample does not depend on which other rows are still in the batch.
    """
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature if temperature != 1.0 else logits.float(), dim=-1)
    if top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        keep = sorted_p.cumsum(-1) - sorted_p < top_p
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_p * keep)
    cdf = probs.cumsum(-1)  # (B, V)
    u = torch.rand((n, 1), generator=generator, device=probs.device)[rows] * cdf[:, -1:]
    return torch.searchsorted(cdf, u, right=True).squeeze(-1).clamp(max=probs.shape[-1] - 1)
