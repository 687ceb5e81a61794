"""The lean decoder: transformers' logits to float rounding, on the bundled model and on
random Qwen2 / Llama models with grouped-query attention; the models it does not cover fall back."""

import pytest
import torch

from training.engine.decoder import lean_decoder
from training.engine.rollout import left_pad, sample
from training.engine.scoring import build_inputs


@torch.no_grad()
def _teacher_forced(model, prompts, continuation):
    """Logits for each continuation position: lean decoder step by step, and one full forward."""
    ids, mask = left_pad(prompts, pad_id=0)
    n, p = ids.shape
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    dec = lean_decoder(model, n, p + continuation.shape[1])
    assert dec is not None
    lean = [dec.prefill(ids, mask, positions)]
    for t in range(continuation.shape[1] - 1):
        lean.append(dec.step(continuation[:, t], positions[:, -1] + 1 + t))
    full_ids, full_mask, full_pos = build_inputs(prompts, continuation, torch.ones_like(continuation), pad_id=0)
    logits = model(input_ids=full_ids, attention_mask=full_mask, position_ids=full_pos).logits
    return torch.stack(lean, 1), logits[:, p - 1:p - 1 + continuation.shape[1]]


@pytest.mark.parametrize("kind", ["tiny", "qwen2", "llama"])
def test_logits_match_transformers(kind, tiny, random_model):
    model = tiny if kind == "tiny" else random_model(kind)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(2, vocab, (length,), generator=gen).tolist() for length in (5, 9, 1, 7)]
    continuation = torch.randint(2, vocab, (4, 40), generator=gen)  # crosses a cache block boundary
    lean, reference = _teacher_forced(model, prompts, continuation)
    assert lean.shape == reference.shape
    assert torch.allclose(lean, reference, atol=2e-5, rtol=1e-4), (lean - reference).abs().max()


def test_sampling_matches_transformers_token_for_token(tiny_lm, monkeypatch):
    """Also with finished rows dropped from the lean decoder's batch on the way."""
    from training.engine.decoder import LeanDecoder
    from training.evaluate import prompt_ids
    from training.tasks import get_task

    lm = tiny_lm
    task = get_task("multiply")
    prompts = [prompt_ids(lm, task, p) for p in task.problems("eval", n=16, seed=0) for _ in range(2)]
    kept: list[int] = []
    keep = LeanDecoder.keep
    monkeypatch.setattr(LeanDecoder, "keep", lambda self, rows: (kept.append(len(rows)), keep(self, rows)))
    runs = [sample(lm.model, prompts, max_new_tokens=96, temperature=1.0, eos_id=lm.eos_id, pad_id=lm.pad_id,
                   generator=torch.Generator().manual_seed(3), lean=lean) for lean in (False, True)]
    assert kept and kept[-1] < len(prompts)  # the batch did shrink
    assert runs[0].responses() == runs[1].responses()
    assert torch.equal(runs[0].response_mask, runs[1].response_mask)


def test_models_it_does_not_cover_fall_back(tiny):
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50))
    assert lean_decoder(gpt2, 2, 16) is None
    assert lean_decoder(tiny, 2, 10_000) is None  # longer than the model's positions
    from transformers import LlamaConfig, LlamaForCausalLM

    dynamic = LlamaForCausalLM(LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=48, num_hidden_layers=1,
                                           num_attention_heads=2, rope_scaling={"rope_type": "dynamic", "factor": 2.0}))
    assert lean_decoder(dynamic, 2, 16) is None  # RoPE that depends on the sequence length
    import copy

    wrapped = get_peft_model(copy.deepcopy(tiny), LoraConfig(r=2, target_modules=["q_proj"]))
    assert lean_decoder(wrapped, 2, 16) is None  # LoRA layers: sampled through transformers
    out = sample(wrapped, [[3, 4, 5]], max_new_tokens=4, temperature=0, eos_id=0, pad_id=1)
    assert out.response_ids.shape[0] == 1
