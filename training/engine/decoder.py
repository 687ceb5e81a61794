"""A lean decoder for sampling from Llama-family models (Qwen2, Llama).

Rollouts spend their time in one model call per new token. transformers'
forward is general: it builds an attention mask, grows the KV cache by
concatenation, and wraps every call in output classes and hooks. For a
small model or a fast GPU that overhead, not arithmetic, sets the pace.

This decoder runs the same architecture with the model's own weights
(nothing copied but the fused q/k/v and gate/up matrices, rebuilt for each
batch so a sampler whose weights were just rewritten is read fresh) and:

- a KV cache written in place, grown a block of columns at a time, and
  always read whole (contiguous: cheaper than a strided slice);
- one key-padding mask for the batch (left-padded prompts), sliced per step;
- rotary cos/sin for every position, computed once by the model's own
  rotary module (so scaled RoPE variants match);
- q/k/v as one matrix product, gate/up as another.

Its logits equal transformers' to float rounding (tests/test_decoder.py).
Models it does not cover (other architectures, sliding-window attention,
RoPE that rescales with the sequence length, LoRA-wrapped layers) return ``None`` from :func:`lean_decoder` and are
sampled through transformers instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SUPPORTED = {"qwen2", "llama"}
STATIC_ROPE = {"default", "linear", "llama3", "yarn"}  # cos/sin depend on the position only
_TORCH_GQA = tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 5)  # sdpa's enable_gqa
BLOCK = 32  # cache columns added at a time


def base_model(model):
    """The transformers model under a peft wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def attention_shape(cfg) -> tuple[int, int, int]:
    """(heads, key/value heads, head dim) of a Llama-family config."""
    heads = cfg.num_attention_heads
    return heads, getattr(cfg, "num_key_value_heads", None) or heads, \
        getattr(cfg, "head_dim", None) or cfg.hidden_size // heads


def lean_decoder(model, batch: int, max_len: int) -> "LeanDecoder | None":
    """A decoder for ``model`` with room for ``batch`` rows of ``max_len`` tokens, or None."""
    base = base_model(model)
    if not covers(base, max_len) or not all(type(m) is torch.nn.Linear for m in projections(base)):
        return None
    return LeanDecoder(base, batch, max_len)


def covers(base, max_len: int) -> bool:
    """Whether the lean code paths cover this transformers model's architecture
    (Llama family, full attention, SiLU, RoPE by position only) for ``max_len`` positions."""
    cfg = getattr(base, "config", None)
    if cfg is None or cfg.model_type not in SUPPORTED or getattr(cfg, "use_sliding_window", False):
        return False
    if max_len > getattr(cfg, "max_position_embeddings", max_len):
        return False
    if not hasattr(base.get_decoder(), "layers"):
        return False
    if getattr(cfg, "hidden_act", "silu") != "silu" or _rope_type(cfg) not in STATIC_ROPE:
        return False
    heads, kv_heads, _ = attention_shape(cfg)
    return kv_heads == heads or _TORCH_GQA


def projections(base) -> list[torch.nn.Module]:
    """Every layer's seven projections, in order: q, k, v, o, gate, up, down."""
    return [m for layer in base.get_decoder().layers for m in
            (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj, layer.self_attn.o_proj,
             layer.mlp.gate_proj, layer.mlp.up_proj, layer.mlp.down_proj)]


def _rope_type(cfg) -> str:
    params = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    return params.get("rope_type", params.get("type", "default")) if isinstance(params, dict) else "default"


def _fuse(*linears: torch.nn.Linear) -> tuple[torch.Tensor, torch.Tensor | None]:
    weight = torch.cat([m.weight for m in linears], dim=0)
    if all(m.bias is None for m in linears):
        return weight, None
    bias = torch.cat([m.bias if m.bias is not None else torch.zeros(m.out_features, dtype=weight.dtype,
                                                                     device=weight.device) for m in linears])
    return weight, bias


def rms_norm(x: torch.Tensor, norm) -> torch.Tensor:
    """The model's RMSNorm, computed as transformers does (float32 inside)."""
    if x.dtype == norm.weight.dtype == torch.float32:  # the same numbers, one fused kernel
        return F.rms_norm(x, norm.weight.shape, norm.weight, norm.variance_epsilon)
    h = x.float()
    h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    return norm.weight * h.to(x.dtype)


