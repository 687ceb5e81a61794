"""Architectures for benchmarks, from their published configurations, built with random weights.

Nothing is downloaded: timing and memory depend on the shapes, not on the
weights. ``tiny`` has the bundled model's shapes (for quick dry runs).
"""

from __future__ import annotations

from pathlib import Path

import torch

from training.config import RunConfig

ARCHS = {
    "tiny": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=4, num_attention_heads=4,
                 num_key_value_heads=4, vocab_size=783, max_position_embeddings=512, rope_theta=10_000.0,
                 rms_norm_eps=1e-6, tie_word_embeddings=True),
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                         rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
    "qwen2.5-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                         num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768,
                         rope_theta=1_000_000.0, rms_norm_eps=1e-6, tie_word_embeddings=True),
}


# LoRA as our runs set it (RunConfig's defaults: r=16, alpha 32, every projection), for peft and TRL.
_DEFAULTS = RunConfig()
LORA = dict(r=_DEFAULTS.lora_r, lora_alpha=_DEFAULTS.lora_alpha, lora_dropout=0.0, task_type="CAUSAL_LM",
            target_modules=_DEFAULTS.lora_targets.split(","))


def build(arch: str, layers: int | None = None, dtype: torch.dtype = torch.bfloat16, **ids):
    """A Qwen2 causal LM of ``arch``'s shapes (``layers``: cut to that many), random weights (seed 0)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    spec = dict(ARCHS[arch], **({"num_hidden_layers": layers} if layers else {}))
    torch.manual_seed(0)
    return Qwen2ForCausalLM(Qwen2Config(**spec, **ids)).to(dtype)


def random_model(arch: str, layers: int | None, folder: Path) -> str:
    """Save ``arch`` with random weights (bf16) and a stand-in tokenizer to ``folder``: the bundled
    tokenizer, padded with placeholder tokens to the architecture's vocabulary."""
    from training.engine.modeling import load_model

    tok = load_model("tiny", device="cpu").tokenizer
    tok.add_tokens([f"<r{i}>" for i in range(len(tok), ARCHS[arch]["vocab_size"])])
    model = build(arch, layers, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                  pad_token_id=tok.pad_token_id)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)
