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

from training.hierarchy.grams import load_preset
from training.tasks import multiply, shortcut

EOS, PAD = "<|endoftext|>", "<|pad|>"
VOCAB_SIZE = 1024

_STEPS = [
    "{a} * {b} = {c}", "{a} + {b} = {c}", "{a} - {b} = {c}", "{a} x {b} is {c}",
    "split {a} into {b} and {c}", "round {a} up to {b}", "half of {a} is {b}",
    "so the answer is {c}.", "we get {c}.", "The total is {c}.",
]


# The SG sets whose phrases the generic sentences borrow: fixed, so that a preset added later
# (such as ``reasoning``) does not change the bundled tokenizer.
CORPUS_PRESETS = ("math-compact", "paper-appendix")


def corpus(n: int = 20000, seed: int = 0, task: str = "multiply") -> list[str]:
    """Seeded training text: ``n`` generic sentences and ``n`` solutions of ``task``'s base policy."""
    rng = random.Random(seed)
    phrases = [g.phrase for name in CORPUS_PRESETS for g in load_preset(name).grams]
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
    write, train = base_policy_writer(task), problems_of(task)
    for _ in range(n):
        problem = rng.choice(train)
        lines.append(problem.prompt + write(problem, rng).text)
    return lines


def problems_of(task: str) -> list:
    """The training problems of a bundled task regime."""
    return multiply.problems("train") if task == "multiply" else shortcut.problems("train")


def base_policy_writer(task: str):
    """``(problem, rng) -> Trace``: the base policy that writes a regime's pretraining traces."""
    if task == "multiply":
        return multiply.write_trace
    if task not in shortcut.REGIMES:
        raise ValueError(f"no bundled model for task {task!r}; pick one of multiply, {', '.join(shortcut.REGIMES)}")
    policy = shortcut.BasePolicy(hard_error=shortcut.REGIMES[task].hard_error)
    return lambda problem, rng: shortcut.write_trace(problem, rng, policy)


def build_tokenizer(out_dir: str | Path, task: str = "multiply") -> Tokenizer:
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
    tok.train_from_iterator(corpus(task=task), trainer=trainer)
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
    ap.add_argument("--task", default="multiply", help="the task regime whose traces the tokenizer is trained on")
    args = ap.parse_args()
    t = build_tokenizer(args.out, args.task)
    print(f"wrote tokenizer ({t.get_vocab_size()} tokens)")
