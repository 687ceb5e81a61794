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
- q/k/v as one matrix product, gate/up as another; an unmerged LoRA delta
  (:class:`training.engine.delta.DeltaLinear`, the sampler copy in bf16) as
  one product ``x A^T`` for the projections that share an input and one
  block-diagonal ``B``;
- one-token attention (every decoding step) as a grouped matrix product,
  :func:`grouped_attention`: the query heads that share a key/value head
  read its cache once, with float32 scores.

Its logits equal transformers' to float rounding (tests/test_decoder.py).
Models it does not cover (other architectures, sliding-window attention,
RoPE that rescales with the sequence length, peft's LoRA-wrapped layers) return ``None`` from
:func:`lean_decoder` and are sampled through transformers instead.
"""

from __future__ import annotations

from functools import lru_cache

import torch
import torch.nn.functional as F

from training.engine.delta import DeltaLinear

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
    if not covers(base, max_len) or signature(base) is None:
        return None
    return LeanDecoder(base, batch, max_len)


def signature(base) -> tuple | None:
    """What a decoder's fused weights look like (per projection: the LoRA delta's rank and dtype, or
    None), or None when a projection is neither a plain Linear nor a :class:`DeltaLinear` (peft's
    LoRA layers, quantized layers) or the deltas' dtypes differ."""
    shapes = []
    for m in projections(base):
        if type(m) is torch.nn.Linear or (type(m) is DeltaLinear and m.lora is None):
            shapes.append(None)
        elif type(m) is DeltaLinear:
            shapes.append((m.lora[0].shape[0], m.lora[0].dtype))
        else:
            return None
    return tuple(shapes) if len({s[1] for s in shapes if s}) <= 1 else None


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


class Fused:
    """Projections that read the same input (q, k, v; gate, up; or one alone) as one matrix product.

    Several projections: a copy of their weights side by side, rewritten in
    place by :meth:`refresh` (a CUDA graph of a step reads fixed
    addresses); one alone: its own weight, nothing copied. LoRA deltas
    (:class:`DeltaLinear`) stay unmerged: ``x A^T`` for all of them as one
    product (their ``A`` stacked), then one product with their ``B`` laid
    out block-diagonally, the scaling folded in.
    """

    def __init__(self, *modules: torch.nn.Linear):
        self.modules = modules
        w0 = modules[0].weight
        if len(modules) == 1:
            self.weight, self.bias = w0, modules[0].bias
        else:
            self.weight = torch.empty((sum(m.out_features for m in modules), w0.shape[1]), dtype=w0.dtype,
                                      device=w0.device)
            has_bias = any(m.bias is not None for m in modules)
            self.bias = torch.zeros(self.weight.shape[0], dtype=w0.dtype, device=w0.device) if has_bias else None
        loras = [getattr(m, "lora", None) for m in modules]
        self.ranks = [lora[0].shape[0] if lora else 0 for lora in loras]
        self.a = self.b = None
        if any(self.ranks):
            dtype = next(lora[0].dtype for lora in loras if lora)
            self.a = torch.empty((sum(self.ranks), w0.shape[1]), dtype=dtype, device=w0.device)  # (sum r, in)
            self.b = torch.zeros((self.weight.shape[0], sum(self.ranks)), dtype=dtype, device=w0.device)  # (out, sum r)
        self.refresh()

    @torch.no_grad()
    def refresh(self) -> None:
        """Read the modules' weights (and LoRA factors) again, into the same tensors."""
        modules = self.modules
        if len(modules) > 1:
            torch.cat([m.weight for m in modules], out=self.weight)
            if self.bias is not None:
                for m, part in zip(modules, self.bias.split([m.out_features for m in modules])):
                    part.copy_(m.bias) if m.bias is not None else part.zero_()
        if self.a is None:
            return
        row = col = 0
        for m, rank in zip(modules, self.ranks):
            if rank:
                a, b, scaling = m.lora
                self.a[col:col + rank].copy_(a)
                self.b[row:row + m.out_features, col:col + rank].copy_(b * scaling)
            row, col = row + m.out_features, col + rank

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(..., in) -> (..., sum of out)."""
        y = F.linear(x, self.weight, self.bias)
        if self.a is None:
            return y
        return (y + F.linear(F.linear(x.to(self.a.dtype), self.a), self.b)).to(y.dtype)


class Weights:
    """Everything a decoding step reads from the model: embeddings, norms, output layer (the model's
    own) and each layer's projections as :class:`Fused` products."""

    def __init__(self, base):
        inner = base.get_decoder()
        # its parts, not the model itself: graphs.py keeps decoders per model, weakly
        self.config, self.rotary = base.config, inner.rotary_emb
        self.embed, self.norm, self.head = inner.embed_tokens, inner.norm, base.get_output_embeddings()
        self.layers = []
        for layer in inner.layers:
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append((layer.input_layernorm, Fused(attn.q_proj, attn.k_proj, attn.v_proj),
                                Fused(attn.o_proj), layer.post_attention_layernorm,
                                Fused(mlp.gate_proj, mlp.up_proj), Fused(mlp.down_proj)))

    def refresh(self) -> None:
        """Read the model's weights again (after they were rewritten in place, or the LoRA factors moved)."""
        for layer in self.layers:
            for part in layer:
                if isinstance(part, Fused):
                    part.refresh()


