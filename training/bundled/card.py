"""Measure a bundled model and write its model card (``assets/<model>/README.md``) and ``scores.json``.

    python -m training.bundled.card [--model assets/tiny-model] [--task multiply] [--n 500]
    python -m training.bundled.card --model assets/tiny-planning --task multiply-planning
    python -m training.bundled.card --model assets/tiny-planning --forced-only   # only its forced-plan section
    python -m training.bundled.card --model assets/tiny-planning --from-scores   # text from its scores.json

Every figure in the card comes from this script's own run (seeded), so
rerunning it reproduces the card within sampling noise. The card states the
model's calibration: accuracy, where its failures come from (execution or
strategy, by the task's plan-fit rule), plan shares, the fitted-plan share,
the error rate of the hard step, verification and backtracking rates, and,
for the planning-bound regime, whether it meets that regime's targets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from training.evaluate import evaluate, standard_error
from training.engine.modeling import load_model
from training.tasks import REGIME_LABELS, get_task

ABOUT = {
    "multiply": (
        "the bundled two-digit multiplication task (`training/tasks/multiply.py`) the way its *base policy* "
        "writes solutions: a plan (split or round a factor, swap, halve) steered by planning phrases, then "
        "arithmetic steps. Execution-bound: its products by 7, 8 and 9 drop the carry half the time, and its "
        "plan choice ignores the digits."),
    "multiply-planning": (
        "the carry-safe regime (`training/tasks/shortcut.py`; first called planning-bound): a same-tens shortcut "
        "used out of habit on any problem, though it only fits problems whose factors share their tens digit; "
        "general plans (split, round, either after a swap) that always fit but are chosen rarely; a rare final "
        "check. Its base policy never drops a carry, but the model runs the general plans far less reliably "
        "than the shortcut (see the forced-plan accuracies below), so it is not planning-bound."),
    "multiply-intermediate": (
        "the 15%-carry-error regime (`training/tasks/shortcut.py`): the carry-safe regime's plans and "
        "habits, with products by 7, 8 and 9 dropping their carry 15% of the time."),
    "multiply-execution": (
        "the 50%-carry-error regime (`training/tasks/shortcut.py`): the carry-safe regime's plans and "
        "habits, with products by 7, 8 and 9 dropping their carry half the time."),
}
FORCED = Path(__file__).resolve().parents[2] / "assets" / "forced-plans.json"  # python -m training.bundled.forced
FORCED_START, FORCED_END = "<!-- forced-plans:start -->", "<!-- forced-plans:end -->"
# The planning-bound regime's calibration targets (README, "Task regimes")
TARGETS = {"max_execution_share": 0.05, "min_strategy_share_of_failures": 0.70, "accuracy": (0.25, 0.60)}


def measure(model: str, task_name: str, n: int, seed: int = 0) -> dict:
    lm = load_model(model, device="cpu")
    task = get_task(task_name)
    length = 224 if task_name != "multiply" else 160
    sampled, _ = evaluate(lm, task, n=n, samples=4, temperature=0.6, seed=seed, max_new_tokens=length)
    greedy, _ = evaluate(lm, task, n=n, samples=1, temperature=0.0, seed=seed, max_new_tokens=length)
    train_t1, _ = evaluate(lm, task, n=n, samples=4, temperature=1.0, seed=seed, split="train",
                           max_new_tokens=length)
    return {"task": task_name, "t06": sampled, "greedy": greedy, "train_t1": train_t1}


def calibration(figures: dict) -> dict:
    """The shares a regime is designed by, from one evaluation's figures."""
    e = figures["errors"]
    samples = figures["n"] * figures["samples"]
    failures = e.get("execution", 0) + e.get("strategy", 0)
    return {"execution_share": e.get("execution", 0) / samples,
            "strategy_share_of_failures": e.get("strategy", 0) / failures if failures else float("nan"),
            **figures.get("plan_figures", {})}


def _row(label: str, f: dict, k: bool = True) -> str:
    c = calibration(f)
    se = standard_error(f["accuracy"], f["n"] * f["samples"])
    hard = c.get("exec/hard_error")
    return (f"| {label} | {f['accuracy']:.3f} +- {se:.3f} | {f['pass_at_k']:.3f} | " if k else
            f"| {label} | {f['accuracy']:.3f} | - | ") + \
        (f"{c['execution_share']:.1%} | {c['strategy_share_of_failures']:.1%} | {c.get('plan/fitted', 0):.1%} | "
         f"{'-' if hard is None or hard != hard else f'{hard:.1%}'} | {c.get('plan/verify', 0):.1%} | "
         f"{c.get('plan/backtrack', 0):.1%} | {f['mean_length']:.1f} |")


