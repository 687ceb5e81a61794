"""The lean teacher-forced forward: transformers + peft's log-probs and LoRA gradients to float
rounding, on the bundled model and random Qwen2 / Llama models (grouped-query attention, scaled
RoPE), with prompts of different lengths, prompts shared by several responses and padded
responses; what it does not cover falls back."""

import copy

import pytest
import torch

from training.engine.lean_forward import final_hidden
from training.engine.scoring import score


def _with_lora(model, seed: int = 0, **extra):
    """A peft model whose LoRA B is random (peft starts it at zero, which would hide a wrong LoRA path)."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    settings = dict(r=4, lora_alpha=8, lora_dropout=0.0,
                    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    lora = LoraConfig(**{**settings, **extra})
    peft_model = get_peft_model(copy.deepcopy(model), lora)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.1)
    return peft_model


def _batch(vocab: int, lengths=(5, 9, 1, 7), t_len: int = 12, shared: bool = False):
    """Prompts of the given lengths (``shared``: rows 0-1 and 2-3 share theirs, as a group's responses
    do) and responses of ``t_len`` tokens, two of them shorter (padded)."""
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(2, vocab, (n,), generator=gen).tolist() for n in lengths]
    if shared:
        prompts = [prompts[0], prompts[0], prompts[2], prompts[2]]
    ids = torch.randint(2, vocab, (len(lengths), t_len), generator=gen)
    mask = torch.ones_like(ids, dtype=torch.bool)
    mask[1, 8:] = False  # short responses, padded
    mask[2, 3:] = False
    return prompts, ids, mask


@pytest.mark.parametrize("kind", ["tiny", "qwen2", "llama"])
@pytest.mark.parametrize("lengths, shared", [((5, 9, 1, 7), False), ((6, 6, 6, 6), False), ((5, 9, 8, 7), True)])
def test_logprobs_and_lora_gradients_match_peft(kind, lengths, shared, tiny, random_model):
    model = _with_lora(tiny if kind == "tiny" else random_model(kind))
    model.train()
    prompts, ids, mask = _batch(model.config.vocab_size, lengths, shared=shared)
    assert final_hidden(model, prompts, ids, mask) is not None
    results = []
    for lean in (False, True):
        model.zero_grad()
        lp, ent = score(model, prompts, ids, mask, pad_id=0, lean=lean)
        lp[mask].sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        results.append((lp.detach(), ent, grads))
    (lp0, ent0, g0), (lp1, ent1, g1) = results
    assert torch.allclose(lp1[mask], lp0[mask], atol=2e-5), (lp1 - lp0)[mask].abs().max()
    assert torch.allclose(ent1[mask], ent0[mask], atol=2e-5)
    assert g0.keys() == g1.keys() and len(g0) == 7 * model.config.num_hidden_layers * 2
    for name in g0:  # float rounding: relative to the tensor's largest entry (sums of large terms)
        assert (g1[name] - g0[name]).abs().max() <= 2e-5 * g0[name].abs().max() + 1e-6, name


def test_plain_model_and_disabled_adapter_give_the_base(tiny):
    """No adapter (the sampler copy, the KL reference) and peft's disable_adapter() give the base model."""
    model = _with_lora(tiny)
    prompts, ids, mask = _batch(tiny.config.vocab_size)
    with torch.no_grad():
        want = score(tiny, prompts, ids, mask, pad_id=0, lean=False)[0]
        plain = score(tiny, prompts, ids, mask, pad_id=0)[0]
        with model.disable_adapter():
            disabled = score(model, prompts, ids, mask, pad_id=0)[0]
        adapted = score(model, prompts, ids, mask, pad_id=0)[0]
    assert torch.allclose(plain[mask], want[mask], atol=2e-5)
    assert torch.allclose(disabled[mask], want[mask], atol=2e-5)
    assert not torch.allclose(adapted[mask], want[mask], atol=1e-3)  # the random LoRA does change them