def grouped_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, scale: float,
                      float32_products: bool = False) -> torch.Tensor:
    """One-token attention: q (N, heads, 1, D) over k, v (N, kv heads, C, D), mask (N, 1, 1, C) added.

    The ``heads / kv heads`` query heads that share a key/value head are one
    (group, D) x (D, C) product, so the cache is read once and never
    repeated per head (``scaled_dot_product_attention`` with a float mask
    and ``enable_gqa`` runs its math kernel on a GPU: keys and values
    upcast and repeated per query head). Scores and softmax in float32
    (as the fused kernels keep them), the probabilities rounded to the
    values' dtype for the second product (as flash attention does).
    ``float32_products``: low-precision q and k multiplied straight into
    float32 (``bmm(..., out_dtype=float32)``, CUDA); otherwise they are
    upcast first. No host synchronisation, no data-dependent shape: a CUDA
    graph can record it. Returns (N, heads, 1, D).
    """
    n, heads, _, d = q.shape
    kv = k.shape[1]
    q = q.reshape(n, kv, heads // kv, d)  # (N, kv, G, D)
    if q.dtype == torch.float32:
        scores = torch.matmul(q, k.transpose(-1, -2))  # (N, kv, G, C)
    elif float32_products:
        scores = torch.bmm(q.flatten(0, 1), k.flatten(0, 1).transpose(-1, -2),
                           out_dtype=torch.float32).view(n, kv, heads // kv, -1)
    else:
        scores = torch.matmul(q.float(), k.float().transpose(-1, -2))
    probs = scores.mul_(scale).add_(mask).softmax(-1)
    return torch.matmul(probs.to(v.dtype), v).view(n, heads, 1, d)


@lru_cache(maxsize=None)
def float32_products(device: torch.device) -> bool:
    """Whether ``bmm`` multiplies bf16 straight into float32 on ``device`` (CUDA, recent torch)."""
    if device.type != "cuda":
        return False
    try:
        ones = torch.ones((1, 1, 1), dtype=torch.bfloat16, device=device)
        return torch.bmm(ones, ones, out_dtype=torch.float32).dtype == torch.float32
    except (TypeError, RuntimeError, NotImplementedError):
        return False


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
    """Prefill once, then one :meth:`step` per token; returns last-position logits (N, V).

    ``weights``: share another decoder's :class:`Weights` (a prefill decoder and the decoder its
    cache goes to, :mod:`training.engine.graphs`) instead of reading the model's (``base``) again.
    """

    def __init__(self, base, batch: int, max_len: int, weights: Weights | None = None):
        self.weights = weights or Weights(base)
        cfg = self.weights.config
        self.embed, self.norm, self.head, self.layers = (self.weights.embed, self.weights.norm, self.weights.head,
                                                         self.weights.layers)
        self.heads, self.kv_heads, self.head_dim = attention_shape(cfg)
        self.scaling = self.head_dim ** -0.5
        weight = self.head.weight
        self.batch, self.max_len = batch, max_len
        self.keys: list[torch.Tensor] = []  # per layer (N, kv heads, capacity, D), contiguous
        self.values: list[torch.Tensor] = []
        self.cos, self.sin = rope_tables(self.weights.rotary, weight, max_len)  # (L, head dim) each
        # (N, L) added to attention scores: 0 on keys to see, -inf elsewhere (a float mask: cheaper than a bool one)
        self.bias = torch.full((batch, max_len), float("-inf"), dtype=weight.dtype, device=weight.device)
        self.length = 0
        self.capacity = 0
        self.gqa = {"enable_gqa": True} if self.kv_heads != self.heads else {}
        self.float32_products = weight.dtype != torch.float32 and float32_products(weight.device)

    @property
    def attention(self) -> str:
        """Which attention runs: one-token steps, and the prefill (several queries a row)."""
        scores = "float32" if self.head.weight.dtype == torch.float32 else \
            "bf16/fp16 products summed into float32 by bmm" if self.float32_products else "upcast to float32"
        return f"decode: grouped matmul ({scores} scores); prefill: scaled_dot_product_attention"

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
        for i, (norm1, qkv_proj, o_proj, norm2, gate_up_proj, down_proj) in enumerate(self.layers):
            qkv = qkv_proj(rms_norm(h, norm1))  # (N, S, q + 2 kv)
            q, k, v = qkv.split((q_size, kv_size, kv_size), dim=-1)
            q = rotate(q.view(n, s, self.heads, self.head_dim).transpose(1, 2), cos, sin)  # (N, heads, S, D)
            k = rotate(k.view(n, s, self.kv_heads, self.head_dim).transpose(1, 2), cos, sin)
            self.keys[i].index_copy_(2, columns, k)
            self.values[i].index_copy_(2, columns, v.view(n, s, self.kv_heads, self.head_dim).transpose(1, 2))
            out = self._attend(q, self.keys[i], self.values[i], mask)  # (N, heads, S, D)
            h = h + o_proj(out.transpose(1, 2).reshape(n, s, q_size))
            gate, up = gate_up_proj(rms_norm(h, norm2)).chunk(2, dim=-1)
            h = h + down_proj(F.silu(gate) * up)
        return h

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention of q (N, heads, S, D) over the cache k, v (N, kv heads, C, D); mask added (or bool).

        One query a row (every decoding step): :func:`grouped_attention`, on
        every device. On a CPU it is as fast as the fused kernel without
        grouped-query attention and faster with it; on a GPU the fused
        kernel would run its slowest path (a float mask and grouped-query
        attention). Several queries a row (the prefill, a bool mask): the
        fused kernel, built for blocks of queries.
        """
        if q.shape[2] == 1 and mask.dtype != torch.bool:
            return grouped_attention(q, k, v, mask, self.scaling, self.float32_products)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scaling, **self.gqa)

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

    def take(self, source: "LeanDecoder", rows: torch.Tensor) -> None:
        """This decoder's batch := the rows ``rows`` (N,) of ``source``, which has just run its prefill,
        written into this decoder's own cache (its tensors stay where they are: a CUDA graph reads them)."""
        if len(rows) != self.batch or source.length > self.capacity:
            raise ValueError(f"cannot take {len(rows)} rows of {source.length} columns into a decoder of "
                             f"{self.batch} rows and {self.capacity} columns")
        p = source.length
        self.bias.fill_(float("-inf"))
        self.bias[:, :p] = source.bias[:, :p].index_select(0, rows)
        for mine, theirs in zip(self.keys + self.values, source.keys + source.values):
            mine[:, :, :p] = theirs[:, :, :p].index_select(0, rows)
        self.length = p
