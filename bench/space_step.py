"""A ZeroGPU preset's costs: step time, peak GPU memory, a held-out evaluation, a chunk's fixed cost, and k.

    bash bench/space_check.sh --json space-step.json                   # on a GPU (under 8 minutes, offline)
    python bench/space_step.py --device cpu --layers 1 --max-new 8 --steps 1 --eval-n 2   # a CPU dry run

What a chunk of a ZeroGPU run (docs/zerogpu.md, training/chunks.py) spends,
measured with the preset's own settings (``--preset``, default
``space-qwen0.5b``: 4 prompts x 8 responses of 256 tokens, micro-batches of
2 groups, activation checkpointing, bf16 on a GPU):

1. loading the model and adding the adapter (a chunk does this first);
2. ``--warmup`` + ``--steps`` training steps: the median step after the
   warm-up, and the peak GPU memory (allocated and reserved);
3. one held-out evaluation of the preset's size (``eval_n`` x
   ``eval_samples``, ``--eval-n`` cuts it for a dry run);
4. writing a checkpoint;

then the planner's k (:func:`training.chunks.steps_per_chunk`) for calls
of ``--durations`` seconds, as the app would plan them from these figures.

The model is the preset's architecture (``--arch``, default
``qwen2.5-0.5b``) built from its published configuration with random
weights (bench/archs.py: nothing is downloaded); random weights almost never
emit EOS, so every response is full length (the worst case), and rewards are
coin flips (bench/step_time.py's ``coin_reward``) so that every group has a
learning signal. The task is the bundled multiplication task with its
prompts padded to ``--prompt-tokens`` (default 200, about a GSM8K question in
Qwen's chat template), because GSM8K needs the hub. A ZeroGPU call runs on a
slice of an H200 (``spaces``' default device name: "NVIDIA H200 MIG
3g.71gb"); on a whole GPU the figures are a lower bound of a Space's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from archs import ARCHS, random_model  # noqa: E402
from step_time import coin_reward  # noqa: E402

FILLER = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "


def padded(task, tok, prompt_tokens: int):
    """``task`` with each prompt lengthened by filler text to about ``prompt_tokens`` tokens."""
    if prompt_tokens <= 0:
        return task
    ids = tok(FILLER, add_special_tokens=False)["input_ids"]
    pad = tok.decode((ids * (1 + prompt_tokens // len(ids)))[:prompt_tokens])
    return dataclasses.replace(task, prompt=lambda p, _prompt=task.prompt: pad + " " + _prompt(p),
                               instruction=lambda p, _ins=task.instruction: pad + " " + _ins(p))


def measure(args) -> dict:
    from training.chunks import Pace, steps_per_chunk
    from training.config import preset
    from training.engine.backbone import Backbone
    from training.loop import Trainer

    cuda = args.device.startswith("cuda")
    folder = Path(tempfile.mkdtemp(prefix="space-model-"))
    model = random_model(args.arch, args.layers, folder) if args.arch != "tiny" else "tiny"
    overrides = dict(model=model, task="multiply", device=args.device)
    if args.max_new:
        overrides["max_new_tokens"] = args.max_new
    if args.eval_n:
        overrides["eval_n"] = args.eval_n
    cfg = preset(args.preset, **overrides)
    report: dict = {"settings": {"preset": args.preset, "arch": args.arch, "layers": args.layers,
                                 "device": args.device, "prompts_per_step": cfg.prompts_per_step,
                                 "group_size": cfg.group_size, "max_new_tokens": cfg.max_new_tokens,
                                 "micro_batch_groups": cfg.micro_batch_groups,
                                 "activation_checkpointing": cfg.activation_checkpointing,
                                 "eval_n": cfg.eval_n, "eval_samples": cfg.eval_samples,
                                 "prompt_tokens": args.prompt_tokens, "rewards": "coin flips"},
                    "machine": {"python": platform.python_version(), "torch": torch.__version__,
                                "gpu": torch.cuda.get_device_name() if cuda else None}}
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    trainer = Trainer(cfg, Backbone(cfg))
    report["load_s"] = time.perf_counter() - t0
    trainer.task = padded(dataclasses.replace(trainer.task, reward=coin_reward), trainer.tok, args.prompt_tokens)
    records = [trainer.train_step() for _ in range(args.warmup + args.steps)][args.warmup:]
    report["step_s"] = statistics.median(r["time/step_s"] for r in records)
    report["rollout_s"] = statistics.median(r["time/rollout_s"] for r in records)
    report["steps_s"] = [r["time/step_s"] for r in records]
    report["mean_length"] = statistics.mean(r["len/mean"] for r in records)
    if cuda:
        report["peak_gb"] = torch.cuda.max_memory_allocated() / 2**30
        report["peak_reserved_gb"] = torch.cuda.max_memory_reserved() / 2**30
    print(f"load {report['load_s']:.1f} s; step {report['step_s']:.2f} s (median of {args.steps}, rollout "
          f"{report['rollout_s']:.2f} s, {report['mean_length']:.0f} tokens a response)"
          + (f"; peak {report['peak_gb']:.2f} GiB allocated, {report['peak_reserved_gb']:.2f} GiB reserved"
             if cuda else ""), flush=True)
    t0 = time.perf_counter()
    trainer.eval_record()
    report["eval_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.save(folder / "checkpoint")
    report["checkpoint_s"] = time.perf_counter() - t0
    pace = Pace(step_s=report["step_s"], eval_s=report["eval_s"],
                overhead_s=report["load_s"] + report["checkpoint_s"])
    report["chunk_steps"] = {str(d): steps_per_chunk(pace, d, cfg.eval_every, args.margin) for d in args.durations}
    print(f"evaluation ({cfg.eval_n} x {cfg.eval_samples}) {report['eval_s']:.1f} s; checkpoint "
          f"{report['checkpoint_s']:.2f} s; steps a chunk (margin {args.margin:g}): "
          + ", ".join(f"{k} for a {d} s call" for d, k in report["chunk_steps"].items()), flush=True)
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="space-qwen0.5b")
    ap.add_argument("--arch", choices=sorted(ARCHS), default="qwen2.5-0.5b",
                    help="the preset's architecture, random weights ('tiny': the bundled model itself)")
    ap.add_argument("--layers", type=int, default=None, help="cut the architecture to N layers (a CPU dry run)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=3, help="measured steps after the warm-up")
    ap.add_argument("--warmup", type=int, default=1, help="steps not measured (CUDA graphs are recorded here)")
    ap.add_argument("--max-new", type=int, default=None, help="response length (default: the preset's)")
    ap.add_argument("--eval-n", type=int, default=None, help="held-out problems (default: the preset's)")
    ap.add_argument("--prompt-tokens", type=int, default=200, help="prompt length to pad to (0: as the task's)")
    ap.add_argument("--durations", type=lambda s: [int(x) for x in s.split(",")], default=[60, 120],
                    help="ZeroGPU call durations (s) to plan chunks for")
    ap.add_argument("--margin", type=float, default=0.3, help="share of a call left unplanned (the app's default)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = ap.parse_args()
    report = measure(args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
