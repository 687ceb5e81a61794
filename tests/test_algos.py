import pytest
import torch

from training.algos import (aggregate, broadcast_to_tokens, group_advantages, hicra_advantages, kl_k3,
                            placebo_mask, policy_loss, released_code_mask)

B = torch.bool


def test_group_advantages_by_hand():
    r = torch.tensor([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.5, 1.0])
    adv = group_advantages(r, 3)
    assert adv.tolist() == pytest.approx([2 / 3, -1 / 3, -1 / 3, 0, 0, 0, -0.5, 0.0, 0.5])
    # std scaling: group 1 has sample std sqrt(1/3); group 3 std 0.5
    scaled = group_advantages(r, 3, scale_by_std=True, eps=0.0)
    s1 = (1 / 3) ** 0.5
    assert scaled.tolist() == pytest.approx([2 / 3 / s1, -1 / 3 / s1, -1 / 3 / s1, 0, 0, 0, -1.0, 0.0, 1.0])


def test_flat_groups_and_groups_of_one_get_zero_never_nan():
    for scale in (False, True):
        adv = group_advantages(torch.tensor([0.3, 0.3, 0.3, 0.0, 0.0, 0.0]), 3, scale_by_std=scale)
        assert torch.equal(adv, torch.zeros(6))
        single = group_advantages(torch.tensor([1.0, 0.0, 0.7]), 1, scale_by_std=scale)
        assert torch.equal(single, torch.zeros(3))
    # 0.1 + 0.2 style rounding must not leave residue in a flat group
    assert torch.equal(group_advantages(torch.full((8,), 0.1 + 0.2), 8, scale_by_std=True), torch.zeros(8))


def test_group_advantages_bad_shapes():
    with pytest.raises(ValueError, match="multiple of group_size"):
        group_advantages(torch.zeros(5), 2)
    with pytest.raises(ValueError):
        group_advantages(torch.zeros(4), 0)


@pytest.mark.parametrize("seed", range(4))
def test_group_advantages_match_a_loop_reference(seed):
    g = torch.Generator().manual_seed(seed)
    r = torch.randint(0, 3, (24,), generator=g).float() / 2
    for scale in (False, True):
        fast = group_advantages(r, 4, scale_by_std=scale)
        for p in range(6):
            grp = r[p * 4:(p + 1) * 4].tolist()
            mean = sum(grp) / 4
            std = (sum((x - mean) ** 2 for x in grp) / 3) ** 0.5
            for j, x in enumerate(grp):
                want = 0.0 if max(grp) == min(grp) else (x - mean) / ((std + 1e-6) if scale else 1.0)
                assert fast[p * 4 + j].item() == pytest.approx(want, abs=1e-6)


def test_hicra_by_hand():
    adv = torch.tensor([0.5, -0.5])  # one success, one failure, T = 3
    planning = torch.tensor([[1, 0, 1], [1, 1, 0]], dtype=B)
    out = hicra_advantages(adv, planning, alpha=0.2)
    assert out.flatten().tolist() == pytest.approx([0.6, 0.5, 0.6, -0.4, -0.4, -0.5])


def test_hicra_reduces_to_grpo_exactly():
    g = torch.Generator().manual_seed(0)
    adv = torch.randn(6, 11, generator=g)
    planning = torch.rand(6, 11, generator=g) > 0.5
    assert torch.equal(hicra_advantages(adv, planning, alpha=0.0), adv)
    assert torch.equal(hicra_advantages(adv, torch.zeros_like(planning), alpha=0.2), adv)
    with pytest.raises(ValueError):
        hicra_advantages(adv, planning, alpha=-0.1)
    with pytest.raises(ValueError):
        hicra_advantages(adv, planning, alpha=float("nan"))
    with pytest.raises(ValueError, match="same shape"):
        hicra_advantages(adv, planning[:, :3], alpha=0.2)


def test_broadcast_zeroes_padding():
    valid = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=B)
    assert broadcast_to_tokens(torch.tensor([2.0, -1.0]), valid).tolist() == [[2, 2, 0], [-1, 0, 0]]


