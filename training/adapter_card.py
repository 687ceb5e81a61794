"""An adapter ready for the Hugging Face Hub: its base model named, and a model card.

A checkpoint's ``adapter/`` is what peft saves: ``adapter_config.json``
(whose ``base_model_name_or_path`` is the absolute local path the run loaded,
or empty for a sweep's later arms) and the LoRA weights. Pushed as it is, a
reader cannot tell what it adapts or how good it is. :func:`stage_adapter`
copies it into a fresh folder with the base model's name (the hub id, or
``assets/<name>`` for HICRA Lab's bundled tiny models, which are not on the
Hub) and a ``README.md`` model card: what was trained (task, algorithm, steps),
with what (the run's settings, HICRA Lab's version) and the run's held-out
accuracy at that checkpoint with a 95% interval.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from training import __version__
from training.runs import read_jsonl
from training.tasks import default_model
from training.threads import is_bundled


def wilson(p: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """The 95% Wilson score interval of a proportion ``p`` over ``n`` trials.

    >>> [round(x, 3) for x in wilson(0.5, 100)]
    [0.404, 0.596]
    """
    if n < 1:
        return 0.0, 1.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def base_model_name(cfg: dict) -> str:
    """What ``base_model_name_or_path`` says: the hub id or folder the run loaded, ``assets/<name>`` if bundled."""
    model = default_model(cfg.get("model"), cfg.get("task", "multiply"))
    if is_bundled(model):
        from training.engine.modeling import resolve_name

        return "assets/" + Path(resolve_name(model)).name
    return model


def eval_problems(cfg: dict) -> int:
    """Held-out problems an evaluation used: ``eval_n``, capped by the size of a bundled task's split."""
    n = int(cfg.get("eval_n", 0))
    task = str(cfg.get("task", ""))
    if task.startswith("multiply"):  # a bundled split is small and offline: count it (a regime's has 485)
        from training.tasks import get_task

        n = len(get_task(task).problems("eval", n=n))
    return n


def held_out(run: Path, step: int) -> dict | None:
    """The last held-out evaluation at or before ``step`` (``None`` if the run has none)."""
    metrics = run / "metrics.jsonl"
    records = [r for r in read_jsonl(metrics) if r.get("kind") == "eval" and r.get("step", 0) <= step] \
        if metrics.exists() else []
    return records[-1] if records else None


def model_card(cfg: dict, step: int, evaluation: dict | None, base: str) -> str:
    """The README.md of a pushed adapter (Markdown with the Hub's YAML metadata)."""
    hub_base = not base.startswith("assets/") and not Path(base).exists() and base.count("/") == 1
    meta = ["---", "library_name: peft", "tags:", "- hicra-lab", "- lora", f"- {cfg.get('algo', 'grpo')}"]
    meta += [f"base_model: {base}"] if hub_base else []
    meta += ["---", ""]
    algo = cfg.get("algo", "?")
    what = (f"HICRA (planning tokens get A + alpha*|A|, alpha = {cfg.get('alpha')})" if str(algo).startswith("hicra")
            else "GRPO")
    base_text = (f"[{base}](https://huggingface.co/{base})" if hub_base else
                 f"`{base}`, HICRA Lab's bundled tiny model (in the repository, not on the Hub)"
                 if base.startswith("assets/") else f"`{base}` (a local folder)")
    lines = [f"# LoRA adapter: {algo} on {cfg.get('task', '?')}, step {step}", "",
             f"A LoRA adapter (rank {cfg.get('lora_r')}, alpha {cfg.get('lora_alpha')}, on "
             f"{cfg.get('lora_targets')}) for {base_text}, trained with {what} by HICRA Lab {__version__} for "
             f"{step} of {cfg.get('steps')} steps on the task `{cfg.get('task')}` (seed {cfg.get('seed')}, "
             f"{cfg.get('prompts_per_step')} prompts x {cfg.get('group_size')} responses a step, "
             f"learning rate {cfg.get('lr')}).", ""]
    if evaluation is None:
        lines += ["No held-out evaluation was run up to this step (eval_every), so there is no accuracy to "
                  "report.", ""]
    else:
        n = eval_problems(cfg)
        acc = float(evaluation["eval/accuracy"])
        lo, hi = wilson(acc, n)
        lines += ["## Held-out accuracy", "",
                  f"At step {evaluation['step']}: **{acc:.3f}** (95% interval {lo:.3f}-{hi:.3f}) over {n} held-out "
                  f"problems, {cfg.get('eval_samples')} samples each at temperature {cfg.get('eval_temperature')} "
                  f"(avg@{cfg.get('eval_samples')}); pass@{cfg.get('eval_samples')} "
                  f"{float(evaluation.get('eval/pass_at_k', float('nan'))):.3f}.", "",
                  "The interval is Wilson's over the problems, each counted once: averaging a problem's samples "
                  "only lowers the variance, so it is on the wide side. One run and one seed: a difference "
                  "between algorithms needs several seeds (HICRA Lab's `compare`).", ""]
    lines += ["## Use", "", "```python", "from peft import PeftModel",
              "from transformers import AutoModelForCausalLM", "",
              f"base = AutoModelForCausalLM.from_pretrained({base!r})",
              "model = PeftModel.from_pretrained(base, 'THIS-REPOSITORY')", "```", "",
              "## The run's settings", "", "```json", json.dumps(cfg, indent=1), "```", ""]
    return "\n".join(meta + lines)


def stage_adapter(adapter: Path, out: Path) -> Path:
    """Copy the checkpoint's ``adapter/`` to ``out`` with its base model named and a model card; returns ``out``.

    ``adapter`` is ``<run>/checkpoints/step-<N>/adapter``: the run's config and
    metrics are read from ``<run>``.
    """
    adapter, out = Path(adapter), Path(out)
    run = adapter.parent.parent.parent
    step = int(adapter.parent.name.split("-")[-1])
    cfg = json.loads((run / "config.json").read_text())
    out.mkdir(parents=True, exist_ok=True)
    for f in adapter.iterdir():
        if f.is_file():
            shutil.copy2(f, out / f.name)
    base = base_model_name(cfg)
    config_file = out / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = base
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    (out / "README.md").write_text(model_card(cfg, step, held_out(run, step), base))
    return out
