"""The CUDA paths, where a CUDA GPU exists (skipped elsewhere, so never in CI): the lean decoder and
the lean forward in bf16 against transformers / peft, CUDA graphs against the plain step bit for
bit, seeded sampling reproducible (twice, and across a resume), and a short run of the bundled
model. bench/gpu_check.py runs this file on a GPU and records the outcome."""

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.cuda
ROOT = Path(__file__).resolve().parent.parent
CUDA = torch.device("cuda", 0)


@pytest.fixture(autouse=True)
def ieee_float32():
    """float32 references in float32, not TF32 (a Backbone turns TF32 on for the process)."""
    matmul = torch.backends.cuda.matmul
    name, exact = ("fp32_precision", "ieee") if hasattr(matmul, "fp32_precision") else ("allow_tf32", False)
    before = getattr(matmul, name)
    setattr(matmul, name, exact)
    yield
    setattr(matmul, name, before)


def _qwen25(layers: int = 2, dtype=torch.bfloat16):
    """Qwen2.5-0.5B's shapes (14 query heads, 2 key/value heads, its vocabulary), ``layers`` layers,
    random weights, on the GPU."""
    sys.path.insert(0, str(ROOT / "bench"))
    from archs import build

    return build("qwen2.5-0.5b", layers, dtype).to(CUDA).eval()


def _prompts(vocab: int, lengths=(5, 9, 7, 12), seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randint(2, vocab, (n,), generator=gen).tolist() for n in lengths]


@torch.no_grad()
def _teacher_forced(model, prompts, continuation):
    """Logits for each continuation position: the lean decoder step by step, and one full forward."""
    from training.engine.decoder import lean_decoder
    from training.engine.rollout import left_pad
    from training.engine.scoring import build_inputs

    ids, mask = (t.to(CUDA) for t in left_pad(prompts, pad_id=0))
    n, p = ids.shape
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    dec = lean_decoder(model, n, p + continuation.shape[1])
    lean = [dec.prefill(ids, mask, positions)]
    for t in range(continuation.shape[1] - 1):
        lean.append(dec.step(continuation[:, t], positions[:, -1] + 1 + t))
    full = [t.to(CUDA) for t in build_inputs(prompts, continuation.cpu(), torch.ones_like(continuation.cpu()), 0)]
    logits = model(input_ids=full[0], attention_mask=full[1], position_ids=full[2]).logits
    return torch.stack(lean, 1), logits[:, p - 1:p - 1 + continuation.shape[1]]


@torch.no_grad()
def test_lean_decoder_logits_match_transformers_in_bf16():
    """Against the same weights in float32: the lean decoder's bf16 error (grouped one-token
    attention, float32 scores) is about transformers' own bf16 error."""
    from training.engine.decoder import lean_decoder

    model = _qwen25()
    prompts = _prompts(model.config.vocab_size)
    continuation = torch.randint(2, model.config.vocab_size, (4, 40), device=CUDA)
    lean, reference = _teacher_forced(model, prompts, continuation)
    _, exact = _teacher_forced(copy.deepcopy(model).float(), prompts, continuation)
    err_lean, err_hf = (float((x.float() - exact).abs().max()) for x in (lean, reference))
    print(f"bf16 logits vs float32: lean {err_lean:.3g}, transformers {err_hf:.3g}; "
          f"attention: {lean_decoder(model, 1, 8).attention}")
    assert err_lean <= 1.5 * err_hf + 1e-3, (err_lean, err_hf)


@torch.no_grad()
def test_graph_replays_equal_the_plain_steps_bit_for_bit():
    """Real CUDA graphs: every replayed step's logits equal a plain decoder's (the same shapes, the
    same kernels), in a first rollout and in a second one that reuses the graph."""
    from training.engine import graphs
    from training.engine.decoder import LeanDecoder
    from training.engine.rollout import distinct_prompts, left_pad

    graphs.forget()
    model = _qwen25()
    vocab = model.config.vocab_size
    recordings = graphs.stats["recordings"]
    for rollout in range(2):
        prompts = _prompts(vocab, (6, 6, 11, 11), seed=rollout)
        ids, mask = left_pad(prompts, pad_id=0)
        ids, mask = ids.to(CUDA), mask.to(CUDA)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        firsts, copy_of = (torch.tensor(x, device=CUDA) for x in distinct_prompts(prompts))
        graphed = graphs.graphed_decoder(model, 4, ids.shape[1] + 30)
        graphed.prefill(ids[firsts], mask[firsts], positions[firsts])
        graphed.keep(copy_of)
        # a plain twin: the same shapes throughout (its prefill too), so the same kernels
        weights = graphed.decoder.weights
        plain = LeanDecoder(None, 4, graphed.decoder.max_len, weights=weights)
        plain.reserve(plain.max_len)
        prefill = LeanDecoder(None, len(firsts), ids.shape[1], weights=weights)
        prefill.prefill(ids[firsts], mask[firsts], positions[firsts])
        plain.take(prefill, copy_of)
        tokens = torch.randint(2, vocab, (4, 30), device=CUDA)
        for t in range(30):
            want = plain.step(tokens[:, t], positions[:, -1] + 1 + t)
            got = graphed.step(tokens[:, t], positions[:, -1] + 1 + t)
            assert torch.equal(got, want), (rollout, t, float((got.float() - want.float()).abs().max()))
    assert graphs.usable(), graphs.report()
    assert graphs.stats["recordings"] == recordings + 1 and graphs.stats["replay_max_abs_diff"] == 0.0