def _plans(f: dict) -> str:
    c = f.get("plan_figures", {})
    shares = sorted(((k[len("plan/"):], v) for k, v in c.items() if k.startswith("plan/")
                     and k[len("plan/"):] not in ("fitted", "verify", "backtrack") and v > 0), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:.1%}" for k, v in shares)


def target_lines(m: dict) -> list[str]:
    """Whether the planning-bound model meets its regime's targets, as measured (T=0.6)."""
    c = calibration(m["t06"])
    acc = m["t06"]["accuracy"]
    lo, hi = TARGETS["accuracy"]
    checks = [
        (f"held-out execution errors at most {TARGETS['max_execution_share']:.0%} of samples",
         c["execution_share"] <= TARGETS["max_execution_share"], f"{c['execution_share']:.1%}"),
        (f"at least {TARGETS['min_strategy_share_of_failures']:.0%} of failures are strategy failures",
         c["strategy_share_of_failures"] >= TARGETS["min_strategy_share_of_failures"],
         f"{c['strategy_share_of_failures']:.1%}"),
        (f"base accuracy between {lo:.0%} and {hi:.0%}", lo <= acc <= hi, f"{acc:.1%}"),
    ]
    return ["Targets set for this regime when it was called planning-bound (T=0.6, avg@4):", ""] + \
        [f"- {what}: {value}, {'met' if ok else 'NOT met'}" for what, ok, value in checks]


def forced_lines(task: str) -> list[str]:
    """The card's forced-plan section, from ``assets/forced-plans.json`` (empty when it has no entry for
    ``task``): each plan's accuracy when forced, the best-plan ceiling and the planning gap."""
    entries = json.loads(FORCED.read_text()) if FORCED.exists() else []
    r = next((e for e in entries if e["regime"] == task), None)
    if r is None:
        return []
    lines = [FORCED_START, "## Forced-plan accuracy", "",
             f"Each plan forced by its opening phrase, the model writing the rest (T=0.6, {r['n']} held-out problems "
             f"x {r['samples']} samples; `python -m training.bundled.forced`, all models: "
             "[forced-plans.md](../forced-plans.md)).", "",
             "| forced plan | where it fits | same tens | other problems |", "|---|---|---|---|"]
    lines += [f"| {plan} | {p['accuracy_where_fits']:.3f} | {p['accuracy_same_tens']:.3f} | {p['accuracy_other']:.3f} |"
              for plan, p in r["plans"].items()]
    best = ", ".join(f"{k}: {v}" for k, v in r["best_by_class"].items())
    lines += ["", f"Best-plan ceiling {r['ceiling_class']:.3f} (best plan per class: {best}); the model's own "
              f"choice {r['own_accuracy']:.3f}: a planning gap of {r['gap_own']:+.3f}."]
    if r.get("study2_grpo_final") is not None:
        lines.append(f"For reference, Study 2's GRPO arm ends at {r['study2_grpo_final']:.3f} held-out accuracy "
                     f"({r['gap_after_rl']:+.3f} from this ceiling; not a bound on the trained policy, whose "
                     "execution RL changes too).")
    return lines + [FORCED_END, ""]


def update_forced(card: Path, task: str) -> Path:
    """Rewrite only the card's forced-plan section (between its markers, or before its "Reproduce" line):
    cheap and deterministic, no model run."""
    body = card.read_text()
    section = "\n".join(forced_lines(task))
    if FORCED_START in body and FORCED_END in body:
        head, rest = body.split(FORCED_START, 1)
        body = head + section.rstrip() + rest.split(FORCED_END, 1)[1]
    elif section:
        anchor = "Reproduce the first row"
        head, sep, tail = body.partition(anchor)
        body = head + section + "\n" + sep + tail if sep else body.rstrip() + "\n\n" + section
    card.write_text(body)
    return card


