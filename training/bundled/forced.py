"""Forced-plan accuracy of the bundled regime models: what each plan scores when the model is made to use it.

    python -m training.bundled.forced                 # the three regime models; writes assets/forced-plans.{json,md}
    python -m training.bundled.forced --n 400 --samples 2

For each model and each plan of the regime task (:data:`training.tasks.shortcut.STRATEGIES`)
the response is forced to open with that plan's phrase (and, after a swap,
the swapped factors), exactly as the base policy writes it, and the model
writes the rest (T=0.6, seed 0). Per plan: accuracy on the problems where it
fits and on all of them. Then:

* the **best-plan ceiling**: each problem scored by its best plan, best
  chosen per problem class (same tens digit or not; the plans' accuracies on
  that class), and per problem (chosen on half of the samples, scored on the
  other half, so the noise of the choice does not inflate it);
* the model's **own accuracy** (free choice, same problems and settings) and,
  from Study 2's committed records, its GRPO arm's final accuracy (the first
  ``n`` held-out problems are Study 2's evaluation set);
* the **planning gap**: the ceiling minus the model's own accuracy (and,
  for reference only, minus the RL arm's: RL changes execution too, so the
  base model's ceiling does not bound the trained policy).

The problems are the first ``n`` held-out problems (400: Study 2's). Seeded
and CPU-only, so a rerun reproduces the numbers; about a minute per model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from training.engine.modeling import load_model
from training.engine.rollout import sample
from training.evaluate import strip_eos
from training.runs import read_jsonl
from training.tasks import get_task
from training.tasks.multiply import Problem, reward
from training.tasks.shortcut import PHRASES, STRATEGIES, fits, same_tens

ROOT = Path(__file__).resolve().parents[2]
MODELS = {"multiply-planning": "assets/tiny-planning", "multiply-intermediate": "assets/tiny-intermediate",
          "multiply-execution": "assets/tiny-execution"}
MAX_NEW_TOKENS = 224  # the regime presets' response length


def forced_prefix(problem: Problem, plan: str) -> str:
    """The opening the base policy writes for ``plan`` (first paraphrase), up to where the model takes over.

    >>> forced_prefix(Problem(47, 28), "swap_round")
    " Let's swap the two numbers: 28 * 47. Let's round the second number up"
    """
    if plan.startswith("swap"):
        inner = plan[len("swap_"):]
        return f" {PHRASES['swap'][1][0]}: {problem.b} * {problem.a}. {PHRASES[inner][1][0]}"
    return " " + PHRASES[plan][1][0]


def generate(lm, texts: list[str], samples: int, seed: int) -> list[list[str]]:
    """``samples`` continuations (T=0.6) of each prompt text: [prompt][sample] -> text."""
    gen = torch.Generator(device=lm.device).manual_seed(seed)
    prompts = [lm.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts for _ in range(samples)]
    out: list[str] = []
    for start in range(0, len(prompts), 256):
        roll = sample(lm.model, prompts[start:start + 256], max_new_tokens=MAX_NEW_TOKENS, temperature=0.6,
                      eos_id=lm.eos_id, pad_id=lm.pad_id, generator=gen)
        out += [lm.tokenizer.decode(strip_eos(r, lm.eos_id), skip_special_tokens=True) for r in roll.responses()]
    return [out[i * samples:(i + 1) * samples] for i in range(len(texts))]


def study2_grpo_final(regime: str) -> float | None:
    """Mean final held-out accuracy of Study 2's GRPO arm in ``regime``, from the committed records."""
    values = []
    for folder in sorted((ROOT / "docs" / "study" / "runs" / regime).glob("grpo-s*")):
        evals = [r for r in read_jsonl(folder / "metrics.jsonl") if r.get("kind") == "eval"]
        if evals:
            values.append(evals[-1]["eval/accuracy"])
    return float(np.mean(values)) if values else None


def ceilings(correct: dict[str, np.ndarray], problems: list[Problem]) -> dict[str, float]:
    """The best-plan ceilings from ``correct[plan]`` [problem, sample] (0/1).

    ``class``: per class (same tens or not), the plan with the best mean on that class; ``problem``: per
    problem, the plan best on the even samples, scored on the odd ones, and the other way round, averaged.
    """
    same = np.array([same_tens(p.a, p.b) for p in problems])
    total = 0.0
    best_of = {}
    for mask, name in ((same, "same tens"), (~same, "other")):
        if mask.any():
            means = {s: float(c[mask].mean()) for s, c in correct.items()}
            best = max(means, key=means.get)
            best_of[name] = best
            total += means[best] * mask.sum()
    stack = np.stack([correct[s] for s in STRATEGIES])  # (plans, problems, samples)
    even, odd = stack[:, :, 0::2].mean(-1), stack[:, :, 1::2].mean(-1)  # (plans, problems)
    cols = np.arange(stack.shape[1])
    cross = (odd[even.argmax(0), cols].mean() + even[odd.argmax(0), cols].mean()) / 2
    return {"class": total / len(problems), "problem": float(cross), "best_by_class": best_of}