def rope_tables(rotary_emb, weight: torch.Tensor, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(L, D) cos and sign-folded sin for positions 0..L-1, from the model's own rotary module.

    transformers rotates with ``x cos + cat(-x2, x1) sin``; :func:`rotate`
    computes ``x cos + roll(x) sin'`` with ``sin' = cat(-sin1, sin2)``: the
    same numbers with two operations fewer.
    """
    cos, sin = rotary_emb(weight[:1, :1], torch.arange(length, device=weight.device)[None])
    half = sin.shape[-1] // 2
    return cos[0], torch.cat((-sin[0, :, :half], sin[0, :, half:]), dim=-1)


def rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding of x (..., D) with tables from :func:`rope_tables`."""
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * signed_sin


class LeanDecoder:
    """Prefill once, then one :meth:`step` per token; returns last-position logits (N, V)."""

    def __init__(self, base, batch: int, max_len: int):
        cfg = base.config
        inner = base.get_decoder()
        self.embed = inner.embed_tokens
        self.norm = inner.norm
        self.head = base.get_output_embeddings()
        self.heads, self.kv_heads, self.head_dim = attention_shape(cfg)
        self.scaling = self.head_dim ** -0.5
        weight = self.head.weight
        self.layers = []
        for layer in inner.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append((layer.input_layernorm, _fuse(attn.q_proj, attn.k_proj, attn.v_proj),
                                (attn.o_proj.weight, attn.o_proj.bias), layer.post_attention_layernorm,
                                _fuse(mlp.gate_proj, mlp.up_proj), (mlp.down_proj.weight, mlp.down_proj.bias)))
        self.batch, self.max_len = batch, max_len
        self.keys: list[torch.Tensor] = []  # per layer (N, kv heads, capacity, D), contiguous
        self.values: list[torch.Tensor] = []
        self.cos, self.sin = rope_tables(inner.rotary_emb, weight, max_len)  # (L, head dim) each
        # (N, L) added to attention scores: 0 on keys to see, -inf elsewhere (a float mask: cheaper than a bool one)
        self.bias = torch.full((batch, max_len), float("-inf"), dtype=weight.dtype, device=weight.device)
        self.length = 0
        self.capacity = 0
        self.gqa = {"enable_gqa": True} if self.kv_heads != self.heads else {}

    def reserve(self, end: int) -> None:
        """Grow the cache (in blocks of ``BLOCK`` columns) to hold ``end`` columns.

        Attention reads the whole, contiguous, cache (unwritten columns are
        masked out): a strided slice of a bigger buffer costs more on a CPU
        than the at most ``BLOCK - 1`` masked columns.
        """
        if end <= self.capacity:
            return
        capacity = min(self.max_len, -(-end // BLOCK) * BLOCK)
        weight = self.head.weight
        shape = (self.batch, self.kv_heads, capacity, self.head_dim)
        for store in (self.keys, self.values):
            for i in range(len(self.layers)):
                grown = torch.zeros(shape, dtype=weight.dtype, device=weight.device)
                if store[i:i + 1]:
                    grown[:, :, :self.capacity] = store[i]
                    store[i] = grown
                else:
                    store.append(grown)
        self.capacity = capacity

    def _layers(self, h: torch.Tensor, positions: torch.Tensor, mask: torch.Tensor,
                columns: torch.Tensor) -> torch.Tensor:
        """h (N, S, H), its keys and values written to cache columns ``columns`` (S,); positions (N, S);
        mask (N, 1, S, capacity). The columns are a tensor, not numbers: a CUDA graph of a step
        replays with new ones."""
        n, s, _ = h.shape
        cos = self.cos[positions].unsqueeze(1)  # (N, 1, S, D)
        sin = self.sin[positions].unsqueeze(1)
        q_size, kv_size = self.heads * self.head_dim, self.kv_heads * self.head_dim
        for i, (norm1, (w_qkv, b_qkv), (w_o, b_o), norm2, (w_gu, b_gu), (w_d, b_d)) in enumerate(self.layers):
            qkv = F.linear(rms_norm(h, norm1), w_qkv, b_qkv)  # (N, S, q + 2 kv)
            q, k, v = qkv.split((q_size, kv_size, kv_size), dim=-1)
            q = rotate(q.view(n, s, self.heads, self.head_dim).transpose(1, 2), cos, sin)  # (N, heads, S, D)
            k = rotate(k.view(n, s, self.kv_heads, self.head_dim).transpose(1, 2), cos, sin)
            self.keys[i].index_copy_(2, columns, k)
            self.values[i].index_copy_(2, columns, v.view(n, s, self.kv_heads, self.head_dim).transpose(1, 2))
            out = self._attend(q, self.keys[i], self.values[i], mask)  # (N, heads, S, D)
            h = h + F.linear(out.transpose(1, 2).reshape(n, s, q_size), w_o, b_o)
            gate, up = F.linear(rms_norm(h, norm2), w_gu, b_gu).chunk(2, dim=-1)
            h = h + F.linear(F.silu(gate) * up, w_d, b_d)
        return h

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention of q (N, heads, S, D) over the cache k, v (N, kv heads, C, D); mask added (or bool).

        One query a row on a CPU: scores, softmax and sum as three plain
        operations, about a fifth faster there than the fused kernel, which
        is built for blocks of queries. Elsewhere: the fused kernel.
        """
        if q.shape[2] != 1 or q.device.type != "cpu" or self.kv_heads != self.heads or mask.dtype == torch.bool:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling, **self.gqa)
        scores = torch.matmul(q, k.transpose(-1, -2)).mul_(self.scaling).add_(mask)  # (N, heads, 1, C)
        return torch.matmul(scores.softmax(-1), v)

    def _logits(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(rms_norm(h, self.norm), self.head.weight, self.head.bias)

    def prefill(self, ids: torch.Tensor, prompt_mask: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """ids, prompt_mask, positions: (N, P) left-padded prompts -> (N, V) logits of the next token."""
        n, p = ids.shape
        self.bias[:, :p].masked_fill_(prompt_mask.bool(), 0.0)
        self.reserve(p)
        causal = torch.ones((p, self.capacity), dtype=torch.bool, device=ids.device).tril()
        mask = causal[None, None] & (self.bias[:, None, None, :self.capacity] == 0)  # (N, 1, P, capacity)
        # A row of padding sees no key at all; let it see itself (its output is never used).
        mask = mask | torch.eye(p, self.capacity, dtype=torch.bool, device=ids.device)[None, None]
        h = self._layers(self.embed(ids), positions, mask, torch.arange(p, device=ids.device))
        self.length = p
        return self._logits(h[:, -1])

    def step(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens, positions: (N,) -> (N, V) logits of the next token."""
        self.reserve(self.length + 1)
        logits = self.step_at(tokens, positions, torch.full((1,), self.length, device=tokens.device))
        self.length += 1
        return logits

    def step_at(self, tokens: torch.Tensor, positions: torch.Tensor, column: torch.Tensor) -> torch.Tensor:
        """One decoding step whose keys and values go to cache column ``column`` ((1,), on the device);
        reads and writes tensors only, no Python state, so a CUDA graph can capture it
        (:mod:`training.engine.graphs`). The cache must already hold the column (:meth:`reserve`)."""
        self.bias.index_fill_(1, column, 0.0)
        mask = self.bias[:, None, None, :self.capacity]  # (N, 1, 1, capacity)
        h = self._layers(self.embed(tokens[:, None]), positions[:, None], mask, column)
        return self._logits(h[:, -1])

    def unsee(self, column: torch.Tensor) -> None:
        """Mask cache column ``column`` ((1,)) out again: steps run from now on do not attend to it."""
        self.bias.index_fill_(1, column, float("-inf"))

    def keep(self, rows: torch.Tensor) -> None:
        """From now on the batch is the rows ``rows`` (B',) of the current one: finished responses
        dropped, or a prompt's cache copied to every response that shares it."""
        self.keys = [k.index_select(0, rows) for k in self.keys]
        self.values = [v.index_select(0, rows) for v in self.values]
        self.bias = self.bias.index_select(0, rows)
        self.batch = len(rows)
