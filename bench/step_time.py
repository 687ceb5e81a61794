"""Step time: our loop vs TRL's GRPOTrainer at the same settings, side by side.

    pip install "trl==1.16.*"          # TRL is only needed for this benchmark
    python bench/step_time.py [--steps 20] [--warmup 2] [--threads 2] [--skip-trl] [--without-lean]
                              [--sequential] [--coin-rewards] [--trl-no-checkpointing] [--like-for-like]
    python bench/step_time.py --arch qwen2.5-0.5b --max-new 512 --steps 5 --like-for-like   # on a GPU

Settings (both systems): the bundled tiny model, LoRA r=16 (alpha 32, all
attention and MLP projections), 8 prompts x 8 responses, at most 80 new
tokens, temperature 1, one update per batch, lr 3e-4, the same reward. TRL
runs with its defaults otherwise: beta 0 (no reference model) and
activation checkpointing on (``--trl-no-checkpointing`` turns it off: our
loop has none). Our loop also computes the planning masks, entropies and
the semantic-entropy metrics every step and the KL to the base every 10th.
Reported: median seconds per step after ``--warmup`` steps, rollout
tokens per second, peak GPU memory (on a GPU: allocated, and reserved by
PyTorch's allocator, which also holds the CUDA graphs' memory pools), and
the share of our step spent on planning masks, entropies and HICRA's
credit; for ours also how the rollouts ran the model (lean decoder or
transformers, CUDA graphs or not and why, which attention) and the
sampler/policy disagreement. Our update runs in micro-batches of 2 groups
(16 rows), TRL's in one of 64 rows (its ``per_device_train_batch_size``):
``--like-for-like`` also times ours with the whole batch at once, the
same micro-batch as TRL's, and reports both (peak memory differs mostly by
micro-batch size). On a CPU the two
systems run in turn, one of our steps after each of TRL's (outside its
clock), so that both see the same machine: a shared machine's speed drifts
by 10-20% over a minute, which would otherwise swing the ratio.

GPU (``--arch qwen2.5-0.5b``): the Qwen2.5-0.5B architecture built from its
configuration with random weights (nothing is downloaded), bf16, 8 x 8
responses of ``--max-new 512`` tokens (random weights almost never emit
EOS, so every response is full length: the worst case). Its tokenizer is a
stand-in, the bundled one padded with placeholder tokens to Qwen's 151,936
ids; texts are gibberish, so rewards are coin flips (:func:`coin_reward`). ``--layers``
cuts the architecture down for a dry run on a CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
import zlib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from archs import ARCHS, LORA, random_model  # noqa: E402


def _peak_reset(device: str) -> None:
    if device == "cuda":
        import gc

        gc.collect()  # the previous system's model (and its CUDA graphs) out of memory first
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def _peak_gb(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")


def _peak_reserved_gb(device: str) -> float:
    return torch.cuda.max_memory_reserved() / 2**30 if device == "cuda" else float("nan")


def _peak_text(figures: dict) -> str:
    if figures["peak_gb"] != figures["peak_gb"]:
        return ""
    return f", peak GPU memory {figures['peak_gb']:.1f} GiB allocated, {figures['peak_reserved_gb']:.1f} GiB reserved"


def coin_reward(_problem, text: str) -> float:
    """A fair coin per response text (the same for both systems).

    A model with random weights answers nothing right; with the task's
    reward every group would have equal rewards, and our update skips the
    backward pass of such groups. Coin flips keep a learning signal in
    (almost) every group, so both systems do a full step: the worst case.
    """
    return float(zlib.crc32(text.encode()) & 1)


def _graphs_text(state: dict) -> str:
    if not state["on"]:
        return f"off ({state['off_because']})"
    return (f"{state['recordings']} recorded, {state['replayed_steps']} steps replayed, first replays "
            f"{'bit for bit' if not state['replay_max_abs_diff'] else 'off by %.3g' % state['replay_max_abs_diff']}")


class Ours:
    """Our loop, one step at a time (so that it can run between TRL's steps)."""

    def __init__(self, model: str = "tiny", max_new: int = 80, device: str = "cpu", lean: bool = True,
                 coin: bool = False, checkpointing: bool = False, micro_batch_groups: int | None = None):
        from training.config import RunConfig, preset
        from training.loop import Trainer

        self.device = device
        groups = RunConfig().micro_batch_groups if micro_batch_groups is None else micro_batch_groups
        self.trainer = Trainer(preset("tiny-cpu", algo="hicra", model=model, max_new_tokens=max_new, eval_every=0,
                                      device=device, lean_decoder=lean, activation_checkpointing=checkpointing,
                                      micro_batch_groups=groups))
        if coin:
            self.trainer.task = dataclasses.replace(self.trainer.task, reward=coin_reward)
        self.records: list[dict] = []

    def step(self) -> None:
        self.records.append(self.trainer.train_step())

    def figures(self, warmup: int) -> dict:
        trainer, records = self.trainer, self.records[warmup:]
        rows = trainer.cfg.prompts_per_step * trainer.cfg.group_size
        # What planning masks, entropies and the HICRA transform cost, measured apart.
        from training.hierarchy.metrics import high_entropy_mask
        from training.hierarchy.tokens import token_masks_from_ids
        from training import algos
        from training.engine import graphs, rollout

        ep = trainer.collect(999)
        t0 = time.perf_counter()
        for _ in range(5):
            token_masks_from_ids(trainer.tok, ep.response_ids.tolist(), trainer.matcher)
            high_entropy_mask(torch.rand(ep.response_ids.shape), ep.response_mask)
            adv = algos.broadcast_to_tokens(algos.group_advantages(ep.rewards, 8), ep.response_mask)
            algos.hicra_advantages(adv, ep.planning, 0.2)
        extra = (time.perf_counter() - t0) / 5
        groups = trainer.cfg.micro_batch_groups or trainer.cfg.prompts_per_step
        return {"micro_batch_rows": groups * trainer.cfg.group_size,
                "rollout_path": rollout.last_path, "cuda_graphs": graphs.report(),
                "sampler_logp_gap": statistics.mean(r.get("sampler/logp_gap", float("nan")) for r in records),
                "median_s": statistics.median(r["time/step_s"] for r in records),
                "rollout_median_s": statistics.median(r["time/rollout_s"] for r in records),
                "rollout_tokens_per_s": statistics.median(r["len/mean"] * rows / r["time/rollout_s"] for r in records),
                "mean_length": statistics.mean(r["len/mean"] for r in records),
                "flat_groups": statistics.mean(r["reward/flat_groups"] for r in records),
                "hierarchy_overhead_s": extra, "peak_gb": _peak_gb(self.device),
                "peak_reserved_gb": _peak_reserved_gb(self.device), "steps_s": [r["time/step_s"] for r in records]}


def ours(steps: int, warmup: int, model: str = "tiny", max_new: int = 80, device: str = "cpu",
         lean: bool = True, coin: bool = False, checkpointing: bool = False,
         micro_batch_groups: int | None = None) -> dict:
    """Our loop alone: ``warmup + steps`` steps; figures over the last ``steps``."""
    _peak_reset(device)
    runner = Ours(model, max_new, device, lean, coin, checkpointing, micro_batch_groups)
    for _ in range(warmup + steps):
        runner.step()
    return runner.figures(warmup)


def trl(steps: int, warmup: int, model_path: str = "", max_new: int = 80, device: str = "cpu",
        between=None, coin: bool = False, checkpointing: bool = True) -> dict:
    """TRL's GRPOTrainer for ``warmup + steps`` steps; figures over the last ``steps``.

    ``between``, if given, is called after each TRL step, outside its timing.
    """
    import datasets
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from training.engine.modeling import BUNDLED
    from training.tasks import get_task

    task = get_task("multiply")
    problems = task.problems("train")
    answers = {task.prompt(p): p for p in problems}
    data = datasets.Dataset.from_list([{"prompt": task.prompt(p)} for p in problems[:2000]])

    def reward(prompts, completions, **_):
        return [coin_reward(None, c) if coin else task.reward(answers[p], c) for p, c in zip(prompts, completions)]

    class Clock(TrainerCallback):
        def __init__(self):
            self.times, self.t0 = [], None

        def on_step_begin(self, args, state, control, **kw):
            self.t0 = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self.t0)
            if between is not None:
                between()

    clock = Clock()
    path = model_path or str(BUNDLED)
    cuda = device == "cuda"
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.bfloat16 if cuda else torch.float32)
    _peak_reset(device)
    cfg = GRPOConfig(output_dir=str(Path("/tmp") / "trl-bench"), per_device_train_batch_size=64, num_generations=8,
                     max_completion_length=max_new, temperature=1.0, learning_rate=3e-4, num_iterations=1,
                     max_steps=warmup + steps, logging_steps=1, report_to="none", use_cpu=not cuda, bf16=cuda,
                     save_strategy="no", disable_tqdm=True, seed=0, gradient_checkpointing=checkpointing)
    lora = LoraConfig(**LORA)
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=data, processing_class=tok,
                          peft_config=lora, callbacks=[clock])
    trainer.train()
    lengths = [h["completions/mean_length"] for h in trainer.state.log_history if "completions/mean_length" in h]
    mean_length = statistics.mean(lengths[warmup:]) if lengths else float("nan")
    flat = [h["frac_reward_zero_std"] for h in trainer.state.log_history if "frac_reward_zero_std" in h][warmup:]
    median = statistics.median(clock.times[warmup:])
    return {"median_s": median, "mean_length": mean_length, "peak_gb": _peak_gb(device),
            "peak_reserved_gb": _peak_reserved_gb(device), "micro_batch_rows": 64,
            "flat_groups": statistics.mean(flat) if flat else float("nan"),
            # TRL's step includes its generation; tokens over the whole step is a lower bound of its rate
            "tokens_per_step_s": mean_length * 64 / median, "steps_s": clock.times[warmup:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-trl", action="store_true")
    ap.add_argument("--sequential", action="store_true",
                    help="time the systems one after the other instead of step by step in turn (the default on "
                         "a GPU, where each system's peak memory must be measured alone)")
    ap.add_argument("--arch", choices=sorted(ARCHS), default=None,
                    help="time this architecture with random weights instead of the bundled model")
    ap.add_argument("--layers", type=int, default=None, help="cut --arch down to N layers (a CPU dry run)")
    ap.add_argument("--max-new", type=int, default=None, help="response length limit (80; 512 with --arch)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--without-lean", action="store_true",
                    help="also time our loop with the lean code off (transformers + peft to sample and to score)")
    ap.add_argument("--trl-no-checkpointing", action="store_true",
                    help="run TRL without activation checkpointing (its default is on; our loop has none)")
    ap.add_argument("--ours-checkpointing", action=argparse.BooleanOptionalAction, default=None,
                    help="our loop with activation checkpointing (default: on with --arch, as TRL's default; "
                         "off on the bundled model)")
    ap.add_argument("--like-for-like", action="store_true",
                    help="also time our loop with the whole batch (64 rows) in one micro-batch, as TRL runs it "
                         "(ours runs 16 rows at a time by default), and report both")
    ap.add_argument("--coin-rewards", action="store_true",
                    help="rewards by coin flip instead of the task's (always with --arch): almost no group has "
                         "equal rewards, so our loop runs every backward pass (the worst case for it)")
    args = ap.parse_args()
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be at least 1 and --warmup at least 0")
    torch.set_num_threads(args.threads)
    max_new = args.max_new or (512 if args.arch else 80)
    model = "tiny"
    if args.arch:
        import tempfile

        model = random_model(args.arch, args.layers, Path(tempfile.mkdtemp(prefix="bench-model-")))
    interleave = not (args.sequential or args.skip_trl or args.device == "cuda")
    coin = args.coin_rewards or bool(args.arch)  # random weights answer nothing right: see coin_reward
    ours_ckpt = bool(args.arch) if args.ours_checkpointing is None else args.ours_checkpointing
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{os.cpu_count()} cores, {args.threads} threads"
    print(f"machine: {platform.machine()}, {where}, torch {torch.__version__}; model {args.arch or 'bundled tiny'}"
          f"{f' ({args.layers} layers)' if args.layers else ''}; up to {max_new} new tokens; {args.steps} steps "
          f"after {args.warmup} warm-up steps, {'in turn' if interleave else 'one system after the other'}"
          f"{'; rewards: coin flips' if coin else ''}; activation checkpointing: TRL "
          f"{'off' if args.trl_no_checkpointing else 'on (its default)'}, ours {'on' if ours_ckpt else 'off'}")
    report: dict = {"settings": {"arch": args.arch or "bundled", "layers": args.layers, "max_new": max_new,
                                 "steps": args.steps, "warmup": args.warmup, "interleaved": interleave,
                                 "coin_rewards": coin, "trl_checkpointing": not args.trl_no_checkpointing,
                                 "ours_checkpointing": ours_ckpt, "device": where, "torch": torch.__version__}}
    if args.without_lean:
        plain = report["ours_without_lean"] = ours(args.steps, args.warmup, model, max_new, args.device,
                                                   lean=False, coin=coin, checkpointing=ours_ckpt)
        print(f"ours, lean code off (transformers + peft): median {plain['median_s']:.3f} s/step "
              f"(rollout {plain['rollout_median_s']:.3f} s)")
    trl_path = model if args.arch else ""

    def save() -> None:  # after each system, so that a failure later keeps what was measured
        if args.json:
            Path(args.json).write_text(json.dumps(report, indent=2) + "\n")

    theirs = None
    if interleave:  # one of our steps after each of TRL's: both see the same machine load
        runner = Ours(model, max_new, args.device, coin=coin, checkpointing=ours_ckpt)
        theirs = trl(args.steps, args.warmup, trl_path, max_new, args.device, between=runner.step, coin=coin,
                     checkpointing=not args.trl_no_checkpointing)
        mine = runner.figures(args.warmup)
    else:
        mine = ours(args.steps, args.warmup, model, max_new, args.device, coin=coin, checkpointing=ours_ckpt)
    report["ours"] = mine
    print(f"ours: median {mine['median_s']:.3f} s/step (rollout {mine['rollout_median_s']:.3f} s, "
          f"{mine['rollout_tokens_per_s']:,.0f} tokens/s), mean response {mine['mean_length']:.1f} tokens"
          f"{_peak_text(mine)}; {mine['flat_groups']:.0%} of groups with equal rewards (no backward pass); "
          "planning masks + entropy mask + HICRA "
          f"{mine['hierarchy_overhead_s'] * 1000:.1f} ms ({mine['hierarchy_overhead_s'] / mine['median_s']:.1%} "
          "of a step)")
    print(f"ours, rollouts: {mine['rollout_path']}; CUDA graphs: {_graphs_text(mine['cuda_graphs'])}; "
          f"sampler/policy log-prob gap {mine['sampler_logp_gap']:.2g}")
    save()
    if args.like_for_like:  # TRL's micro-batch: the whole batch at once
        whole = report["ours_whole_batch"] = ours(args.steps, args.warmup, model, max_new, args.device, coin=coin,
                                                  checkpointing=ours_ckpt, micro_batch_groups=0)
        print(f"ours, the whole batch in one micro-batch ({whole['micro_batch_rows']} rows, as TRL): median "
              f"{whole['median_s']:.3f} s/step (rollout {whole['rollout_median_s']:.3f} s){_peak_text(whole)}")
        save()
    if not interleave and not args.skip_trl:
        import gc

        gc.collect()
        try:
            theirs = trl(args.steps, args.warmup, trl_path, max_new, args.device, coin=coin,
                         checkpointing=not args.trl_no_checkpointing)
        except torch.cuda.OutOfMemoryError as err:  # a figure too: TRL does not fit this GPU
            report["trl"] = {"error": f"out of GPU memory: {err}"[:500]}
            print(f"TRL GRPOTrainer: out of GPU memory ({_peak_gb(args.device):.1f} GiB at its peak)")
            save()
    if theirs is not None:
        report["trl"] = theirs
        print(f"TRL GRPOTrainer{' (no activation checkpointing)' if args.trl_no_checkpointing else ''}: median "
              f"{theirs['median_s']:.3f} s/step, mean response {theirs['mean_length']:.1f} tokens "
              f"({theirs['tokens_per_step_s']:,.0f} tokens per second of step){_peak_text(theirs)}; "
              f"{theirs['flat_groups']:.0%} of groups with equal rewards")
        speedup = theirs["median_s"] / mine["median_s"]
        report["speedup"] = speedup
        line = f"ours / TRL: {mine['median_s'] / theirs['median_s']:.2f} ({speedup:.2f}x faster)"
        if "ours_whole_batch" in report:
            report["speedup_like_for_like"] = theirs["median_s"] / report["ours_whole_batch"]["median_s"]
            line += f"; like for like (64-row micro-batches): {report['speedup_like_for_like']:.2f}x"
        if interleave:  # each TRL step over the step of ours that followed it
            pairs = sorted(t / o for t, o in zip(theirs["steps_s"], mine["steps_s"]))
            report["pairs"] = {"lowest": pairs[0], "quartile_1": pairs[len(pairs) // 4],
                               "median": statistics.median(pairs), "quartile_3": pairs[3 * len(pairs) // 4],
                               "highest": pairs[-1]}
            line += (f"; step by step: median {report['pairs']['median']:.2f}x, middle half "
                     f"{report['pairs']['quartile_1']:.2f}-{report['pairs']['quartile_3']:.2f}x, "
                     f"range {pairs[0]:.2f}-{pairs[-1]:.2f}x")
        print(line)
        save()


if __name__ == "__main__":
    main()
