"""Step time: our loop vs TRL's GRPOTrainer at the same settings, side by side.

    pip install "trl==1.16.*"          # TRL is only needed for this benchmark
    python bench/step_time.py [--steps 10] [--warmup 2] [--threads 2] [--skip-trl]

Settings (both systems): the bundled tiny model, LoRA r=16 (alpha 32, all
attention and MLP projections), 8 prompts x 8 responses, at most 80 new
tokens, temperature 1, one update per batch, lr 3e-4, the same reward. TRL
runs with its defaults otherwise (beta 0: no reference model); our loop
also computes the KL to the base, the planning masks, entropies and the
semantic-entropy metrics every step, so the comparison is conservative.
Reported: median seconds per step after ``--warmup`` steps, and the share
of our step spent on planning masks, entropies and HICRA's credit.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

MAX_NEW = 80


def ours(steps: int, warmup: int) -> dict:
    from training.config import preset
    from training.loop import Trainer

    trainer = Trainer(preset("tiny-cpu", algo="hicra", max_new_tokens=MAX_NEW, eval_every=0))
    times, rollout, tokens = [], [], []
    for i in range(warmup + steps):
        record = trainer.train_step()
        if i >= warmup:
            times.append(record["time/step_s"])
            rollout.append(record["time/rollout_s"])
            tokens.append(record["len/mean"])
    # What planning masks, entropies and the HICRA transform cost, measured apart.
    ep = trainer.collect(999)
    t0 = time.perf_counter()
    from lab.metrics import high_entropy_mask
    from lab.tokens import token_masks_from_ids
    from training import algos

    for _ in range(5):
        token_masks_from_ids(trainer.tok, ep.response_ids.tolist(), trainer.matcher)
        ent = torch.rand(ep.response_ids.shape)
        high_entropy_mask(ent, ep.response_mask)
        adv = algos.broadcast_to_tokens(algos.group_advantages(ep.rewards, 8), ep.response_mask)
        algos.hicra_advantages(adv, ep.planning, 0.2)
    extra = (time.perf_counter() - t0) / 5
    return {"median_s": statistics.median(times), "rollout_median_s": statistics.median(rollout),
            "mean_length": statistics.mean(tokens), "hierarchy_overhead_s": extra}


def trl(steps: int, warmup: int) -> dict:
    import datasets
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from training.modeling import BUNDLED
    from training.tasks import get_task

    task = get_task("multiply")
    problems = task.problems("train")
    answers = {task.prompt(p): p for p in problems}
    data = datasets.Dataset.from_list([{"prompt": task.prompt(p)} for p in problems[:2000]])

    def reward(prompts, completions, **_):
        return [task.reward(answers[p], c) for p, c in zip(prompts, completions)]

    class Clock(TrainerCallback):
        def __init__(self):
            self.times, self.t0 = [], None

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)

    clock = Clock()
    tok = AutoTokenizer.from_pretrained(BUNDLED)
    model = AutoModelForCausalLM.from_pretrained(BUNDLED)
    cfg = GRPOConfig(output_dir=str(Path("/tmp") / "trl-bench"), per_device_train_batch_size=64, num_generations=8,
                     max_completion_length=MAX_NEW, temperature=1.0, learning_rate=3e-4, num_iterations=1,
                     max_steps=warmup + steps, logging_steps=1, report_to="none", use_cpu=True, bf16=False,
                     save_strategy="no", disable_tqdm=True, seed=0)
    lora = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                      target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=data, processing_class=tok,
                          peft_config=lora, callbacks=[clock])
    trainer.train()
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    return {"median_s": statistics.median(clock.times[warmup:]),
            "mean_length": statistics.mean(lengths[warmup:]) if lengths else float("nan")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-trl", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"{args.threads} threads; {args.steps} steps after {args.warmup} warm-up steps")
    mine = ours(args.steps, args.warmup)
    print(f"ours: median {mine['median_s']:.3f} s/step (rollout {mine['rollout_median_s']:.3f} s), "
          f"mean response {mine['mean_length']:.1f} tokens; planning masks + entropy mask + HICRA "
          f"{mine['hierarchy_overhead_s'] * 1000:.1f} ms ({mine['hierarchy_overhead_s'] / mine['median_s']:.1%} "
          "of a step)")
    if not args.skip_trl:
        theirs = trl(args.steps, args.warmup)
        print(f"TRL GRPOTrainer: median {theirs['median_s']:.3f} s/step, mean response "
              f"{theirs['mean_length']:.1f} tokens")
        print(f"ours / TRL: {mine['median_s'] / theirs['median_s']:.2f} "
              f"({theirs['median_s'] / mine['median_s']:.2f}x faster)")


if __name__ == "__main__":
    main()
