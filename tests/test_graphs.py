"""Decoding steps as recorded graphs: the bookkeeping around the graph (fixed inputs and outputs,
cache columns, recording again after the batch changes, the check of the first replay, the
fallback) on a CPU, with a stand-in recorder that behaves like a CUDA graph where it matters."""

import pytest
import torch

import training.engine.graphs as graphs
import training.engine.rollout as rollout
from training.engine.decoder import lean_decoder
from training.engine.graphs import GraphedDecoder
from training.engine.rollout import left_pad, sample


@pytest.fixture(autouse=True)
def graphs_on(monkeypatch):
    """A failure turns graphs off for the whole process; each test starts with them on."""
    monkeypatch.setattr(graphs, "_broken", None)


def strict_recorder(step, device=None):
    """Like a CUDA graph: each replay rewrites the one output tensor recorded, and the tensors the
    step read when it was recorded (the cache) must still be the decoder's (a graph reads fixed
    addresses)."""
    # the recorder sees only the step: its decoder is among what the step closes over
    dec = next(c.cell_contents for c in step.__closure__ if hasattr(c.cell_contents, "step_at"))
    cache = list(dec.keys) + list(dec.values) + [dec.bias]
    out = step()

    def replay():
        assert all(a is b for a, b in zip(cache, list(dec.keys) + list(dec.values) + [dec.bias])), "stale graph"
        out.copy_(step())
        return out

    return replay


def _two_decoders(model, recorder):
    gen = torch.Generator().manual_seed(3)
    prompts = [torch.randint(2, 700, (n,), generator=gen).tolist() for n in (5, 9, 7)]
    ids, mask = left_pad(prompts, pad_id=0)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    plain = lean_decoder(model, 3, ids.shape[1] + 40)
    graphed = GraphedDecoder(lean_decoder(model, 3, ids.shape[1] + 40), recorder)
    first = [d.prefill(ids, mask, positions) for d in (plain, graphed)]
    assert torch.allclose(first[0], first[1], atol=1e-5)
    return plain, graphed, positions[:, -1] + 1


@torch.no_grad()
def test_replayed_steps_give_the_plain_steps_logits_also_after_keep(tiny):
    plain, graphed, pos = _two_decoders(tiny, strict_recorder)
    tokens = torch.randint(2, 700, (3, 36), generator=torch.Generator().manual_seed(4))
    rows = torch.tensor([0, 2])
    for t in range(36):
        if t == 20:  # a batch change (a prompt's cache copied, rows dropped): recorded again
            for d in (plain, graphed):
                d.keep(rows)
            tokens, pos = tokens[rows], pos[rows]
        want = plain.step(tokens[:, t], pos + t)
        got = graphed.step(tokens[:, t], pos + t).clone()
        assert torch.allclose(got, want, atol=1e-5), (t, (got - want).abs().max())
    assert graphed.enabled and graphed.steps_replayed == 34  # every step but the two recording ones
    assert graphed.decoder.length == plain.length


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
    plain, graphed, pos = _two_decoders(tiny, recorder)
    tokens = torch.randint(2, 700, (3, 6), generator=torch.Generator().manual_seed(5))
    with pytest.warns(RuntimeWarning, match="decoding without CUDA graphs"):
        for t in range(2):
            assert torch.allclose(graphed.step(tokens[:, t], pos + t), plain.step(tokens[:, t], pos + t),
                                  atol=1e-5)
    assert not graphed.enabled and graphed.steps_replayed == 0
    for t in range(2, 6):
        assert torch.allclose(graphed.step(tokens[:, t], pos + t), plain.step(tokens[:, t], pos + t), atol=1e-5)
    calls = []
    again = GraphedDecoder(lean_decoder(tiny, 3, 20), lambda step, device: calls.append(1))
    again.decoder.length = 1
    again.step(tokens[:, 0], pos)
    assert not calls  # no new recording in this process


def test_sampling_with_graphs_gives_the_same_tokens(tiny, monkeypatch):
    """The rollout loop with graphed steps (no rows dropped) samples what it samples without them."""
    gen = torch.Generator().manual_seed(6)
    prompts = [torch.randint(2, 700, (n,), generator=gen).tolist() for n in (4, 4, 8, 8)]
    settings = dict(max_new_tokens=30, temperature=1.0, eos_id=0, pad_id=1)
    want = sample(tiny, prompts, generator=torch.Generator().manual_seed(7), graphs=False, **settings)
    monkeypatch.setattr(rollout, "GRAPH_DEVICES", ("cpu",))
    monkeypatch.setattr(graphs, "cuda_recorder", strict_recorder)
    got = sample(tiny, prompts, generator=torch.Generator().manual_seed(7), graphs=True, **settings)
    assert torch.equal(got.response_ids, want.response_ids)
    assert torch.equal(got.response_mask, want.response_mask)
