"""Decoding steps as recorded graphs: the bookkeeping around the graph (fixed inputs, outputs and
weights, cache columns, one graph kept across rollouts, the check of the first replay, the
fallback) on a CPU, with a stand-in recorder that behaves like a CUDA graph where it matters. The
CUDA recording itself: tests/test_cuda.py."""

import copy

import pytest
import torch

import training.engine.graphs as graphs
import training.engine.rollout as rollout
from training.engine.decoder import Fused, lean_decoder
from training.engine.graphs import graphed_decoder
from training.engine.rollout import distinct_prompts, left_pad, sample


@pytest.fixture(autouse=True)
def graphs_on(monkeypatch):
    """A failure turns graphs off for the whole process, and graphs are kept per model: each test
    starts with graphs on, none kept, and its own counts."""
    monkeypatch.setattr(graphs, "_broken", None)
    monkeypatch.setattr(graphs, "stats", dict.fromkeys(graphs.stats, 0))
    graphs.forget()
    yield
    graphs.forget()


def fixed_tensors(dec):
    """What a CUDA graph of a step reads at fixed addresses: the cache, the mask, the fused weights."""
    fused = [part for layer in dec.layers for part in layer if isinstance(part, Fused)]
    return list(dec.keys) + list(dec.values) + [dec.bias] + [f.weight for f in fused] + \
        [f.a for f in fused if f.a is not None] + [f.b for f in fused if f.b is not None]


def strict_recorder(step, device=None):
    """Like a CUDA graph: each replay rewrites the one output tensor recorded, and the tensors the
    step read when it was recorded must still be the decoder's (a graph reads fixed addresses)."""
    # the recorder sees only the step: its decoder is among what the step closes over
    dec = next(c.cell_contents for c in step.__closure__ if hasattr(c.cell_contents, "step_at"))
    fixed = fixed_tensors(dec)
    out = step()

    def replay():
        assert all(a is b for a, b in zip(fixed, fixed_tensors(dec))), "stale graph"
        out.copy_(step())
        return out

    return replay


def _prompts(seed: int, lengths=(5, 9, 5)):
    gen = torch.Generator().manual_seed(seed)
    distinct = [torch.randint(2, 700, (n,), generator=gen).tolist() for n in sorted(set(lengths))]
    return [distinct[sorted(set(lengths)).index(n)] for n in lengths]  # rows 0 and 2 share their prompt


def _rollout_pair(model, prompts, recorder, new_tokens=40):
    """A plain decoder and a graphed one, each prefilled with ``prompts`` (distinct ones once, then
    copied to their rows, as the rollout does); returns both and the next positions."""
    ids, mask = left_pad(prompts, pad_id=0)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    firsts, copy_of = (torch.tensor(x) for x in distinct_prompts(prompts))
    plain = lean_decoder(model, len(firsts), ids.shape[1] + new_tokens)
    graphed = graphed_decoder(model, len(prompts), ids.shape[1] + new_tokens, recorder)
    first = [d.prefill(ids[firsts], mask[firsts], positions[firsts]) for d in (plain, graphed)]
    assert torch.allclose(first[0], first[1], atol=1e-5)
    for d in (plain, graphed):
        d.keep(copy_of)
    return plain, graphed, positions[:, -1] + 1


def _steps(plain, graphed, pos, seed, count):
    tokens = torch.randint(2, 700, (len(pos), count), generator=torch.Generator().manual_seed(seed))
    for t in range(count):
        want = plain.step(tokens[:, t], pos + t)
        got = graphed.step(tokens[:, t], pos + t).clone()
        assert torch.allclose(got, want, atol=1e-5), (t, (got - want).abs().max())


@torch.no_grad()
def test_replayed_steps_give_the_plain_steps_logits(tiny):
    plain, graphed, pos = _rollout_pair(tiny, _prompts(3), strict_recorder)
    _steps(plain, graphed, pos, 4, 36)
    assert graphed.enabled and graphed.steps_replayed == 35  # every step but the recording one
    assert graphed.decoder.length == plain.length
    assert graphs.stats["recordings"] == 1 and graphs.stats["checked"] == 1
    assert graphs.stats["replay_max_abs_diff"] == 0.0  # the stand-in replays the same kernels: bit for bit
    with pytest.raises(RuntimeError, match="finished rows cannot be dropped"):
        graphed.keep(torch.tensor([0, 2]))


@torch.no_grad()
def test_one_graph_serves_later_rollouts_of_the_same_shape_and_reads_new_weights(tiny):
    """A second rollout of the same batch size and a similar length replays the graph recorded in
    the first (no recording), with the sampler's weights rewritten in between (as a LoRA merge does)."""
    model = copy.deepcopy(tiny)
    _, first, pos = _rollout_pair(model, _prompts(3), strict_recorder)
    _steps(lean_decoder(model, 3, 64), first, pos, 4, 0)  # no steps: the graph is recorded at the first
    plain, first, pos = _rollout_pair(model, _prompts(3), strict_recorder)
    _steps(plain, first, pos, 4, 5)
    assert graphs.stats["recordings"] == 1
    with torch.no_grad():
        for layer in model.model.layers:  # in place, as sync_sampler rewrites the sampler's weights
            layer.self_attn.k_proj.weight.mul_(1.5)
            layer.mlp.up_proj.weight.mul_(0.5)
    plain, second, pos = _rollout_pair(model, _prompts(7, (4, 12, 12)), strict_recorder)
    assert second is first  # kept: the same tensors, the same graph
    _steps(plain, second, pos, 8, 20)
    assert graphs.stats["recordings"] == 1 and second.steps_replayed == 4 + 20
    graphed_decoder(model, 3, 400, strict_recorder)  # another length: another graph, the first one kept
    graphed_decoder(model, 5, 20, strict_recorder)
    assert len(graphs._decoders[model]) == 3


