"""Held-out evaluation: accuracy (avg@k), pass@k, error types, length, planning figures;
and a corpus to mine sampled from a model (:func:`sample_corpus`).

    python -m training eval --model assets/tiny-model --task multiply --n 500 --samples 4 \
        --temperature 0.6 --json
"""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from pathlib import Path
from typing import Callable

import torch

from training.hierarchy.coverage import coverage_warning
from training.hierarchy.grams import SGSet
from training.hierarchy.semantic import semantic_entropy
from training.hierarchy.tokens import token_masks_from_ids
from training.engine.modeling import LoadedModel
from training.engine.rollout import sample
from training.tasks import Task, default_model, get_task
from training.tasks.plan_metrics import plan_figures


def prompt_ids(lm: LoadedModel, task: Task, problem) -> list[int]:
    """Token ids of a problem's prompt: raw for a base model, chat-formatted when
    the tokenizer has a chat template (instruct models)."""
    tok = lm.tokenizer
    if getattr(tok, "chat_template", None):
        text = tok.apply_chat_template([{"role": "user", "content": task.instruction(problem)}],
                                       add_generation_prompt=True, tokenize=False)
        return tok(text, add_special_tokens=False)["input_ids"]
    return tok(task.prompt(problem), add_special_tokens=False)["input_ids"]


def strip_eos(ids: list[int], eos_id: int) -> list[int]:
    return ids[:-1] if ids and ids[-1] == eos_id else ids


def generate_responses(lm: LoadedModel, task: Task, problems: list, samples: int, temperature: float,
                       seed: int, max_new_tokens: int, batch_size: int = 256,
                       lean: bool = True, graphs: bool = True) -> list[list[list[int]]]:
    """``samples`` responses per problem, as token ids without EOS: [problem][sample] -> ids.

    ``lean``: sample through :mod:`training.engine.decoder` where it covers the model;
    ``graphs``: its steps as CUDA graphs on a GPU (:mod:`training.engine.graphs`).
    """
    gen = torch.Generator(device=lm.device).manual_seed(seed)
    lm.model.eval()
    flat_prompts = [prompt_ids(lm, task, p) for p in problems for _ in range(samples)]
    out: list[list[int]] = []
    for start in range(0, len(flat_prompts), batch_size):
        roll = sample(lm.model, flat_prompts[start:start + batch_size], max_new_tokens=max_new_tokens,
                      temperature=temperature, eos_id=lm.eos_id, pad_id=lm.pad_id, generator=gen, lean=lean,
                      graphs=graphs)
        out += [strip_eos(r, lm.eos_id) for r in roll.responses()]
    return [out[i * samples:(i + 1) * samples] for i in range(len(problems))]


def evaluate(lm: LoadedModel, task: Task, n: int = 500, samples: int = 4, temperature: float = 0.6,
             seed: int = 0, max_new_tokens: int = 160, sg_set: SGSet | None = None,
             split: str = "eval", batch_size: int = 256, lean: bool = True,
             graphs: bool = True) -> tuple[dict, list[list[str]]]:
    """Evaluate on the first ``n`` problems of ``split`` (a fixed, seeded order).

    Returns ``(figures, texts)``: ``texts[i][j]`` is sample j for problem i,
    and ``figures`` is one dict of JSON-ready values:
    ``accuracy`` (mean reward over all samples, avg@k), ``pass_at_k`` (share
    of problems with at least one correct sample), ``errors`` (counts of
    correct / execution / strategy over all samples), ``plan_figures`` (plan-level figures, see
    :mod:`training.tasks.plan_metrics`, and the first study's error counts), ``mean_length`` (tokens),
    ``planning_ratio`` and ``semantic_entropy_bits`` over the responses
    (planning from ``sg_set``, default the task's ground truth).
    """
    if n < 1 or samples < 1:
        raise ValueError("n and samples must be at least 1")
    start = time.time()
    problems = task.problems(split, n=n, seed=0)
    ids = generate_responses(lm, task, problems, samples, temperature, seed, max_new_tokens, batch_size, lean,
                             graphs)
    texts = [[lm.tokenizer.decode(r, skip_special_tokens=True) for r in rs] for rs in ids]
    rewards = [[task.reward(p, t) for t in ts] for p, ts in zip(problems, texts)]
    kinds = Counter(task.classify(p, t) for p, ts in zip(problems, texts) for t in ts)
    pairs = [(p, t) for p, ts in zip(problems, texts) for t in ts]
    plans = plan_figures(task.plans, *map(list, zip(*pairs))) if task.plans is not None and pairs else {}
    if task.legacy_classify is not None:
        legacy = Counter(task.legacy_classify(p, t) for p, t in pairs)
        plans.update({f"errors_by_statement/{k}": legacy.get(k, 0) for k in ("execution", "strategy")})
    if task.classify_v2 is not None:  # taxonomy v2 beside v1: a worse-than-best fitting plan is a planning error
        v2 = Counter(task.classify_v2(p, t) for p, t in pairs)
        plans.update({f"errors_v2/{k}": v2.get(k, 0) for k in ("execution", "strategy")})
    flat_ids = [r for rs in ids for r in rs]
    flat_texts = [t for ts in texts for t in ts]
    sg = sg_set or task.ground_truth_sg_set()
    planning_ratio = semantic = warning = None
    if sg is not None and flat_ids:
        masks = token_masks_from_ids(lm.tokenizer, flat_ids, sg)
        total = sum(len(m) for m in masks)
        planning_ratio = sum(int(m.sum()) for m in masks) / total if total else 0.0
        semantic = semantic_entropy(flat_texts, sg)
        warning = coverage_warning(flat_texts, planning_ratio, sg, algo="")
    n_samples = len(flat_ids)
    figures = {
        "model": lm.name,
        "task": task.name,
        "split": split,
        "n": len(problems),
        "samples": samples,
        "temperature": temperature,
        "seed": seed,
        "accuracy": sum(map(sum, rewards)) / n_samples,
        "pass_at_k": sum(any(r >= 1.0 for r in rs) for rs in rewards) / len(problems),
        "errors": {k: kinds.get(k, 0) for k in ("correct", *task.error_kinds)} if task.plans is not None
        else dict(sorted(kinds.items())),
        "plan_figures": plans,
        "mean_length": sum(map(len, flat_ids)) / n_samples,
        "planning_ratio": planning_ratio,
        "semantic_entropy_bits": semantic,
        "planning_warning": warning,
        "sg_set": sg.name if sg is not None else None,
        "seconds": round(time.time() - start, 3),  # ms: a tiny evaluation can take under 0.05 s
    }
    return figures, texts


