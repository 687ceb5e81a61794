"""Pretrain the bundled tiny model on the base policy's worked solutions.

    python -m training.bundled.pretrain --out assets/tiny-model [--steps 2000] [--seed 0]
    python -m training.bundled.pretrain --task multiply-planning --out assets/tiny-planning

Builds the tokenizer, a small Qwen2 causal LM from its config, and trains it
from scratch on a seeded stream of traces written by the base policy of a
task regime (:class:`training.tasks.multiply.BasePolicy` for ``multiply``,
:class:`training.tasks.shortcut.BasePolicy` for the other regimes) for
training-split problems
(the loss covers the response and its EOS, not the prompt). Then it
evaluates the model on the held-out split (the paper's protocol scaled down:
temperature 0.6, 4 samples per problem) and writes the model card with the
measured figures. On 2 CPU cores the default run takes about 20 minutes.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from training.tasks import multiply
from training.bundled.tokenizer import EOS, PAD, base_policy_writer, build_tokenizer, problems_of


@dataclass(frozen=True)
class PretrainConfig:
    out: str = field(default="assets/tiny-model", metadata={"help": "output folder"})
    task: str = field(default="multiply", metadata={"help": "task regime whose base policy writes the traces: "
                                                           "multiply, multiply-planning, multiply-intermediate, "
                                                           "multiply-execution"})
    steps: int = field(default=2000, metadata={"help": "optimizer steps"})
    batch_size: int = field(default=64, metadata={"help": "traces per step"})
    lr: float = field(default=2e-3, metadata={"help": "peak learning rate (AdamW)"})
    warmup: int = field(default=100, metadata={"help": "linear warm-up steps"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay"})
    hidden_size: int = field(default=128, metadata={"help": "model width"})
    layers: int = field(default=4, metadata={"help": "transformer blocks"})
    heads: int = field(default=4, metadata={"help": "attention heads"})
    intermediate_size: int = field(default=384, metadata={"help": "MLP width"})
    seed: int = field(default=0, metadata={"help": "seeds data, init and sampling"})
    init: str = field(default="", metadata={"help": "start from this bundled model folder (its weights and its "
                                                    "tokenizer) instead of random weights: a regime's model "
                                                    "is the execution-bound model, fine-tuned on the regime's "
                                                    "traces"})
    eval_problems: int = field(default=500, metadata={"help": "held-out problems in the model card"})
    threads: int = field(default=2, metadata={"help": "torch CPU threads"})


def make_model(cfg: PretrainConfig, vocab_size: int, eos_id: int, pad_id: int):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.heads,
        max_position_embeddings=512, tie_word_embeddings=True, rope_theta=10000.0,
        bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=pad_id,
    )
    return Qwen2ForCausalLM(config)


def traces(tok, rng: random.Random, problems, eos_id: int, write=multiply.write_trace):
    """Endless (prompt ids, response ids + EOS) pairs from the base policy (``write``)."""
    while True:
        p = rng.choice(problems)
        yield tok.encode(p.prompt).ids, tok.encode(write(p, rng).text).ids + [eos_id]


def batches(stream, rng: random.Random, size: int, pad_id: int, pool: int = 8):
    """(B, L) input ids and labels (-100 on prompt and padding).

    Draws ``pool`` batches' worth of traces, sorts them by length and serves
    the batches in random order, so a batch pads to similar lengths (about
    half the padding of random batches, the same data).
    """
    while True:
        rows = sorted((next(stream) for _ in range(size * pool)), key=lambda r: len(r[0]) + len(r[1]))
        chunks = [rows[i:i + size] for i in range(0, len(rows), size)]
        rng.shuffle(chunks)
        for chunk in chunks:
            width = max(len(a) + len(b) for a, b in chunk)
            ids = torch.full((size, width), pad_id, dtype=torch.long)
            labels = torch.full((size, width), -100, dtype=torch.long)
            for i, (a, b) in enumerate(chunk):
                ids[i, :len(a) + len(b)] = torch.tensor(a + b)
                labels[i, len(a):len(a) + len(b)] = torch.tensor(b)
            yield ids, labels


def _start_from(init: Path, out: Path):
    """The tokenizer files and the weights of a bundled model, as the start of another."""
    import shutil

    from tokenizers import Tokenizer
    from transformers import Qwen2ForCausalLM

    out.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(init / name, out / name)
    model = Qwen2ForCausalLM.from_pretrained(str(init), dtype=torch.float32)
    return Tokenizer.from_file(str(out / "tokenizer.json")), model


def lr_at(step: int, cfg: PretrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(cfg: PretrainConfig) -> Path:
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    out = Path(cfg.out)
    write = base_policy_writer(cfg.task)  # an unknown task fails before any work
    if cfg.init:
        tok, model = _start_from(Path(cfg.init), out)
    else:
        tok = build_tokenizer(out, cfg.task)
    eos_id, pad_id = tok.token_to_id(EOS), tok.token_to_id(PAD)
    if not cfg.init:
        model = make_model(cfg, tok.get_vocab_size(), eos_id, pad_id)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params:,} parameters")
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    rng = random.Random(cfg.seed)
    data = batches(traces(tok, rng, problems_of(cfg.task), eos_id, write), rng, cfg.batch_size, pad_id)
    model.train()
    start = time.time()
    log = []
    for step in range(cfg.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        ids, labels = next(data)
        loss = model(input_ids=ids, attention_mask=(ids != pad_id).long(), labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == cfg.steps - 1:
            elapsed = time.time() - start
            log.append({"step": step, "loss": round(loss.item(), 4), "minutes": round(elapsed / 60, 2)})
            print(f"step {step:5d}  loss {loss.item():.4f}  {elapsed / 60:.1f} min", flush=True)
    train_minutes = (time.time() - start) / 60
    model.eval()
    model.generation_config.eos_token_id = eos_id
    model.generation_config.pad_token_id = pad_id
    model.save_pretrained(out, safe_serialization=True)
    (out / "pretrain_log.json").write_text(json.dumps(
        {"config": asdict(cfg), "parameters": n_params, "train_minutes": round(train_minutes, 1),
         "log": log}, indent=2) + "\n")
    print(f"saved {out} after {train_minutes:.1f} min")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, f in PretrainConfig.__dataclass_fields__.items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(f.default), default=f.default,
                        help=f.metadata.get("help"))
    args = ap.parse_args(argv)
    cfg = PretrainConfig(**vars(args))
    out = pretrain(cfg)
    from training.bundled.card import write_card

    write_card(out, cfg)


if __name__ == "__main__":
    main()
