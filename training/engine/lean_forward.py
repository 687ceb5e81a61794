"""A lean teacher-forced forward for the update: Llama-family models (Qwen2, Llama) with LoRA.

The update runs prompt + response through the model once, with gradients.
Through transformers and peft that costs, besides the matrix products:

- per LoRA layer, ``base(x) + lora_B(lora_A(dropout(x))) * scaling``: two
  extra full-size passes over the output (the scaling and the sum) and the
  same again in the backward pass;
- attention with a 4-D mask built for the left-padded batch.

This forward computes the same numbers with

- the LoRA sum fused into the second LoRA product (``addmm``, the scaling
  folded into the small ``B``);
- rows laid out left-aligned (prompt, response, then padding): padding then
  only ever follows the real tokens, so causal attention needs no mask, and
  every row's positions are ``0, 1, 2, ...``.

- the LoRA ``A`` products of the projections that read the same input
  (q, k, v; gate, up) as one matrix product, on one float32 copy of it:
  with a bf16 base and float32 LoRA (peft's default) the graph keeps one
  float32 copy of each input instead of one per projection.

Activation checkpointing, where the model has it on
(``activation_checkpointing_enable()``; ``RunConfig.activation_checkpointing``),
is honoured layer by layer: a checkpointed layer keeps only its input and
recomputes the rest in the backward pass.

It reads the model's own weights (nothing is copied) and gives the same
log-probs and gradients as transformers + peft to float rounding
(tests/test_lean_forward.py). Models or adapters it does not cover (other
architectures, DoRA and other LoRA variants, LoRA dropout, several active
adapters) return ``None``; :func:`training.engine.scoring.score` then uses
transformers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from training.engine.decoder import attention_shape, base_model, covers, projections, rms_norm, rope_tables, rotate
from training.engine.delta import DeltaLinear
from training.engine.rollout import distinct_prompts

# One projection: base weight and bias, then LoRA's A (r, in) and B (out, r) and scaling, or None.
Projection = tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, float]


def _projection(module: torch.nn.Module) -> Projection | None:
    """The weights a projection applies: a plain Linear, a :class:`DeltaLinear` (the sampler copy in
    bf16) or a peft LoRA Linear's active adapter."""
    if type(module) is torch.nn.Linear:
        return module.weight, module.bias, None, None, 0.0
    if type(module) is DeltaLinear:
        return (module.weight, module.bias, *module.lora) if module.lora else (module.weight, module.bias, None, None, 0.0)
    from peft.tuners.lora.layer import Linear as LoraLinear

    if type(module) is not LoraLinear or type(module.base_layer) is not torch.nn.Linear:
        return None
    base = module.base_layer
    if module.disable_adapters or module.merged:  # the base weight alone (merged: the delta is in it)
        return base.weight, base.bias, None, None, 0.0
    active = [name for name in module.active_adapters if name in module.lora_A]
    if not active:
        return base.weight, base.bias, None, None, 0.0
    if len(active) > 1:
        return None
    name = active[0]
    if name in getattr(module, "lora_variant", {}) or type(module.lora_dropout[name]) is not torch.nn.Identity \
            or module.lora_B[name].bias is not None:
        return None
    return base.weight, base.bias, module.lora_A[name].weight, module.lora_B[name].weight, module.scaling[name]


def _apply(x: torch.Tensor, *projs: Projection) -> list[torch.Tensor]:
    """(M, in) -> one (M, out) per projection: ``x W^T + b``, plus ``scaling * (x A^T) B^T`` with LoRA.

    The LoRA ``A`` products of all the projections are one matrix product
    on one copy of ``x`` in LoRA's dtype (float32 LoRA on a bf16 model, as in
    peft): the graph keeps that copy once, not once per projection.
    """
    outs = [F.linear(x, weight, bias) for weight, bias, *_ in projs]
    lora = [i for i, p in enumerate(projs) if p[2] is not None]
    if not lora:
        return outs
    groups: dict[torch.dtype, list[int]] = {}
    for i in lora:
        groups.setdefault(projs[i][2].dtype, []).append(i)
    for dtype, members in groups.items():
        a = [projs[i][2] for i in members]
        xa = x.to(dtype) @ (a[0] if len(a) == 1 else torch.cat(a)).t()  # (M, sum of ranks)
        for i, part in zip(members, xa.split([t.shape[0] for t in a], dim=-1)):
            y, (*_, lora_b, scaling) = outs[i], projs[i]
            if y.dtype == dtype:
                outs[i] = torch.addmm(y, part, (lora_b * scaling).t())
            else:
                outs[i] = (y + part @ (lora_b * scaling).t()).to(y.dtype)
    return outs