@torch.no_grad()
def test_a_graph_recorded_at_the_last_step_of_a_rollout_is_recorded_again(tiny):
    """Its first replay was never checked: the next rollout records a new one, and checks it."""
    plain, graphed, pos = _rollout_pair(tiny, _prompts(3), strict_recorder)
    _steps(plain, graphed, pos, 4, 1)  # the recording step only
    plain, graphed, pos = _rollout_pair(tiny, _prompts(3), strict_recorder)
    _steps(plain, graphed, pos, 5, 3)
    assert graphs.stats["recordings"] == 2 and graphs.stats["checked"] == 1 and graphed.steps_replayed == 2


def _baked_column(step, device=None):
    """A graph that baked in the cache column it was recorded at: it writes every new step's keys and
    values over the recording step's (a wrong graph writes where a step writes)."""
    graphed = next(c.cell_contents for c in step.__closure__ if hasattr(c.cell_contents, "column"))
    dec, column = graphed.decoder, graphed.column.clone()
    out = step()

    def replay():
        return out.copy_(dec.step_at(graphed.tokens, graphed.positions, column))

    return replay


def _stale(step, device=None):
    """A graph that baked in the inputs it was recorded with (it ignores the new ones)."""
    out = step().clone()
    return lambda: out


def _raising(step, device=None):
    raise RuntimeError("operation not permitted when stream is capturing")


@pytest.mark.parametrize("recorder", [_raising, _baked_column, _stale])
@torch.no_grad()
def test_a_graph_that_fails_or_disagrees_falls_back_to_plain_steps(tiny, recorder):
    """Caught at the recording or at the first replay (new inputs); the cache is left right, and
    graphs stay off for the process."""
    plain, graphed, pos = _rollout_pair(tiny, _prompts(3), recorder)
    tokens = torch.randint(2, 700, (3, 6), generator=torch.Generator().manual_seed(5))
    with pytest.warns(RuntimeWarning, match="decoding without CUDA graphs"):
        for t in range(2):
            assert torch.allclose(graphed.step(tokens[:, t], pos + t), plain.step(tokens[:, t], pos + t),
                                  atol=1e-5)
    assert not graphed.enabled and graphed.steps_replayed == 0 and not graphs.usable()
    assert graphs.report()["off_because"]
    for t in range(2, 6):
        assert torch.allclose(graphed.step(tokens[:, t], pos + t), plain.step(tokens[:, t], pos + t), atol=1e-5)
    assert not graphs._decoders.get(tiny)  # nothing kept, and none made from now on
    assert graphed_decoder(tiny, 3, 64, recorder) is None


def _off_by_rounding(step, device=None):
    """A graph whose replay differs from the plain step by one rounding of the largest logit."""
    out = step()

    def replay():
        fresh = step()
        return out.copy_(fresh + torch.finfo(fresh.dtype).eps * fresh.abs().max())

    return replay


@torch.no_grad()
def test_a_replay_that_differs_by_rounding_is_logged_and_graphs_stay_on(tiny):
    """The same kernels on the same inputs should agree bit for bit: a difference is logged (and
    kept in the stats); within a few roundings graphs stay on, and the plain step's logits are used."""
    plain, graphed, pos = _rollout_pair(tiny, _prompts(3), _off_by_rounding)
    tokens = torch.randint(2, 700, (3, 4), generator=torch.Generator().manual_seed(5))
    graphed.step(tokens[:, 0], pos)
    plain.step(tokens[:, 0], pos)
    with pytest.warns(RuntimeWarning, match="expected: bit for bit"):
        got = graphed.step(tokens[:, 1], pos + 1)
    assert torch.allclose(got, plain.step(tokens[:, 1], pos + 1), atol=1e-5)
    assert graphed.enabled and graphs.stats["replay_max_abs_diff"] > 0


def test_sampling_with_graphs_gives_the_same_tokens(tiny):
    """The rollout loop with graphed steps (no rows dropped) samples what it samples without them,
    rollout after rollout (one graph, recorded once)."""
    gen = torch.Generator().manual_seed(6)
    settings = dict(max_new_tokens=30, temperature=1.0, eos_id=0, pad_id=1)
    for seed in (7, 8):
        prompts = [torch.randint(2, 700, (n,), generator=gen).tolist() for n in (4, 4, 8, 8)]
        want = sample(tiny, prompts, generator=torch.Generator().manual_seed(seed), graphs=False, **settings)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(rollout, "GRAPH_DEVICES", ("cpu",))
            patch.setattr(graphs, "cuda_recorder", strict_recorder)
            got = sample(tiny, prompts, generator=torch.Generator().manual_seed(seed), graphs=True, **settings)
        assert "CUDA graphs" in rollout.last_path
        assert torch.equal(got.response_ids, want.response_ids)
        assert torch.equal(got.response_mask, want.response_mask)
        assert torch.allclose(got.logprobs, want.logprobs, atol=1e-5)
    assert graphs.stats["recordings"] == 1
