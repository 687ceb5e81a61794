"""Run configuration: one frozen dataclass, every field with a default and a help text.

The CLI flags (and, later, the app's controls) are derived from these
fields. Presets are named, complete configurations; a user overrides fields.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

ALGOS = ("grpo", "hicra", "hicra-released", "hicra-entropy", "hicra-placebo")


def _f(default, help: str, **extra):
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class RunConfig:
    # what to train
    model: str = _f("tiny", "'tiny' (bundled), a local folder or a hub name")
    task: str = _f("multiply", "task: multiply (bundled), gsm8k, math, or jsonl:PATH (question/answer lines)")
    algo: str = _f("hicra", "credit assignment: " + ", ".join(ALGOS), choices=ALGOS)
    alpha: float = _f(0.2, "HICRA amplification alpha (planning tokens get A + alpha*|A|)")
    sg_set: str = _f("ground-truth", "planning phrases: 'ground-truth' (the task's), a preset name or a JSON file")
    # sampling
    prompts_per_step: int = _f(8, "prompts per step")
    group_size: int = _f(8, "responses per prompt (G)")
    temperature: float = _f(1.0, "sampling temperature for rollouts")
    max_new_tokens: int = _f(160, "response length limit")
    lean_decoder: bool = _f(True, "sample and score with the lean Llama-family code (training/engine/decoder.py, "
                                  "training/engine/lean_forward.py) where it covers the model (Qwen2, Llama): "
                                  "the same numbers as transformers + peft, fewer operations")
    cuda_graphs: bool = _f(True, "on a GPU, replay each decoding step of the lean decoder as one CUDA graph "
                                 "(training/engine/graphs.py; checked against the plain step, which it falls back to)")
    # optimisation
    steps: int = _f(200, "optimizer steps")
    lr: float = _f(3e-4, "learning rate (AdamW, LoRA weights)")
    warmup: int = _f(10, "linear warm-up steps")
    weight_decay: float = _f(0.0, "AdamW weight decay")
    max_grad_norm: float = _f(1.0, "gradient clipping (0 = off)")
    updates_per_batch: int = _f(1, "passes over each batch (more than 1 makes the clip active)")
    micro_batch_groups: int = _f(2, "groups per forward/backward pass (0 = the whole batch at once); "
                                 "smaller uses less memory, the gradient is the same")
    activation_checkpointing: bool = _f(False, "recompute each layer's activations in the backward pass (one "
                                               "more forward pass through the layers) instead of keeping them: "
                                               "most of the update's memory (bench/update_memory.py); on in the "
                                               "GPU presets")
    clip_low: float = _f(0.2, "PPO clip range below 1")
    clip_high: float = _f(0.2, "PPO clip range above 1")
    aggregation: str = _f("token-mean", "loss aggregation: token-mean or seq-mean",
                          choices=("token-mean", "seq-mean"))
    kl_coef: float = _f(0.0, "KL penalty to the base model (k3); the KL is reported either way")
    kl_every: int = _f(10, "with kl_coef 0 the KL is only a diagnostic: measure it every N steps "
                           "(the reference pass costs about a quarter of an update; 1 = every step)")
    scale_by_std: bool = _f(False, "divide group advantages by the group std")
    high_entropy_fraction: float = _f(0.3, "top fraction of tokens per response counted as high-entropy")
    # LoRA
    lora_r: int = _f(16, "LoRA rank")
    lora_alpha: int = _f(32, "LoRA alpha")
    lora_targets: str = _f("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
                           "comma-separated module names to adapt")
    # evaluation and bookkeeping
    eval_every: int = _f(25, "held-out evaluation every N steps (0 = off)")
    eval_n: int = _f(200, "held-out problems per evaluation")
    eval_samples: int = _f(4, "samples per held-out problem (avg@k)")
    eval_temperature: float = _f(0.6, "held-out sampling temperature")
    eval_keep_samples: int = _f(64, "held-out samples written to samples.jsonl per evaluation (sample 1 of each "
                                    "problem first, then sample 2, ...): the app's side-by-side samples and a "
                                    "corpus to mine from")
    checkpoint_every: int = _f(50, "checkpoint every N steps")
    seed: int = _f(0, "seeds prompts, sampling and LoRA init")
    device: str = _f("", "cpu, cuda, ... (empty: GPU if there is one)")
    threads: int = _f(0, "torch CPU threads (0 = torch's default)")
    report_to: str = _f("", "also log to trackers: tensorboard, trackio (comma-separated)")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**data)

    def validate(self) -> "RunConfig":
        if self.algo not in ALGOS:
            raise ValueError(f"algo must be one of {', '.join(ALGOS)}, got {self.algo!r}")
        if self.aggregation not in ("token-mean", "seq-mean"):
            raise ValueError(f"aggregation must be token-mean or seq-mean, got {self.aggregation!r}")
        for name in ("prompts_per_step", "group_size", "steps", "max_new_tokens", "lora_r", "updates_per_batch",
                     "kl_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.alpha < 0:
            raise ValueError("alpha must be >= 0")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0 for rollouts")
        return self


PRESETS: dict[str, RunConfig] = {
    # The bundled model and task on a laptop CPU: 1-2 s a step on 2 cores.
    "tiny-cpu": RunConfig(),
    # A smoke test of the whole pipeline in well under a minute: tiny batches,
    # short responses, a small held-out evaluation every 5 steps.
    # GPU presets: Qwen2.5 instruct models on GSM8K / MATH (hub access needed),
    # planning phrases from the compact math list, bf16 where the GPU has it.
    # Activation checkpointing on: without it the update's graph for a micro-batch of 2 groups of 8 keeps
    # about 20 GiB (0.5B, 200 + 512 tokens a row) and 70 GiB (1.5B, 200 + 1,024), with it 0.5 and 1.7 GiB
    # (bench/update_memory.py).
    "qwen0.5b-gsm8k": RunConfig(model="Qwen/Qwen2.5-0.5B-Instruct", task="gsm8k", sg_set="math-compact",
                                max_new_tokens=512, lr=1e-5, eval_n=200, eval_every=50, lora_r=32,
                                lora_alpha=64, steps=500, activation_checkpointing=True),
    "qwen1.5b-math": RunConfig(model="Qwen/Qwen2.5-1.5B-Instruct", task="math", sg_set="math-compact",
                               max_new_tokens=1024, lr=1e-5, eval_n=200, eval_every=50, lora_r=32,
                               lora_alpha=64, steps=500, activation_checkpointing=True),
    # One thread: batches this small gain nothing from two, and on a busy machine two threads wait on each
    # other (a tiny run went several times faster with one on the shared 2-core test machine).
    "tiny-smoke": RunConfig(prompts_per_step=2, group_size=4, max_new_tokens=128, eval_every=5, eval_n=20,
                            eval_samples=1, checkpoint_every=5, steps=10, threads=1),
}


def preset(name: str, **overrides) -> RunConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides).validate()


def save_config(cfg: RunConfig, path) -> None:
    from pathlib import Path

    Path(path).write_text(json.dumps(cfg.to_json(), indent=2) + "\n")
