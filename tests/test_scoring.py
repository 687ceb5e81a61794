"""Chunked scoring equals the plain full-logits computation, values and gradients."""

import torch
import torch.nn.functional as F

from training.engine.modeling import load_model
from training.engine.scoring import build_inputs, score


def naive(model, prompts, ids, mask, pad_id):
    x, m, pos = build_inputs(prompts, ids, mask, pad_id)
    logits = model(input_ids=x, attention_mask=m, position_ids=pos).logits[:, -(ids.shape[1] + 1):-1].float()
    logp = F.log_softmax(logits, -1)
    return logp.gather(-1, ids.unsqueeze(-1)).squeeze(-1), -(logp.exp() * logp).sum(-1)


def test_chunks_match_full_logits_and_gradients():
    lm = load_model("tiny", device="cpu")
    tok = lm.tokenizer
    prompts = [tok("Q: 47 * 28 = ?\nA:")["input_ids"], tok("Q: 13 * 91 = ?\nA:")["input_ids"]]
    response = [tok(" Let's split the second number: 28 = 20 + 8.")["input_ids"],
                tok(" So the answer is 1183.")["input_ids"]]
    width = max(map(len, response))
    ids = torch.full((2, width), lm.pad_id)
    mask = torch.zeros((2, width), dtype=torch.bool)
    for i, r in enumerate(response):
        ids[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = True
    want_lp, want_ent = naive(lm.model, prompts, ids, mask, lm.pad_id)
    # chunks of 5 positions: several chunks, one of them partial
    lp, ent = score(lm.model, prompts, ids, mask, lm.pad_id, chunk_tokens=5)
    assert torch.allclose(lp[mask], want_lp[mask], atol=1e-5)
    assert torch.allclose(ent[mask], want_ent[mask], atol=1e-5)
    grads = []
    for fn in (lambda: naive(lm.model, prompts, ids, mask, lm.pad_id)[0],
               lambda: score(lm.model, prompts, ids, mask, lm.pad_id, chunk_tokens=5)[0]):
        lm.model.zero_grad()
        (fn()[mask].sum()).backward()
        grads.append(lm.model.model.layers[0].mlp.up_proj.weight.grad.clone())
    assert torch.allclose(grads[0], grads[1], atol=1e-5)


def test_large_vocabulary_logits_are_never_kept_whole(monkeypatch):
    """Logits beyond the budget go in budget-sized, checkpointed chunks: the
    graph keeps no (positions x vocabulary) tensor, however few positions."""
    import training.engine.scoring as scoring

    lm = load_model("tiny", device="cpu")
    vocab = lm.model.get_output_embeddings().weight.shape[0]
    monkeypatch.setattr(scoring, "LOGIT_BUDGET", vocab * 7)  # 7 positions' logits per chunk
    prompts = [lm.tokenizer("Q: 47 * 28 = ?\nA:")["input_ids"]] * 3
    ids = torch.randint(5, vocab, (3, 12))
    mask = torch.ones((3, 12), dtype=torch.bool)
    kept = []  # positions of every logits-shaped tensor the graph keeps
    with torch.autograd.graph.saved_tensors_hooks(
            lambda t: kept.append(t.numel() // vocab if t.shape[-1:] == (vocab,) else 0) or t, lambda t: t):
        lp, _ = score(lm.model, prompts, ids, mask, lm.pad_id, lean=True)
    assert max(kept) <= 7  # 36 positions in all: at most one chunk's logits at a time
    lp.sum().backward()  # the checkpointed chunks still give gradients
    assert lm.model.model.layers[0].mlp.up_proj.weight.grad.abs().sum() > 0