def test_released_code_mask_by_hand():
    # group of 3: lengths 4, 2, 3 (mean 3); advantages +, +, -
    valid = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]], dtype=B)
    planning = torch.tensor([[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], dtype=B)
    high = torch.tensor([[0, 0, 1, 0], [0, 1, 0, 0], [0, 1, 0, 0]], dtype=B)
    mask = released_code_mask(torch.tensor([0.3, 0.3, -0.6]), planning, high, valid, group_size=3)
    # only response 0 is correct AND longer than the mean: planning | high there
    assert mask.tolist() == [[True, False, True, False], [False] * 4, [False] * 4]


def test_placebo_mask_keeps_token_budget_and_is_seeded():
    valid = torch.ones(3, 20, dtype=B)
    valid[2, 12:] = False
    planning = torch.zeros(3, 20, dtype=B)
    planning[0, [2, 3, 4, 10, 11]] = True  # runs of 3 and 2
    planning[2, [0, 1, 2, 3, 4, 5, 6]] = True
    a = placebo_mask(planning, valid, torch.Generator().manual_seed(1))
    b = placebo_mask(planning, valid, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.sum(-1).tolist() == [5, 0, 7]
    assert not (a & ~valid).any()
    c = placebo_mask(planning, valid, torch.Generator().manual_seed(2))
    assert not torch.equal(a, c)


def test_aggregate_modes_by_hand():
    v = torch.tensor([[1.0, 2.0, 3.0], [10.0, 0.0, 0.0]])
    m = torch.tensor([[1, 1, 1], [1, 0, 0]], dtype=B)
    assert aggregate(v, m, "token-mean").item() == pytest.approx(16 / 4)
    assert aggregate(v, m, "seq-mean").item() == pytest.approx((2.0 + 10.0) / 2)
    # a response with no tokens does not count in seq-mean; all-empty gives 0
    m2 = torch.tensor([[1, 1, 1], [0, 0, 0]], dtype=B)
    assert aggregate(v, m2, "seq-mean").item() == pytest.approx(2.0)
    assert aggregate(v, torch.zeros_like(m), "token-mean").item() == 0.0
    assert aggregate(v, torch.zeros_like(m), "seq-mean").item() == 0.0
    with pytest.raises(ValueError):
        aggregate(v, m, "sum")


def test_policy_loss_by_hand():
    # ratios e^0 = 1, 1.5, 0.5, 1.5 ; advantages +1, +1, -1, -1 ; last token is padding
    old = torch.zeros(1, 5)
    new = torch.log(torch.tensor([[1.0, 1.5, 0.5, 1.5, 9.0]])).requires_grad_()
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0, 1.0]])
    mask = torch.tensor([[1, 1, 1, 1, 0]], dtype=B)
    loss, metrics = policy_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.2)
    # per token: -min(1, 1) = -1; -min(1.5, 1.2) = -1.2; -min(-0.5, -0.8) = 0.8; -min(-1.5, -1.2) = 1.5
    assert loss.item() == pytest.approx((-1 - 1.2 + 0.8 + 1.5) / 4)
    assert metrics["clip/fraction"] == pytest.approx(2 / 4)
    assert metrics["clip/high_fraction"] == pytest.approx(1 / 4)
    assert metrics["clip/low_fraction"] == pytest.approx(1 / 4)
    assert metrics["ratio/mean"] == pytest.approx((1 + 1.5 + 0.5 + 1.5) / 4)
    loss.backward()
    grad = new.grad[0].tolist()
    # d/dlogp of -ratio*A = -ratio*A where unclipped is chosen; 0 where clipped or padding
    assert grad == pytest.approx([-1.0 / 4, 0.0, 0.0, 1.5 / 4, 0.0])


def test_policy_loss_asymmetric_clip_and_seq_mean():
    old = torch.zeros(2, 2)
    new = torch.log(torch.tensor([[1.25, 1.0], [1.0, 1.0]]))
    adv = torch.ones(2, 2)
    mask = torch.tensor([[1, 1], [1, 0]], dtype=B)
    loss, m = policy_loss(new, old, adv, mask, clip_low=0.2, clip_high=0.28, aggregation="seq-mean")
    assert loss.item() == pytest.approx(-((1.25 + 1.0) / 2 + 1.0) / 2)
    assert m["clip/fraction"] == 0.0


def test_kl_penalty_k3_by_hand():
    lp = torch.log(torch.tensor([[0.5, 0.25]]))
    ref = torch.log(torch.tensor([[0.25, 0.25]]))
    kl = kl_k3(lp, ref)
    # d = ln(0.5) for token 0: e^d - d - 1 = 0.5 + ln 2 - 1
    assert kl.flatten().tolist() == pytest.approx([0.5 + 0.6931472 - 1.0, 0.0], abs=1e-6)
    mask = torch.ones(1, 2, dtype=B)
    base, _ = policy_loss(lp, lp, torch.zeros(1, 2), mask)
    loss, m = policy_loss(lp, lp, torch.zeros(1, 2), mask, ref_logprobs=ref, kl_coef=0.1)
    assert m["kl/k3"] == pytest.approx((0.5 + 0.6931472 - 1.0) / 2, abs=1e-6)
    assert loss.item() == pytest.approx(base.item() + 0.1 * m["kl/k3"], abs=1e-6)
    with pytest.raises(ValueError, match="ref_logprobs"):
        policy_loss(lp, lp, torch.zeros(1, 2), mask, kl_coef=0.1)


def test_policy_loss_with_empty_mask_is_zero_not_nan():
    z = torch.zeros(2, 3)
    loss, m = policy_loss(z, z, z, torch.zeros(2, 3, dtype=B))
    assert loss.item() == 0.0 and m["clip/fraction"] == 0.0 and m["ratio/max"] == 1.0


def test_hicra_alpha_zero_gives_grpo_gradient_exactly():
    g = torch.Generator().manual_seed(3)
    logits = torch.randn(4, 6, generator=g)
    mask = torch.rand(4, 6, generator=g) > 0.2
    planning = torch.rand(4, 6, generator=g) > 0.5
    adv = broadcast_to_tokens(group_advantages(torch.tensor([1.0, 0.0, 1.0, 1.0]), 2), mask)
    grads = []
    for a in (adv, hicra_advantages(adv, planning, alpha=0.0)):
        lp = logits.clone().requires_grad_()
        loss, _ = policy_loss(lp, logits.detach(), a, mask)
        loss.backward()
        grads.append(lp.grad)
    assert torch.equal(grads[0], grads[1])