def measure(regime: str, model: str, n: int, samples: int, seed: int = 0) -> dict:
    lm = load_model(str(ROOT / model), device="cpu")
    task = get_task(regime)
    problems = task.problems("eval", n=n, seed=0)
    started = time.time()
    free = generate(lm, [p.prompt for p in problems], samples, seed)
    own = np.array([[reward(p, t) for t in ts] for p, ts in zip(problems, free)])
    correct, plans = {}, {}
    same = np.array([same_tens(p.a, p.b) for p in problems])
    for plan in STRATEGIES:
        prefixes = [forced_prefix(p, plan) for p in problems]
        texts = generate(lm, [p.prompt + x for p, x in zip(problems, prefixes)], samples, seed)
        c = np.array([[reward(p, x + t) for t in ts] for p, x, ts in zip(problems, prefixes, texts)])
        fit = np.array([fits(p, plan) for p in problems])
        correct[plan] = c
        plans[plan] = {"accuracy": float(c.mean()), "accuracy_where_fits": float(c[fit].mean()),
                       "accuracy_same_tens": float(c[same].mean()), "accuracy_other": float(c[~same].mean()),
                       "fits_share": float(fit.mean())}
    ceil = ceilings(correct, problems)
    rl = study2_grpo_final(regime)
    return {"regime": regime, "model": model, "n": len(problems), "samples": samples, "temperature": 0.6,
            "seed": seed, "same_tens_share": float(same.mean()), "plans": plans,
            "own_accuracy": float(own.mean()), "ceiling_class": ceil["class"], "ceiling_problem": ceil["problem"],
            "best_by_class": ceil["best_by_class"], "gap_own": ceil["class"] - float(own.mean()),
            "study2_grpo_final": rl, "gap_after_rl": None if rl is None else ceil["class"] - rl,
            "seconds": round(time.time() - started, 1)}


def render(results: list[dict]) -> str:
    lines = ["# Forced-plan accuracy of the bundled regime models", "",
             "Generated by `python -m training.bundled.forced` (seeded; CPU). Each plan is forced by writing its "
             "opening phrase (and, after a swap, the swapped factors) as the base policy does; the model writes the "
             "rest at T=0.6. Accuracies are shares of samples. The shortcut fits only problems whose factors share "
             "their tens digit; the general plans fit every problem.", ""]
    for r in results:
        lines += [f"## `{r['regime']}` (`{r['model']}`): {r['n']} held-out problems x {r['samples']} samples", "",
                  "| forced plan | where it fits | same tens | other problems | all problems |",
                  "|---|---|---|---|---|"]
        for plan, p in r["plans"].items():
            lines.append(f"| {plan} | {p['accuracy_where_fits']:.3f} | {p['accuracy_same_tens']:.3f} | "
                         f"{p['accuracy_other']:.3f} | {p['accuracy']:.3f} |")
        best = ", ".join(f"{k}: {v}" for k, v in r["best_by_class"].items())
        rl = r["study2_grpo_final"]
        lines += ["", f"- Best-plan ceiling: {r['ceiling_class']:.3f} (best plan per class: {best}); per problem, "
                      f"chosen on half the samples and scored on the other half: {r['ceiling_problem']:.3f}.",
                  f"- The model's own choice (same problems and settings): {r['own_accuracy']:.3f}; planning gap "
                  f"{r['gap_own']:+.3f}."]
        if rl is not None:
            lines.append(f"- Study 2's GRPO arm after RL (final held-out accuracy, its committed records): "
                         f"{rl:.3f}, {r['gap_after_rl']:+.3f} from this ceiling. Not a bound on the trained policy: "
                         "RL changes execution as well as the choice, and the ceiling is the base model's.")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m training.bundled.forced", description=__doc__.split("\n\n")[0])
    ap.add_argument("--regimes", default=",".join(MODELS), help="regimes to measure (comma-separated)")
    ap.add_argument("--n", type=int, default=400, help="held-out problems (the first n; 400 = Study 2's set)")
    ap.add_argument("--samples", type=int, default=2, help="samples per problem and plan (even: half choose, "
                                                           "half score)")
    ap.add_argument("--out", default="assets/forced-plans", help="writes OUT.json and OUT.md")
    ap.add_argument("--render-only", action="store_true", help="only rewrite OUT.md from OUT.json (no model run)")
    args = ap.parse_args(argv)
    out = ROOT / args.out
    if args.render_only:
        out.with_suffix(".md").write_text(render(json.loads(out.with_suffix(".json").read_text())))
        return 0
    regimes = [r.strip() for r in args.regimes.split(",") if r.strip()]
    bad = [r for r in regimes if r not in MODELS]
    if bad or args.n < 1 or args.samples < 2 or args.samples % 2:
        print(f"error: regimes from {', '.join(MODELS)}; --n at least 1; --samples even, at least 2")
        return 2
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = [measure(r, MODELS[r], args.n, args.samples) for r in regimes]
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(results))
    print(render(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
