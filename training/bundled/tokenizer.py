"""Build the bundled byte-level BPE tokenizer (part of ``assets/tiny-model``).

    python -m training.bundled.tokenizer --out assets/tiny-model

Deterministic: trained on a seeded corpus of the bundled task's worked
solutions plus short math-reasoning sentences that use the shipped Strategic
Gram presets, into at most 1,024 tokens. Digits are split one per token (so
arithmetic stays learnable for a tiny model) and any text still encodes,
byte by byte if need be. The result loads with
``tokenizers.Tokenizer.from_file`` and with ``AutoTokenizer.from_pretrained``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from lab.grams import list_presets, load_preset
from training.tasks import multiply

EOS, PAD = "<|endoftext|>", "<|pad|>"
VOCAB_SIZE = 1024

_STEPS = [
    "{a} * {b} = {c}", "{a} + {b} = {c}", "{a} - {b} = {c}", "{a} x {b} is {c}",
    "split {a} into {b} and {c}", "round {a} up to {b}", "half of {a} is {b}",
    "so the answer is {c}.", "we get {c}.", "The total is {c}.",
]


def corpus(n: int = 20000, seed: int = 0) -> list[str]:
    """Seeded training text: ``n`` generic sentences and ``n`` task solutions."""
    rng = random.Random(seed)
    phrases = [g.phrase for name in list_presets() for g in load_preset(name).grams]
    lines = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(2, 5)):
            a, b = rng.randint(2, 99), rng.randint(2, 99)
            step = rng.choice(_STEPS).format(a=a, b=b, c=a * b)
            if rng.random() < 0.5:
                phrase = rng.choice(phrases)
                phrase = phrase[0].upper() + phrase[1:] if rng.random() < 0.5 else phrase
                step = f"{phrase}, {step}"
            parts.append(step)
        lines.append(" ".join(parts))
    train = multiply.problems("train")
    for _ in range(n):
        problem = rng.choice(train)
        lines.append(problem.prompt + multiply.write_trace(problem, rng).text)
    return lines


def build_tokenizer(out_dir: str | Path) -> Tokenizer:
    out_dir = Path(out_dir)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=[EOS, PAD], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": EOS,
        "pad_token": PAD,
        "model_max_length": 512,
        "clean_up_tokenization_spaces": False,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return tok


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Build the bundled tokenizer.")
    ap.add_argument("--out", default="assets/tiny-model")
    t = build_tokenizer(ap.parse_args().out)
    print(f"wrote tokenizer ({t.get_vocab_size()} tokens)")
