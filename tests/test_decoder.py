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


def _attention_inputs(heads, kv_heads, dim, dtype, n=8, columns=300, seed=0):
    """One query a row over a cache of ``columns`` keys, about a fifth of them masked out (as in a
    left-padded batch); values around 1, scores of a few units."""
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(n, heads, 1, dim, generator=gen) * 1.5
    k = torch.randn(n, kv_heads, columns, dim, generator=gen) * 1.5
    v = torch.randn(n, kv_heads, columns, dim, generator=gen)
    seen = torch.rand(n, columns, generator=gen) < 0.8
    seen[:, -1] = True  # the step's own column
    mask = torch.zeros(n, columns).masked_fill(~seen, float("-inf"))[:, None, None]
    return [t.to(dtype) for t in (q, k, v, mask)]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("heads, kv_heads, dim", [(14, 2, 64), (4, 4, 32), (4, 2, 16)])  # Qwen2.5-0.5B, tiny, tests
def test_grouped_attention_matches_the_fused_kernel(heads, kv_heads, dim, dtype):
    """The one-token attention of every decoding step against scaled_dot_product_attention (with
    the float mask and grouped-query attention it would get), both against float64: in float32
    they agree to float rounding; in bf16 the grouped product's error is the fused kernel's (its
    output's rounding, plus the probabilities' rounding to bf16 before the second product)."""
    from training.engine.decoder import grouped_attention

    q, k, v, mask = _attention_inputs(heads, kv_heads, dim, dtype)
    scale = dim ** -0.5
    gqa = {"enable_gqa": True} if heads != kv_heads else {}
    want = torch.nn.functional.scaled_dot_product_attention(q.double(), k.double(), v.double(),
                                                            attn_mask=mask.double(), scale=scale, **gqa)
    fused = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale, **gqa)
    grouped = grouped_attention(q, k, v, mask, scale)
    assert grouped.shape == fused.shape and grouped.dtype == dtype
    err_grouped = float((grouped.double() - want).abs().max())
    err_fused = float((fused.double() - want).abs().max())
    if dtype == torch.float32:
        assert err_grouped < 1e-5 and float((grouped - fused).abs().max()) < 1e-5
    else:  # one rounding of bf16 at these values is 2**-7 = 0.0078; bf16 scores would give 0.02
        assert err_grouped < 2.5 * err_fused and err_grouped < 0.01, (err_grouped, err_fused)
    if heads == kv_heads and dtype == torch.float32:  # the previous CPU path: the same operations
        old = torch.matmul(torch.matmul(q, k.transpose(-1, -2)).mul_(scale).add_(mask).softmax(-1), v)
        assert torch.equal(grouped, old)


def test_grouped_attention_float32_products_path_shapes():
    """The CUDA variant (bf16 products summed straight into float32 by bmm) on meta tensors: shapes
    and dtypes only; its numbers are checked on a GPU (tests/test_cuda.py)."""
    from training.engine.decoder import float32_products, grouped_attention

    q, k, v, mask = (t.to("meta") for t in _attention_inputs(14, 2, 64, torch.bfloat16))
    out = grouped_attention(q, k, v, mask, 0.125, float32_products=True)
    assert out.shape == (8, 14, 1, 64) and out.dtype == torch.bfloat16
    assert not float32_products(torch.device("cpu"))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_logits_match_transformers_with_qwen25_attention(dtype):
    """One layer of Qwen2.5-0.5B's shapes (14 query heads, 2 key/value heads; a smaller vocabulary),
    random weights: the lean decoder's steps against transformers' forward, in float32 and bf16
    (measured: 0.021 and transformers 0.019 from the float32 logits, of up to 2.8)."""
    import sys
    from pathlib import Path

    from transformers import Qwen2Config, Qwen2ForCausalLM

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
    from archs import ARCHS

    torch.manual_seed(0)
    model = Qwen2ForCausalLM(Qwen2Config(**{**ARCHS["qwen2.5-0.5b"], "num_hidden_layers": 1, "vocab_size": 512,
                                            "max_position_embeddings": 256})).to(dtype).eval()
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(2, 512, (length,), generator=gen).tolist() for length in (5, 9, 7)]
    continuation = torch.randint(2, 512, (3, 24), generator=gen)
    lean, reference = _teacher_forced(model, prompts, continuation)
    err = float((lean.float() - reference.float()).abs().max())
    if dtype == torch.float32:
        assert err < 1e-4, err
    else:  # against the same weights in float32: the lean decoder's bf16 error is transformers' own
        _, exact = _teacher_forced(model.float(), prompts, continuation)
        err_lean, err_hf = ((x.float() - exact).abs().max() for x in (lean, reference))
        assert err_lean < 1.5 * err_hf and err_lean < 0.05, (err_lean, err_hf)


def test_devices_carry_their_index_and_a_generator_elsewhere_is_an_error(tiny):
    """torch.device("cuda") != torch.device("cuda:0") (every CUDA tensor's device): devices are
    normalised to carry their index, and a generator on another device than the model's is an
    error (it used to fall back silently to the global generator: the run's seeds ignored)."""
    from types import SimpleNamespace

    from training.engine.modeling import pick_device, with_index
    from training.engine.rollout import check_generator

    assert torch.device("cuda") != torch.device("cuda:0")
    assert with_index(torch.device("cuda"), current=0) == torch.device("cuda:0")
    assert with_index("cuda", current=1) == torch.device("cuda", 1) and with_index("cuda:1") == torch.device("cuda:1")
    assert with_index("cpu") == pick_device("cpu") == torch.device("cpu")
    check_generator(torch.Generator(), torch.device("cpu"))
    check_generator(None, torch.device("cuda", 0))
    with pytest.raises(ValueError, match="generator is on cpu, the model on cuda:0"):
        check_generator(torch.Generator(), torch.device("cuda", 0))
    elsewhere = SimpleNamespace(device=torch.device("cuda", 0))  # a CUDA generator, as seen by the check
    with pytest.raises(ValueError, match="generator is on cuda:0, the model on cpu"):
        sample(tiny, [[3, 4, 5]], max_new_tokens=4, temperature=1.0, eos_id=0, pad_id=1, generator=elsewhere)


def test_rollouts_return_the_samplers_logprobs(tiny):
    """Each sampled token's log-prob under the sampler (temperature 1, whatever the sampling
    temperature), 0 on padding: what teacher-forced scoring of the same tokens gives."""
    gen = torch.Generator().manual_seed(2)
    prompts = [torch.randint(2, 700, (n,), generator=gen).tolist() for n in (4, 4, 9)]
    for temperature in (1.0, 0.7):
        roll = sample(tiny, prompts, max_new_tokens=24, temperature=temperature, eos_id=0, pad_id=1,
                      generator=torch.Generator().manual_seed(3))
        from training.engine.scoring import score

        want = score(tiny, prompts, roll.response_ids, roll.response_mask, pad_id=1, with_entropy=False)[0]
        assert torch.allclose(roll.logprobs, want, atol=2e-5)
        assert (roll.logprobs[~roll.response_mask] == 0).all()