def standard_error(p: float, count: int) -> float:
    """Binomial standard error of a proportion (for "within sampling noise")."""
    return math.sqrt(max(p * (1 - p), 1e-12) / max(count, 1))


# ------------------------------------------------------- a corpus to mine
# ``python -m lab.mine --from-model tiny --task multiply --n 2000 --out grams.json``: the paper mines
# Strategic Grams from a model's own successful solutions; these sample them (the bundled model, a hub
# model, or a run's checkpoint: its adapter on its model) on a task's training split and score them.

MAX_SAMPLES = 20_000


def load_policy(model: str, task: str, checkpoint: str | Path | None = None, device: str | None = None):
    """The model (``'tiny'``: the task regime's bundled model), with a run checkpoint's adapter merged in.

    ``checkpoint``: a ``checkpoints/step-N`` folder of a run (its ``adapter/`` in peft format); the run's
    ``config.json`` names its model, which then replaces ``model``.
    """
    from training.engine.modeling import ModelLoadError, load_model

    if checkpoint:
        path = Path(checkpoint)
        adapter = path / "adapter"
        if not adapter.is_dir():
            raise ModelLoadError(f"{path}: no adapter/ folder (give a run's checkpoints/step-N folder)")
        config = path.parent.parent / "config.json"
        if config.exists():
            model = json.loads(config.read_text()).get("model", model)
    lm = load_model(default_model(model, task), device=device)
    if checkpoint:
        from peft import PeftModel

        lm.model = PeftModel.from_pretrained(lm.model, str(Path(checkpoint) / "adapter")).merge_and_unload().eval()
    return lm


def sample_corpus(model: str, task: str, n: int, temperature: float = 1.0, seed: int = 0,
                  max_new_tokens: int = 224, checkpoint: str | Path | None = None, device: str | None = None,
                  progress: Callable[[float, str], None] | None = None) -> list[dict]:
    """``n`` responses (one per training problem, cycling if the split is smaller), as
    ``{"text", "correct", "problem"}`` records."""
    if not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"the number of responses must be between 1 and {MAX_SAMPLES:,}, got {n}")
    say = progress or (lambda f, m: None)
    say(0.0, "loading the model")
    t = get_task(task)
    lm = load_policy(model, task, checkpoint, device)
    pool = t.problems("train", seed=seed)
    problems = [pool[i % len(pool)] for i in range(n)]
    out: list[dict] = []
    batch = 256
    for start in range(0, n, batch):
        chunk = problems[start:start + batch]
        ids = generate_responses(lm, t, chunk, 1, temperature, seed + start, max_new_tokens, batch_size=batch)
        for p, rs in zip(chunk, ids):
            text = lm.tokenizer.decode(rs[0], skip_special_tokens=True)
            out.append({"text": text, "correct": t.reward(p, text) >= 1.0, "problem": t.prompt(p)})
        say(min(1.0, (start + len(chunk)) / n), f"sampling responses ({start + len(chunk):,} of {n:,})")
    return out
