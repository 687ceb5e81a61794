"""Measure the bundled model and write its model card (``assets/tiny-model/README.md``).

    python -m training.bundled.card [--model assets/tiny-model] [--n 500]

Every figure in the card comes from this script's own run (seeded), so
rerunning it reproduces the card within sampling noise.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from training.evaluate import evaluate, standard_error
from training.engine.modeling import load_model
from training.tasks import get_task, multiply


def behaviour(texts: list[list[str]]) -> dict:
    """Shares of responses by first plan, and of those that verify or backtrack."""
    flat = [t for ts in texts for t in ts]
    plans = Counter(multiply.plan_of(t) or "none" for t in flat)
    n = len(flat)
    return {
        "plans": {k: round(v / n, 4) for k, v in plans.most_common()},
        "verify_rate": round(sum("verify" in multiply.moves_of(t) for t in flat) / n, 4),
        "backtrack_rate": round(sum("backtrack" in multiply.moves_of(t) for t in flat) / n, 4),
    }


def measure(model: str, n: int, seed: int = 0) -> dict:
    lm = load_model(model, device="cpu")
    task = get_task("multiply")
    sampled, texts = evaluate(lm, task, n=n, samples=4, temperature=0.6, seed=seed)
    greedy, _ = evaluate(lm, task, n=n, samples=1, temperature=0.0, seed=seed)
    train_t1, train_texts = evaluate(lm, task, n=n, samples=4, temperature=1.0, seed=seed, split="train")
    return {"t06": sampled, "t06_behaviour": behaviour(texts), "greedy": greedy, "train_t1": train_t1,
            "train_t1_behaviour": behaviour(train_texts)}


def write_card(out: str | Path, cfg=None, n: int = 500) -> Path:
    out = Path(out)
    m = measure(str(out), n)
    (out / "scores.json").write_text(json.dumps(m, indent=2) + "\n")
    log = json.loads((out / "pretrain_log.json").read_text()) if (out / "pretrain_log.json").exists() else {}
    s, g, t1 = m["t06"], m["greedy"], m["train_t1"]
    fails = s["errors"]["execution"] + s["errors"]["strategy"]
    se = standard_error(s["accuracy"], s["n"] * s["samples"])
    size_mb = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 1e6
    pc = log.get("config", {})
    lines = [
        "# HICRA Lab tiny model",
        "",
        "A small Qwen2-architecture causal LM trained from scratch, on a CPU, to solve the",
        "bundled two-digit multiplication task (`training/tasks/multiply.py`) the way its",
        "*base policy* writes solutions: a plan (split or round a factor, swap, halve) steered by",
        "planning phrases, then arithmetic steps. It exists so the lab runs offline and a GRPO or",
        "HICRA run on a laptop CPU has something to learn at both levels (see the task's docstring).",
        "",
        "## How it was made",
        "",
        "```bash",
        "python -m training.bundled.pretrain --out assets/tiny-model   # tokenizer, training, this card",
        "```",
        "",
        f"- parameters: {log.get('parameters', 'n/a'):,}" if log else "- parameters: n/a",
        f"- architecture: Qwen2, hidden {pc.get('hidden_size')}, {pc.get('layers')} layers, "
        f"{pc.get('heads')} heads, MLP {pc.get('intermediate_size')}, tied embeddings, "
        f"byte-level BPE tokenizer (digits split one per token)",
        f"- data: {pc.get('steps', 0) * pc.get('batch_size', 0):,} traces ({pc.get('steps')} steps x "
        f"{pc.get('batch_size')}) written by the base policy for training-split problems; "
        f"seed {pc.get('seed')}",
        f"- optimizer: AdamW, peak lr {pc.get('lr')}, {pc.get('warmup')} warm-up steps, cosine to 10%",
        f"- training time: {log.get('train_minutes')} minutes on 2 CPU cores",
        f"- size on disk: {size_mb:.1f} MB (safetensors, float32)",
        "",
        "## Measured scores (held-out split; `python -m training.bundled.card` reproduces them)",
        "",
        "| setting | accuracy | pass@k | execution errors | strategy errors | mean length (tokens) |",
        "|---|---|---|---|---|---|",
        f"| T=0.6, 4 samples x {s['n']} problems (avg@4) | {s['accuracy']:.3f} +- {se:.3f} | "
        f"{s['pass_at_k']:.3f} | {s['errors']['execution']} | {s['errors']['strategy']} | {s['mean_length']:.1f} |",
        f"| greedy, {g['n']} problems | {g['accuracy']:.3f} | - | {g['errors']['execution']} | "
        f"{g['errors']['strategy']} | {g['mean_length']:.1f} |",
        f"| T=1.0, 4 samples x {t1['n']} training problems | {t1['accuracy']:.3f} | {t1['pass_at_k']:.3f} | "
        f"{t1['errors']['execution']} | {t1['errors']['strategy']} | {t1['mean_length']:.1f} |",
        "",
        f"At T=0.6, {s['errors']['execution'] / max(fails, 1):.0%} of failures are execution errors and "
        f"{s['errors']['strategy'] / max(fails, 1):.0%} strategy errors. Planning-token ratio "
        f"{s['planning_ratio']:.3f}; semantic entropy of the planning phrases {s['semantic_entropy_bits']:.2f} bits.",
        "",
        "Behaviour at T=0.6 (share of responses): first plan "
        + ", ".join(f"{k} {v:.1%}" for k, v in m["t06_behaviour"]["plans"].items())
        + f"; verifies a product {m['t06_behaviour']['verify_rate']:.1%}; "
        f"backtracks {m['t06_behaviour']['backtrack_rate']:.1%}.",
        "At T=1.0 (the training temperature): first plan "
        + ", ".join(f"{k} {v:.1%}" for k, v in m["train_t1_behaviour"]["plans"].items())
        + f"; verifies {m['train_t1_behaviour']['verify_rate']:.1%}; "
        f"backtracks {m['train_t1_behaviour']['backtrack_rate']:.1%}.",
        "",
        "Reproduce the first row (seed 0):",
        "",
        "```bash",
        f"python -m training eval --model assets/tiny-model --task multiply --n {s['n']} --samples 4 "
        "--temperature 0.6 --seed 0 --json",
        "```",
        "",
        "Limits: it only knows this task's format (`Q: a * b = ?` then `A:`); any other text",
        "is out of distribution. Its errors are designed (see the task docstring), not a flaw to fix.",
    ]
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Measure the bundled model and write its card.")
    ap.add_argument("--model", default="assets/tiny-model")
    ap.add_argument("--n", type=int, default=500)
    args = ap.parse_args()
    write_card(args.model, n=args.n)