def test_seeded_sampling_is_reproducible_whatever_the_global_generator():
    from training.engine.rollout import sample

    model = _qwen25()
    prompts = [p for p in _prompts(model.config.vocab_size) for _ in range(4)]
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # the global generators must not matter
        for generator in (torch.Generator(device="cuda").manual_seed(5), torch.Generator(device=CUDA).manual_seed(5)):
            runs.append(sample(model, prompts, max_new_tokens=48, temperature=1.0, eos_id=0, pad_id=1,
                               generator=generator))
    for run in runs[1:]:
        assert torch.equal(run.response_ids, runs[0].response_ids)
    other = sample(model, prompts, max_new_tokens=48, temperature=1.0, eos_id=0, pad_id=1,
                   generator=torch.Generator(device=CUDA).manual_seed(6))
    assert not torch.equal(other.response_ids, runs[0].response_ids)
    with pytest.raises(ValueError, match="generator is on cpu"):
        sample(model, prompts, max_new_tokens=4, temperature=1.0, eos_id=0, pad_id=1, generator=torch.Generator())


def test_resume_on_cuda_reproduces_the_rollouts(tmp_path):
    """A run resumed from its checkpoint samples what the uninterrupted run sampled (the seeded
    generator and the saved adapter); the update's numbers agree to float rounding (CUDA's
    index_add backward sums in no fixed order)."""
    from training.arms import train
    from training.config import preset

    small = dict(prompts_per_step=2, group_size=4, max_new_tokens=48, eval_every=0, kl_every=1, device="cuda")
    full = [r for r in train(preset("tiny-cpu", steps=3, checkpoint_every=1, **small), tmp_path / "full")
            if r["kind"] == "step"]
    list(train(preset("tiny-cpu", steps=2, checkpoint_every=1, **small), tmp_path / "part"))
    resumed = [r for r in train(preset("tiny-cpu", steps=3, checkpoint_every=1, **small), tmp_path / "part",
                                resume=True) if r["kind"] == "step"]
    assert [r["step"] for r in resumed] == [2]
    for key in ("reward/mean", "len/mean", "errors/execution", "errors/strategy"):
        assert resumed[0][key] == full[2][key], key
    for key in ("loss/policy", "entropy/execution", "kl/k3"):
        assert resumed[0][key] == pytest.approx(full[2][key], rel=1e-3, abs=1e-6), key


def test_lean_forward_logprobs_and_lora_gradients_match_peft_in_bf16(random_model):
    """bf16 base, float32 LoRA (peft's default), on the GPU: against a float32 copy of the same
    weights, the lean forward's errors are peft's own bf16 rounding."""
    from test_lean_forward import _batch, _with_lora

    from training.engine.scoring import score

    model = _with_lora(_qwen25(2)).to(CUDA)
    reference = copy.deepcopy(model).float()
    prompts, ids, mask = _batch(model.config.vocab_size)
    results = []
    for net, lean in ((reference, False), (model, False), (model, True)):
        net.train()
        net.zero_grad()
        lp, _ = score(net, prompts, ids, mask, pad_id=0, lean=lean)
        lp[mask.to(CUDA)].sum().backward()
        results.append((lp.detach()[mask.to(CUDA)],
                        {n: p.grad.float() for n, p in net.named_parameters() if p.requires_grad}))
    (want, want_g), *rest = results
    (peft_lp, peft_g), (lean_lp, lean_g) = [
        (float((lp - want).abs().max()),
         max(float((g[n] - want_g[n]).abs().max() / want_g[n].abs().max()) for n in g)) for lp, g in rest]
    print(f"bf16 vs float32: log-probs peft {peft_lp:.3g}, lean {lean_lp:.3g}; "
          f"LoRA gradients peft {peft_g:.3g}, lean {lean_g:.3g}")
    assert lean_lp <= 1.5 * peft_lp + 1e-3 and lean_g <= 1.5 * peft_g + 1e-2


def test_tiny_smoke_runs_three_steps_on_cuda(tmp_path):
    """The CLI, as a user runs it: 3 steps of the bundled model on the GPU, graphs on throughout."""
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "training", "run", "--preset", "tiny-smoke", "--steps", "3",
                           "--device", "cuda", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "decoding without CUDA graphs" not in done.stderr, done.stderr[-3000:]
    assert json.loads((out / "status.json").read_text())["state"] == "finished"
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()
             if json.loads(line)["kind"] == "step"]
    assert [r["step"] for r in steps] == [0, 1, 2]
    assert all(0 <= r["sampler/logp_gap"] < 0.05 for r in steps), [r["sampler/logp_gap"] for r in steps]
