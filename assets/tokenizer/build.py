"""Build the bundled byte-level BPE tokenizer (``assets/tokenizer``).

    python assets/tokenizer/build.py

Deterministic: a seeded corpus of short math-reasoning sentences that use the
shipped Strategic Gram presets, trained into a 1,024-token byte-level BPE
vocabulary. Digits are split one per token (arithmetic stays learnable for a
tiny model) and any text still encodes, byte by byte if need be. The
result loads with ``tokenizers.Tokenizer.from_file`` and with transformers'
``AutoTokenizer.from_pretrained("assets/tokenizer")``.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from lab.grams import list_presets, load_preset  # noqa: E402

SPECIAL = ["<|endoftext|>", "<|pad|>"]
VOCAB_SIZE = 1024

_STEPS = [
    "{a} * {b} = {c}", "{a} + {b} = {c}", "{a} - {b} = {c}", "{a} x {b} is {c}",
    "split {a} into {b} and {c}", "round {a} up to {b}", "half of {a} is {b}",
    "so the answer is {c}.", "we get {c}.", "The total is {c}.",
]


def corpus(n: int = 20000, seed: int = 0) -> list[str]:
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
    return lines


def build(out_dir: Path = HERE) -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE, special_tokens=SPECIAL, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(), trainer=trainer)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save(str(out_dir / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|endoftext|>",
        "pad_token": "<|pad|>",
        "unk_token": None,
        "model_max_length": 2048,
        "clean_up_tokenization_spaces": False,
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return tok


if __name__ == "__main__":
    t = build()
    print(f"wrote {HERE / 'tokenizer.json'} ({t.get_vocab_size()} tokens)")
