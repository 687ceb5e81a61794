"""The sampler copy follows the policy in bf16: a small LoRA update, which a bf16 merge would round
away, reaches the sampler's log-probs exactly as it reaches the policy's (training/engine/delta.py)."""

import copy

import pytest
import torch

from training.config import RunConfig
from training.engine.backbone import Backbone
from training.engine.decoder import lean_decoder
from training.engine.delta import DeltaLinear
from training.engine.modeling import LoadedModel
from training.engine.rollout import left_pad
from training.engine.scoring import score

UPDATE_RMS = 1e-5  # a LoRA delta of RMS 1e-5 on weights of RMS 0.03: lr 1e-5 (the GPU presets) for a step or two


@pytest.fixture(scope="module")
def updated(random_model):
    """A Backbone on a random bf16 Qwen2 (projection weights of RMS 0.03) with adapter "a" after one
    small update along the gradient of the batch's log-probs (B starts at zero, as in peft: the
    update is a step on B), and the batch."""
    model = random_model("qwen2")
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "proj" in name:
                p.normal_(0, 0.03)
    model = model.to(torch.bfloat16)
    backbone = Backbone(RunConfig(lora_r=4, lora_alpha=8),
                        lm=LoadedModel(model=model, tokenizer=None, name="random", device=torch.device("cpu")))
    backbone.add_adapter("arm", RunConfig(lora_r=4, lora_alpha=8))
    gen = torch.Generator().manual_seed(1)
    prompts = [torch.randint(2, 97, (n,), generator=gen).tolist() for n in (5, 9, 7, 6)]
    ids = torch.randint(2, 97, (4, 30), generator=gen)
    mask = torch.ones_like(ids, dtype=torch.bool)
    policy = backbone.model
    policy.train()
    score(policy, prompts, ids, mask, 0, False)[0].sum().backward()
    layers = [m for m in policy.modules() if hasattr(m, "lora_B") and "arm" in m.lora_B]
    with torch.no_grad():
        for m in layers:
            m.lora_B["arm"].weight.copy_(m.lora_B["arm"].weight.grad)
        rms = torch.cat([m.get_delta_weight("arm").float().flatten() for m in layers]).pow(2).mean().sqrt()
        for m in layers:
            m.lora_B["arm"].weight.mul_(UPDATE_RMS / rms)
    policy.eval()
    return backbone, layers, (prompts, ids, mask)


def _merged_in_bf16(backbone, layers):
    """What the sampler was before: a copy with base + delta merged into its bf16 weights."""
    backbone.sync_sampler(None)
    merged = copy.deepcopy(backbone.sampler)
    for name, module in backbone.model.named_modules():
        if module in layers:
            target = merged.get_submodule(name[len("base_model.model."):])
            target.weight.copy_(target.weight + module.get_delta_weight("arm").to(target.weight.dtype))
    return merged


@torch.no_grad()
def _decoder_logprobs(model, prompts, ids):
    """Log-probs of ``ids`` (teacher-forced) through the lean decoder, step by step, as a rollout runs it."""
    p_ids, p_mask = left_pad(prompts, 0)
    n, p = p_ids.shape
    positions = (p_mask.cumsum(-1) - 1).clamp(min=0)
    dec = lean_decoder(model, n, p + ids.shape[1])
    steps = [dec.prefill(p_ids, p_mask, positions)]
    steps += [dec.step(ids[:, t], positions[:, -1] + 1 + t) for t in range(ids.shape[1] - 1)]
    return torch.stack(steps, 1).float().log_softmax(-1).gather(-1, ids[..., None]).squeeze(-1)


@torch.no_grad()
def test_the_sampler_computes_what_the_policy_computes(updated):
    backbone, layers, (prompts, ids, mask) = updated
    policy = backbone.model
    assert backbone.unmerged and all(type(target) is DeltaLinear for _, target in backbone._pairs["arm"])
    for lean in (True, False):  # the lean forward and transformers' own forward
        want = score(policy, prompts, ids, mask, 0, False, lean=lean)[0]
        backbone.sync_sampler("arm")
        assert torch.equal(score(backbone.sampler, prompts, ids, mask, 0, False, lean=lean)[0], want)
        with policy.disable_adapter():
            base = score(policy, prompts, ids, mask, 0, False, lean=lean)[0]
        backbone.sync_sampler(None)  # the KL reference: the base model
        assert torch.equal(score(backbone.sampler, prompts, ids, mask, 0, False, lean=lean)[0], base)
    assert not torch.equal(want, base)  # the update is seen


@torch.no_grad()
def test_a_bf16_merge_loses_most_of_a_small_update(updated):
    """The previous sampler: 89% of the delta rounded away in the weights, and its log-probs move
    about as much away from the policy's as the policy's move (measured: 1.01; cosine 0.52)."""
    backbone, layers, (prompts, ids, mask) = updated
    lost = []
    for module in layers:
        delta, weight = module.get_delta_weight("arm").float(), module.base_layer.weight
        kept = (weight + delta.to(weight.dtype)).float() - weight.float()
        lost.append(float((kept - delta).pow(2).sum() / delta.pow(2).sum()))
    assert sum(lost) / len(lost) > 0.8, lost
    merged = _merged_in_bf16(backbone, layers)
    backbone.sync_sampler(None)
    base = score(backbone.sampler, prompts, ids, mask, 0, False)[0]
    policy_move = score(backbone.model, prompts, ids, mask, 0, False)[0] - base
    merged_move = score(merged, prompts, ids, mask, 0, False)[0] - base
    error = float((merged_move - policy_move).norm() / policy_move.norm())
    print(f"merge: {sum(lost) / len(lost):.1%} of the delta lost; log-prob moves off the policy's by {error:.2f}")
    assert error > 0.5


@torch.no_grad()
def test_sampled_logprobs_disagree_with_the_policy_only_by_the_decoders_rounding(updated):
    """Through the lean decoder (the rollout's path; its steps round differently from the teacher-forced
    forward), mean |logp_sampler - logp_policy| with the update is what it is for the base model
    alone (measured: 6.31e-4 and 6.28e-4); the merged sampler's is larger (7.42e-4)."""
    backbone, layers, (prompts, ids, mask) = updated
    policy = backbone.model

    def gap(sampler_lp, policy_lp):
        return float((sampler_lp - policy_lp).abs().mean())

    backbone.sync_sampler(None)
    with policy.disable_adapter():
        base = gap(_decoder_logprobs(backbone.sampler, prompts, ids), score(policy, prompts, ids, mask, 0, False)[0])
    want = score(policy, prompts, ids, mask, 0, False)[0]
    backbone.sync_sampler("arm")
    ours = gap(_decoder_logprobs(backbone.sampler, prompts, ids), want)
    merged = gap(_decoder_logprobs(_merged_in_bf16(backbone, layers), prompts, ids), want)
    print(f"mean |logp_sampler - logp_policy|: base {base:.3g}, with the update {ours:.3g}, merged {merged:.3g}")
    assert ours < 1.05 * base and merged > 1.1 * ours, (base, ours, merged)