def write_card(out: str | Path, cfg=None, n: int = 500, task: str | None = None, from_scores: bool = False) -> Path:
    """Measure the model (or, with ``from_scores``, reuse its ``scores.json``: no model run, the same numbers)
    and write its card."""
    out = Path(out)
    log = json.loads((out / "pretrain_log.json").read_text()) if (out / "pretrain_log.json").exists() else {}
    pc = log.get("config", {})
    task = task or pc.get("task", "multiply")
    if from_scores:
        m = json.loads((out / "scores.json").read_text())
    else:
        m = measure(str(out), task, n)
        (out / "scores.json").write_text(json.dumps(m, indent=2) + "\n")
    size_mb = sum(f.stat().st_size for f in out.iterdir() if f.is_file()) / 1e6
    s, g, t1 = m["t06"], m["greedy"], m["train_t1"]
    init = f" --init {pc['init']}" if pc.get("init") else ""
    how = (f"python -m training.bundled.pretrain --task {task} --out {out.as_posix()}"
           + (f" --steps {pc['steps']} --warmup {pc['warmup']} --lr {pc['lr']}" if pc.get("init") else "") + init)
    lines = [
        f"# HICRA Lab tiny model: {REGIME_LABELS.get(task, task)} regime (`{task}`)",
        "",
        "A small Qwen2-architecture causal LM trained on a CPU to solve " + ABOUT.get(task, f"the task {task}.")
        + " It exists so the lab runs offline and a GRPO or HICRA run on a laptop CPU has something to learn "
          "(README: \"Task regimes\").",
        "",
        "## How it was made",
        "",
        "```bash",
        how + "   # tokenizer, training (then: python -m training.bundled.card, this card)",
        "```",
        "",
        f"- parameters: {log.get('parameters', 0):,}",
        f"- architecture: Qwen2, hidden {pc.get('hidden_size')}, {pc.get('layers')} layers, {pc.get('heads')} heads, "
        f"MLP {pc.get('intermediate_size')}, tied embeddings, byte-level BPE tokenizer (digits split one per token)",
        (f"- start: the weights and tokenizer of `{pc['init']}`, fine-tuned on this regime's traces" if pc.get("init")
         else "- start: random weights"),
        f"- data: {pc.get('steps', 0) * pc.get('batch_size', 0):,} traces ({pc.get('steps')} steps x "
        f"{pc.get('batch_size')}) written by the regime's base policy for training-split problems; seed "
        f"{pc.get('seed')}",
        f"- optimizer: AdamW, peak lr {pc.get('lr')}, {pc.get('warmup')} warm-up steps, cosine to 10%",
        f"- training time: {log.get('train_minutes')} minutes on 2 CPU cores (shared with other work)",
        f"- size on disk: {size_mb:.1f} MB (safetensors, float32)",
        "",
        "## Calibration (held-out split unless said; `python -m training.bundled.card` reproduces it)",
        "",
        "Failures are split by the task's plan-fit rule (a failure after a first plan that does not fit the "
        "problem is a strategy error, whatever happened next). The hard step: products by 7, 8 or 9.",
        "",
        "| setting | accuracy | pass@k | execution errors (of samples) | strategy (of failures) | "
        "fitted first plan | hard-step errors | verifies | backtracks | mean length (tokens) |",
        "|---|---|---|---|---|---|---|---|---|---|",
        _row(f"T=0.6, 4 samples x {s['n']} problems (avg@4)", s),
        _row(f"greedy, {g['n']} problems", g, k=False),
        _row(f"T=1.0 (rollouts), 4 samples x {t1['n']} training problems", t1),
        "",
        f"First plan at T=0.6: {_plans(s)}.",
        f"At T=1.0: {_plans(t1)}.",
        f"Planning-token ratio {s['planning_ratio']:.3f}; semantic entropy of the planning phrases "
        f"{s['semantic_entropy_bits']:.2f} bits (T=0.6).",
        "",
        *(target_lines(m) + [""] if task == "multiply-planning" else []),
        *forced_lines(task),
        "Reproduce the first row (seed 0):",
        "",
        "```bash",
        f"python -m training eval --task {task} --n {s['n']} --samples 4 --temperature 0.6 --seed 0 "
        f"--max-new-tokens {224 if task != 'multiply' else 160} --json",
        "```",
        "",
        "Limits: it only knows this task's format (`Q: a * b = ?` then `A:`); any other text is out of "
        "distribution. Its errors are designed (see the task's docstring), not a flaw to fix.",
    ]
    path = out / "README.md"
    path.write_text("\n".join(lines) + "\n")
    print(f"wrote {path}")
    return path


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="Measure a bundled model and write its card.")
    ap.add_argument("--model", default="assets/tiny-model")
    ap.add_argument("--task", default=None, help="its task regime (default: from its pretrain_log.json)")
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--forced-only", action="store_true", help="only rewrite the card's forced-plan section from "
                                                               "assets/forced-plans.json (no model run)")
    ap.add_argument("--from-scores", action="store_true", help="rewrite the card from its scores.json (no model "
                                                               "run): the text changes, the numbers do not")
    args = ap.parse_args()
    if args.from_scores:
        write_card(args.model, task=args.task, from_scores=True)
    elif args.forced_only:
        log = Path(args.model) / "pretrain_log.json"
        task = args.task or (json.loads(log.read_text()).get("config", {}).get("task") if log.exists() else None)
        print(f"wrote {update_forced(Path(args.model) / 'README.md', task or 'multiply')}")
    else:
        write_card(args.model, n=args.n, task=args.task)