@dataclass(frozen=True)
class Packing:
    """Where each token's row of activations lives.

    The matrix products run over a packed list of tokens: each distinct
    prompt once (a group's responses share it), then each response's own
    tokens, no padding. Attention runs over rows laid out left-aligned
    (prompt, response, then padding), gathered from that list.
    """

    tokens: torch.Tensor  # (M,) token ids of the packed list
    positions: torch.Tensor  # (M,) their positions in their sequence (for RoPE)
    rows: torch.Tensor  # (N*W,) for each row and column, the packed entry there (padding: entry 0)
    back: torch.Tensor  # (M,) for each packed entry, one row and column (row * W + column) that computes it
    predict: torch.Tensor  # (N, T) the packed entry whose output predicts response token t of row i
    width: int  # W

    @classmethod
    def build(cls, prompts: list[list[int]], response_ids: torch.Tensor, lengths: list[int]) -> "Packing":
        n, t_len = response_ids.shape
        width = max(len(p) + length for p, length in zip(prompts, lengths))
        tokens, positions, back = [], [], []
        rows = torch.zeros((n, width), dtype=torch.long)
        firsts, copy_of = distinct_prompts(prompts)
        starts = [0] * len(firsts)  # where each distinct prompt starts in the packed list
        for i, (prompt, length) in enumerate(zip(prompts, lengths)):
            p = len(prompt)
            if firsts[copy_of[i]] == i:  # the prompt's first row: the prompt goes in here
                starts[copy_of[i]] = len(tokens)
                tokens += prompt
                positions += range(p)
                back += range(i * width, i * width + p)
            start = starts[copy_of[i]]
            rows[i, :p] = torch.arange(start, start + p)
            rows[i, p:p + length] = torch.arange(len(tokens), len(tokens) + length)
            tokens += response_ids[i, :length].tolist()
            positions += range(p, p + length)
            back += range(i * width + p, i * width + p + length)
        # Column p - 1 + t predicts response token t; past a response's end: any entry (masked later).
        columns = torch.tensor([len(p) - 1 for p in prompts])[:, None] + torch.arange(t_len)[None]  # (N, T)
        predict = rows.gather(1, columns.clamp(max=width - 1))
        return cls(torch.tensor(tokens), torch.tensor(positions), rows.view(-1), torch.tensor(back), predict, width)

    def to(self, device) -> "Packing":
        return Packing(self.tokens.to(device), self.positions.to(device), self.rows.to(device),
                       self.back.to(device), self.predict.to(device), self.width)


def final_hidden(model, prompts: list[list[int]], response_ids: torch.Tensor,
                 response_mask: torch.Tensor) -> torch.Tensor | None:
    """Final hidden states (normed) at the positions that predict each response token.

    Args:
        model: a transformers causal LM, or a peft model around one.
        prompts: N prompt id lists (any lengths). response_ids, response_mask:
            (N, T); each row's valid tokens come first.
    Returns:
        (N, T, H): row i, column t predicts ``response_ids[i, t]`` (garbage
        where ``response_mask`` is False). None when the model is not covered
        (see the module docstring).
    """
    base = base_model(model)
    n, t_len = response_ids.shape
    mask = response_mask.bool().cpu()
    lengths = mask.sum(-1)  # (N,)
    prefixes = torch.equal(mask, torch.arange(t_len)[None] < lengths[:, None])  # each row's valid tokens first
    if n == 0 or min(len(p) for p in prompts) == 0 or not prefixes:
        return None  # an empty prompt, or a response with holes: transformers' path handles those
    if not covers(base, max(len(p) for p in prompts) + t_len) or \
            (model.training and getattr(base.config, "attention_dropout", 0.0)):
        return None
    projs = [_projection(m) for m in projections(base)]
    if any(p is None for p in projs):
        return None
    layer_projs = [projs[i:i + 7] for i in range(0, len(projs), 7)]  # per layer: q, k, v, o, gate, up, down
    cfg, inner = base.config, base.get_decoder()
    heads, kv_heads, head_dim = attention_shape(cfg)
    weight = inner.embed_tokens.weight
    pack = Packing.build(prompts, response_ids, lengths.tolist()).to(weight.device)
    width = pack.width
    cos, sin = rope_tables(inner.rotary_emb, weight, width)  # (W, D) each
    cos, sin = cos[pack.positions, None], sin[pack.positions, None]  # (M, 1, D): per packed token
    gqa = {"enable_gqa": True} if kv_heads != heads else {}

    def rows(x: torch.Tensor, n_heads: int) -> torch.Tensor:
        """(M, heads, D) packed -> (N, heads, W, D) rows for attention (index_select: its backward is
    several times faster than advanced indexing's on a CPU)."""
        return x.index_select(0, pack.rows).view(n, width, n_heads, head_dim).transpose(1, 2)

    m = len(pack.tokens)

    def block(h: torch.Tensor, layer, projs: list[Projection]) -> torch.Tensor:
        """One decoder layer: (M, H) -> (M, H)."""
        q_p, k_p, v_p, o_p, gate_p, up_p, down_p = projs
        q, k, v = _apply(rms_norm(h, layer.input_layernorm), q_p, k_p, v_p)
        q = rotate(q.view(m, heads, head_dim), cos, sin)  # (M, heads, D)
        k = rotate(k.view(m, kv_heads, head_dim), cos, sin)
        v = v.view(m, kv_heads, head_dim)
        out = F.scaled_dot_product_attention(rows(q, heads), rows(k, kv_heads), rows(v, kv_heads),
                                             is_causal=True, scale=head_dim ** -0.5, **gqa)  # (N, heads, W, D)
        out = out.transpose(1, 2).reshape(n * width, heads * head_dim).index_select(0, pack.back)  # (M, heads * D)
        h = h + _apply(out, o_p)[0]
        gate, up = _apply(rms_norm(h, layer.post_attention_layernorm), gate_p, up_p)
        return h + _apply(F.silu(gate) * up, down_p)[0]

    h = inner.embed_tokens(pack.tokens)  # (M, H)
    recompute = model.training and torch.is_grad_enabled()
    for layer, projs in zip(inner.layers, layer_projs):
        if recompute and getattr(layer, "gradient_checkpointing", False):  # set by activation_checkpointing_enable
            h = checkpoint(block, h, layer, projs, use_reentrant=False)
        else:
            h = block(h, layer, projs)
    return rms_norm(h, inner.norm).index_select(0, pack.predict.view(-1)).view(n, t_len, -1)  # (N, T, H)
