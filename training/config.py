"""Run configuration: one frozen dataclass, every field with a default and a help text.

The CLI flags (and, later, the app's controls) are derived from these
fields. Presets are named, complete configurations; a user overrides fields.

Every number has a range (``lo``..``hi``, inclusive; the CLI's ``--help``
shows it), and :meth:`RunConfig.validate` checks them all in one place, so
the CLI and the app refuse an absurd setting before a model loads or a run
is queued. The ranges are wide enough for real GPU runs (groups of 512,
32,768-token responses, a million steps) and narrow enough that a typo such
as ``--steps 1000000000`` or a group of 10,000 is caught.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, fields, replace

from training.hierarchy.detector import DETECTORS

ALGOS = ("grpo", "hicra", "hicra-released", "hicra-entropy", "hicra-entropy-matched", "hicra-placebo")
MAX_RESPONSES_PER_STEP = 65_536  # prompts_per_step x group_size
DEVICE_RE = re.compile(r"^((cpu|cuda|mps|xpu)(:[0-9]{1,3})?)?$")


def _f(default, help: str, lo=None, hi=None, **extra):
    """A field with its help text and, for numbers, its range [lo, hi]."""
    return field(default=default, metadata={"help": help, "lo": lo, "hi": hi, **extra})


@dataclass(frozen=True)
class RunConfig:
    # what to train
    model: str = _f("tiny", "'tiny' (the bundled model of the task's regime), a local folder or a hub name")
    task: str = _f("multiply", "task: a bundled regime (multiply, multiply-planning, multiply-intermediate, "
                               "multiply-execution), gsm8k, math, or jsonl:PATH (question/answer lines)")
    algo: str = _f("hicra", "credit assignment: " + ", ".join(ALGOS), choices=ALGOS)
    alpha: float = _f(0.2, "HICRA amplification alpha (planning tokens get A + alpha*|A|)", 0, 10)
    sg_set: str = _f("ground-truth", "planning phrases: 'ground-truth' (the task's), a preset name or a JSON file")
    detector: str = _f("sg", "planning mask: 'sg' (the SG set's phrases as they are), 'planning-detector' (the SG "
                             "set plus rules for genuine model reasoning, version 1.1) or 'planning-detector-1.2' "
                             "(1.1 plus a step-clause classifier): docs/planning-detector.md",
                       choices=DETECTORS)
    # sampling
    prompts_per_step: int = _f(8, "prompts per step", 1, 1024)
    group_size: int = _f(8, "responses per prompt (G)", 1, 512)
    temperature: float = _f(1.0, "sampling temperature for rollouts (above 0)", 0, 10)
    max_new_tokens: int = _f(160, "response length limit", 1, 32_768)
    lean_decoder: bool = _f(True, "sample and score with the lean Llama-family code (training/engine/decoder.py, "
                                  "training/engine/lean_forward.py) where it covers the model (Qwen2, Llama): "
                                  "the same numbers as transformers + peft, fewer operations")
    cuda_graphs: bool = _f(True, "on a GPU, replay each decoding step of the lean decoder as one CUDA graph "
                                 "(training/engine/graphs.py; checked against the plain step, which it falls back to)")
    # optimisation
    steps: int = _f(200, "optimizer steps", 1, 1_000_000)
    lr: float = _f(3e-4, "learning rate (AdamW, LoRA weights)", 0, 1)
    warmup: int = _f(10, "linear warm-up steps", 0, 1_000_000)
    weight_decay: float = _f(0.0, "AdamW weight decay", 0, 1)
    max_grad_norm: float = _f(1.0, "gradient clipping (0 = off)", 0, 1e6)
    # the collapse guard (training/guard.py, docs/failures.md)
    collapse_entropy: float = _f(0.5, "collapse guard: fail the run when the mean token entropy of a step's "
                                      "responses stays at or above this fraction of the uniform maximum, "
                                      "ln(vocabulary size), for collapse_steps steps (0 = off); a healthy run of "
                                      "the bundled model sits near 0.01 of it, one collapsed by --lr 1 "
                                      "--max-grad-norm 0 at 0.57-0.70", 0, 1)
    collapse_steps: int = _f(3, "collapse guard: consecutive steps a sign of collapse must last before the run "
                                "fails", 1, 1_000_000)
    collapse_reward_steps: int = _f(0, "collapse guard: also fail when the mean reward has been exactly 0 for this "
                                       "many consecutive steps after an earlier step above 0 (0 = off: a weak model "
                                       "on a hard task can go many steps without reward)", 0, 1_000_000)
    updates_per_batch: int = _f(1, "passes over each batch (more than 1 makes the clip active)", 1, 64)
    micro_batch_groups: int = _f(2, "groups per forward/backward pass (0 = the whole batch at once); "
                                 "smaller uses less memory, the gradient is the same", 0, 1024)
    activation_checkpointing: bool = _f(False, "recompute each layer's activations in the backward pass (one "
                                               "more forward pass through the layers) instead of keeping them: "
                                               "most of the update's memory (bench/update_memory.py); on in the "
                                               "GPU presets")
    clip_low: float = _f(0.2, "PPO clip range below 1", 0, 1)
    clip_high: float = _f(0.2, "PPO clip range above 1", 0, 10)
    aggregation: str = _f("token-mean", "loss aggregation: token-mean or seq-mean",
                          choices=("token-mean", "seq-mean"))
    kl_coef: float = _f(0.0, "KL penalty to the base model (k3); the KL is reported either way", 0, 100)
    kl_every: int = _f(10, "with kl_coef 0 the KL is only a diagnostic: measure it every N steps "
                           "(the reference pass costs about a quarter of an update; 1 = every step)", 1, 1_000_000)
    scale_by_std: bool = _f(False, "divide group advantages by the group std")
    high_entropy_fraction: float = _f(0.3, "top fraction of tokens per response counted as high-entropy", 0, 1)
    # LoRA
    lora_r: int = _f(16, "LoRA rank", 1, 1024)
    lora_alpha: int = _f(32, "LoRA alpha", 1, 8192)
    lora_targets: str = _f("q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
                           "comma-separated module names to adapt")
    # evaluation and bookkeeping
    eval_every: int = _f(25, "held-out evaluation every N steps (0 = off)", 0, 1_000_000)
    eval_n: int = _f(200, "held-out problems per evaluation", 1, 100_000)
    eval_samples: int = _f(4, "samples per held-out problem (avg@k)", 1, 256)
    eval_temperature: float = _f(0.6, "held-out sampling temperature (0 = greedy)", 0, 10)
    eval_seed: int = _f(-1, "sampling seed of held-out evaluations (-1: the run's seed); a fixed one gives every "
                            "arm and seed of a study the same evaluation random numbers", -1, 2**31 - 1)
    eval_keep_samples: int = _f(64, "held-out samples written to samples.jsonl per evaluation (sample 1 of each "
                                    "problem first, then sample 2, ...): the app's side-by-side samples and a "
                                    "corpus to mine from", 0, 1_000_000)
    checkpoint_every: int = _f(50, "checkpoint every N steps", 1, 1_000_000)
    seed: int = _f(0, "seeds prompts, sampling and LoRA init", 0, 2**31 - 1)
    device: str = _f("", "cpu, cuda, ... (empty: GPU if there is one)")
    threads: int = _f(0, "torch CPU threads (0 = pick: 1 for a bundled tiny model on a CPU, torch's default "
                         "otherwise; training/threads.py)", 0, 1024)
    report_to: str = _f("", "also log to trackers: tensorboard, trackio (comma-separated)")
    tf32: bool = _f(True, "on a GPU with a bf16 (or fp16) model, its float32 matrix products (the LoRA "
                          "factors') in TF32: tensor cores, inputs rounded to 10 bits of mantissa")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        data = {k: v for k, v in data.items() if k != "lab_version"}  # written by save_config, not a setting
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config fields: {', '.join(unknown)}")
        return cls(**data)

    def validate(self) -> "RunConfig":
        """This config, or a ValueError whose one-line message names the field and its range.

        Numbers must have their field's type (a whole number for int fields),
        be finite and lie in the field's range; the temperature must be above
        0; a step samples at most ``MAX_RESPONSES_PER_STEP`` responses.
        """
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{f.name} must be true or false, got {value!r:.40}")
            elif f.type in ("str", str):
                if not isinstance(value, str):
                    raise ValueError(f"{f.name} must be a string, got {value!r:.40}")
                choices = f.metadata.get("choices")
                if choices and value not in choices:
                    raise ValueError(f"{f.name} must be one of {', '.join(choices)}, got {value!r:.40}")
            else:
                _check_number(f.name, value, whole=f.type in ("int", int), lo=f.metadata.get("lo"),
                              hi=f.metadata.get("hi"))
        if self.temperature <= 0:
            raise ValueError("temperature must be above 0 for rollouts")
        if not DEVICE_RE.match(self.device):
            raise ValueError(f"device must be empty (a GPU if there is one), cpu, cuda or cuda:N, got "
                             f"{self.device!r:.40}")
        if not self.task.strip():
            raise ValueError("task must name a task: multiply, gsm8k, math or jsonl:PATH")
        if self.prompts_per_step * self.group_size > MAX_RESPONSES_PER_STEP:
            raise ValueError(f"prompts_per_step x group_size must be at most {MAX_RESPONSES_PER_STEP:,} responses "
                             f"a step, got {self.prompts_per_step:,} x {self.group_size:,}")
        return self


def _check_number(name: str, value, whole: bool, lo, hi) -> None:
    kind = "a whole number" if whole else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (whole and not isinstance(value, int)):
        raise ValueError(f"{name} must be {kind}, got {value!r:.40}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f"{name} must be {kind} from {_num(lo)} to {_num(hi)}, got {_num(value)}")


def _num(x) -> str:
    """1000000 -> '1,000,000'; 0.0003 -> '0.0003'; 1e6 -> '1e+06'."""
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


def range_text(lo, hi) -> str:
    """'1-1,000,000': a field's range as the CLI's help shows it."""
    return f"{_num(lo)}-{_num(hi)}"


PRESETS: dict[str, RunConfig] = {
    # The bundled model and task on a laptop CPU: 1-2 s a step on 2 cores.
    "tiny-cpu": RunConfig(),
    # The task regimes (README, "Task regimes"), each with its bundled model: the same settings as
    # tiny-cpu, and room for the final check (a response that checks its result runs to ~190 tokens).
    "tiny-planning": RunConfig(task="multiply-planning", max_new_tokens=224),
    "tiny-intermediate": RunConfig(task="multiply-intermediate", max_new_tokens=224),
    "tiny-execution": RunConfig(task="multiply-execution", max_new_tokens=224),
    # A smoke test of the whole pipeline in well under a minute: tiny batches,
    # short responses, a small held-out evaluation every 5 steps. One thread: batches this small gain
    # nothing from two, and on a busy machine two threads wait on each other (a tiny run went several
    # times faster with one on the shared 2-core test machine).
    "tiny-smoke": RunConfig(prompts_per_step=2, group_size=4, max_new_tokens=128, eval_every=5, eval_n=20,
                            eval_samples=1, checkpoint_every=5, steps=10, threads=1),
    # GPU presets: Qwen2.5 instruct models on GSM8K / MATH (hub access needed), planning tokens marked by
    # the planning detector on the 'reasoning' preset (genuine model reasoning is worded far more variously
    # than a phrase list covers: on the blind genuine sets the detector finds about twice the preset's
    # planning tokens at a little less precision; docs/planning-detector.md, bench/planning_quality.py),
    # bf16 where the GPU has it.
    # Activation checkpointing on: without it the update's graph for a micro-batch of 2 groups of 8 keeps
    # about 20 GiB (0.5B, 200 + 512 tokens a row) and 70 GiB (1.5B, 200 + 1,024), with it 0.5 and 1.7 GiB
    # (bench/update_memory.py).
    "qwen0.5b-gsm8k": RunConfig(model="Qwen/Qwen2.5-0.5B-Instruct", task="gsm8k", sg_set="reasoning", detector="planning-detector",
                                max_new_tokens=512, lr=1e-5, eval_n=200, eval_every=50, lora_r=32,
                                lora_alpha=64, steps=500, activation_checkpointing=True),
    "qwen1.5b-math": RunConfig(model="Qwen/Qwen2.5-1.5B-Instruct", task="math", sg_set="reasoning", detector="planning-detector",
                               max_new_tokens=1024, lr=1e-5, eval_n=200, eval_every=50, lora_r=32,
                               lora_alpha=64, steps=500, activation_checkpointing=True),
    # A Hugging Face Space on ZeroGPU (docs/zerogpu.md): the 0.5B model of qwen0.5b-gsm8k, with its learning
    # rate, LoRA and planning phrases, cut so that a step and a chunk of steps fit one ZeroGPU call (the lab
    # asks 120 s a call): half the prompts (4 x 8 = 32 responses a step), half the response length (256
    # tokens; a longer solution is cut and scored wrong), a quarter of the held-out samples (100 problems x 2)
    # and 200 steps, under public mode's 300. On a whole H200 (random weights, full-length responses):
    # 1.73 s a step, 4.21 GiB peak allocated, 41 steps a 120 s call (bash bench/space_check.sh;
    # bench/results/space-qwen0.5b-h200.json; measured with the SG set's own matcher, before the hub presets
    # took the planning detector, whose masks add tens of CPU milliseconds a step: bench/planning_mask.py).
    "space-qwen0.5b": RunConfig(model="Qwen/Qwen2.5-0.5B-Instruct", task="gsm8k", sg_set="reasoning", detector="planning-detector",
                                prompts_per_step=4, group_size=8, max_new_tokens=256, lr=1e-5, lora_r=32,
                                lora_alpha=64, steps=200, eval_every=20, eval_n=100, eval_samples=2,
                                checkpoint_every=50, activation_checkpointing=True),
}


# One line per preset, for the CLI's --help.
PRESET_HELP = {
    "tiny-cpu": "the bundled model and task on a laptop CPU, 1-2 s a step",
    "tiny-planning": "tiny-cpu on the carry-safe task regime (multiply-planning), with its bundled model",
    "tiny-intermediate": "tiny-cpu on the 15%-carry-error task regime (multiply-intermediate), with its bundled model",
    "tiny-execution": "tiny-cpu on the 50%-carry-error task regime (multiply-execution), with its bundled model",
    "qwen0.5b-gsm8k": "Qwen2.5-0.5B-Instruct on GSM8K, GPU, hub access needed",
    "qwen1.5b-math": "Qwen2.5-1.5B-Instruct on MATH, GPU, hub access needed",
    "tiny-smoke": "the whole pipeline on the bundled model, 10 tiny steps",
    "space-qwen0.5b": "Qwen2.5-0.5B-Instruct on GSM8K sized for a ZeroGPU Space (docs/zerogpu.md), hub access needed",
}


def preset(name: str, **overrides) -> RunConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    return replace(PRESETS[name], **overrides).validate()


def save_config(cfg: RunConfig, path) -> None:
    from pathlib import Path

    from training import __version__

    Path(path).write_text(json.dumps({**cfg.to_json(), "lab_version": __version__}, indent=2) + "\n")