def test_uncovered_models_and_adapters_fall_back(tiny):
    from transformers import GPT2Config, GPT2LMHeadModel

    prompts, ids, mask = _batch(50)
    gpt2 = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=32, n_head=2, vocab_size=50, bos_token_id=0,
                                      eos_token_id=0))
    assert final_hidden(gpt2, prompts, ids, mask) is None
    dropout = _with_lora(tiny, lora_dropout=0.1)  # dropout draws random numbers: transformers' path
    assert final_hidden(dropout, prompts, ids, mask) is None
    dora = _with_lora(tiny, use_dora=True)
    assert final_hidden(dora, prompts, ids, mask) is None
    lp, _ = score(dora, prompts, ids, mask, pad_id=0)  # still scored, through peft
    assert lp.shape == ids.shape and torch.isfinite(lp).all()
    long = torch.randint(2, 50, (1, 600))  # past the bundled model's 512 positions
    assert final_hidden(tiny, [[3]], long, torch.ones_like(long, dtype=torch.bool)) is None


def _saved_bytes(fn) -> tuple:
    """Bytes of activations the autograd graph of ``fn()`` keeps (each storage once, parameters not counted)."""
    storages = {}

    def pack(t):
        if not isinstance(t, torch.nn.Parameter):
            storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sum(storages.values())


@pytest.mark.parametrize("every", [1, 2])
def test_activation_checkpointing_gives_the_same_numbers_for_less_memory(every, random_model):
    """With checkpointing on (every layer, or every other), the lean forward recomputes those layers in
    the backward pass: the same log-probs and gradients, a graph that keeps far less."""
    from training.engine.modeling import enable_activation_checkpointing

    model = _with_lora(random_model("qwen2"))
    model.train()
    prompts, ids, mask = _batch(model.config.vocab_size, (5, 9, 8, 7), shared=True)
    results = []
    for recompute in (False, True):
        if recompute:
            enable_activation_checkpointing(model.get_base_model())
            if every == 2:
                model.get_base_model().model.layers[1].gradient_checkpointing = False
        model.zero_grad()
        lp, saved = _saved_bytes(lambda: score(model, prompts, ids, mask, pad_id=0, lean=True)[0])
        lp[mask].sum().backward()
        results.append((lp.detach(), saved, {n: p.grad.clone() for n, p in model.named_parameters()
                                             if p.requires_grad}))
    (lp0, kept0, g0), (lp1, kept1, g1) = results
    assert torch.equal(lp0, lp1)
    for name in g0:
        assert torch.allclose(g1[name], g0[name], atol=1e-6), name
    # two layers: every layer recomputed keeps the layer inputs only; every other, about half of it
    assert kept1 < (0.35 if every == 1 else 0.75) * kept0, (kept1, kept0)


def test_bf16_graph_keeps_one_float32_copy_per_input(random_model):
    """bf16 base, float32 LoRA: q/k/v (and gate/up) read one float32 copy of their input, kept once."""
    model = _with_lora(random_model("qwen2").to(torch.bfloat16))
    model.train()
    prompts, ids, mask = _batch(model.config.vocab_size)
    _, lean = _saved_bytes(lambda: score(model, prompts, ids, mask, pad_id=0, lean=True)[0])
    _, peft = _saved_bytes(lambda: score(model, prompts, ids, mask, pad_id=0, lean=False)[0])
    assert lean < 0.7 * peft, (lean, peft)  # 0.74 with one float32 copy per projection


def test_bf16_model_with_float32_lora_is_as_accurate_as_peft(random_model):
    """On a GPU the base is bf16 and peft keeps LoRA in float32: the lean forward must mix them as peft
    does. Against a float32 copy of the same weights, its errors are peft's own bf16 rounding."""
    model = _with_lora(random_model("qwen2").to(torch.bfloat16))
    assert {p.dtype for n, p in model.named_parameters() if "lora_" in n} == {torch.float32}
    reference = copy.deepcopy(model).float()
    model.train()
    reference.train()
    prompts, ids, mask = _batch(model.config.vocab_size)
    results = []
    for net, lean in ((reference, False), (model, False), (model, True)):
        net.zero_grad()
        lp, _ = score(net, prompts, ids, mask, pad_id=0, lean=lean)
        lp[mask].sum().backward()
        results.append((lp.detach()[mask], {n: p.grad.float() for n, p in net.named_parameters() if p.requires_grad}))
    (want, want_g), *rest = results
    errors = [((lp - want).abs().max(), max(float((g[n] - want_g[n]).abs().max() / want_g[n].abs().max())
                                            for n in g)) for lp, g in rest]
    (peft_lp, peft_g), (lean_lp, lean_g) = errors
    assert lean_lp <= 1.5 * peft_lp + 1e-4 and lean_g <= 1.5 * peft_g + 1e-3, errors
    assert lean_lp < 0.02 and lean_g < 0.1  # bf16 rounding, not a different function
