import math

import pytest
import torch

from training.hierarchy.metrics import (high_entropy_mask, masked_mean, overlap_shares, relative_perplexity, role_means,
                         token_entropy, token_nll)


def test_entropy_by_hand():
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [100.0, 0.0, 0.0, 0.0]]])  # (1, 2, 4)
    ent = token_entropy(logits)
    assert ent.shape == (1, 2)
    assert ent[0, 0].item() == pytest.approx(math.log(4))
    assert ent[0, 1].item() == pytest.approx(0.0, abs=1e-6)
    # p = (0.5, 0.25, 0.25): H = 0.5 ln2 + 2 * 0.25 ln4 = 1.5 ln 2
    p = torch.tensor([0.5, 0.25, 0.25])
    assert token_entropy(p.log()).item() == pytest.approx(1.5 * math.log(2))


def test_entropy_in_float32_for_bf16_logits():
    logits = torch.randn(2, 3, 50).to(torch.bfloat16)
    assert token_entropy(logits).dtype == torch.float32


def test_nll_by_hand():
    p = torch.tensor([[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]])
    nll = token_nll(p.log(), torch.tensor([0, 2]))
    assert nll.tolist() == pytest.approx([math.log(2), -math.log(0.7)])


def test_masked_and_role_means():
    values = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 7.0, 8.0]])
    valid = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    planning = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0]], dtype=torch.bool)  # (0,3) is padding
    means = role_means(values, planning, valid)
    assert means["planning"] == pytest.approx((1 + 6) / 2)
    assert means["execution"] == pytest.approx((2 + 3 + 5) / 3)
    assert means["all"] == pytest.approx((1 + 2 + 3 + 5 + 6) / 5)
    assert math.isnan(masked_mean(values, torch.zeros_like(valid)).item())
    assert math.isnan(role_means(values, torch.zeros_like(valid), valid)["planning"])


def test_relative_perplexity():
    # step-0 mean NLL ln(3) (ppl 3), now ln(1.5) (ppl 1.5): relative 0.5
    assert relative_perplexity(math.log(1.5), math.log(3.0)) == pytest.approx(0.5)
    assert relative_perplexity(0.7, 0.7) == 1.0
    assert math.isnan(relative_perplexity(float("nan"), 1.0))


def test_high_entropy_mask_top_30_percent_per_sequence():
    ent = torch.tensor([[0.1, 0.9, 0.5, 0.7, 0.2, 0.3, 0.8, 0.0, 0.4, 0.6],
                        [5.0, 1.0, 2.0, 9.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    valid = torch.ones_like(ent, dtype=torch.bool)
    valid[1, 4:] = False  # 4 valid tokens: ceil(1.2) = 2 marked
    mask = high_entropy_mask(ent, valid, 0.3)
    assert mask[0].nonzero().flatten().tolist() == [1, 3, 6]  # 0.9, 0.7, 0.8
    assert mask[1].nonzero().flatten().tolist() == [0, 3]
    # ties: earlier position first; padding never marked
    tied = high_entropy_mask(torch.ones(1, 5), torch.tensor([[1, 1, 1, 1, 0]], dtype=torch.bool), 0.5)
    assert tied.tolist() == [[True, True, False, False, False]]
    with pytest.raises(ValueError):
        high_entropy_mask(ent, valid, 1.5)


def test_overlap_shares_by_hand():
    valid = torch.ones(1, 10, dtype=torch.bool)
    planning = torch.zeros(1, 10, dtype=torch.bool)
    planning[0, [0, 1, 2, 3]] = True
    high = torch.zeros(1, 10, dtype=torch.bool)
    high[0, [2, 3, 4, 5, 6, 7, 8, 9]] = True
    shares = overlap_shares(planning, high, valid)
    assert shares["planning_high_share"] == pytest.approx(2 / 4)
    assert shares["high_planning_share"] == pytest.approx(2 / 8)
    empty = overlap_shares(torch.zeros_like(planning), high, valid)
    assert math.isnan(empty["planning_high_share"]) and empty["high_planning_share"] == 0.0
