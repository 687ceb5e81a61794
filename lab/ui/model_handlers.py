"""Inspect with a model: generate a response, or score pasted text, token by token.

Each token gets its entropy and probability under the model (by teacher
forcing), its role (planning, high-entropy, both, execution), and the page
shows the paper's two overlap figures.
"""

from __future__ import annotations

import logging
import threading
from functools import lru_cache

import numpy as np
import torch

from lab.analysis import InputError, check_text
from lab.autoset import is_prose
from training.hierarchy.coverage import coverage_warning
from training.hierarchy.grams import SGSetError
from training.hierarchy.metrics import high_entropy_mask, overlap_shares
from lab.render import legend_html, tokens_html
from training.hierarchy.tokens import token_masks_from_ids
from lab.ui.context import PUBLIC_MODELS, settings
from training.paths import PathError, check_model, checkpoint_model

log = logging.getLogger(__name__)
_load_lock = threading.Lock()
MAX_PROMPT_CHARS = 4000
MAX_SCORE_TOKENS = 2048
MAX_TEMPERATURE = 1.5  # the Generate tab's slider


def checkpoint_choices() -> list[str]:
    """``run/step-N`` (or ``sweep/arm/step-N``) for every saved adapter."""
    out = []
    root = settings().runs
    if root.exists():
        for adapter in sorted(root.rglob("checkpoints/step-*/adapter"), key=_by_run_then_step):
            out.append(str(adapter.parent.relative_to(root)).replace("/checkpoints/", "/"))
    return out


def _by_run_then_step(adapter) -> tuple[str, int]:
    """step-10 before step-15 before step-100 (text order put step-100 second)."""
    step = adapter.parent.name.removeprefix("step-")
    return str(adapter.parent.parent), int(step) if step.isdigit() else -1


@lru_cache(maxsize=2)
def _load(model: str, adapter: str):
    """The model, with ``adapter`` (a checkpoint's resolved adapter folder, or "") merged in."""
    from training.engine.modeling import load_model

    lm = load_model(model, device=None)
    if adapter:
        from peft import PeftModel

        lm.model = PeftModel.from_pretrained(lm.model, adapter).merge_and_unload().eval()
    return lm


def load(model: str, checkpoint: str = ""):
    """The model to generate or score with: every check passes before anything loads.

    The checkpoint is resolved inside the runs folder first (training/paths.py: plain names, no ``..``,
    no symlink out), then the model its run trained replaces ``model``, and only then is the model checked
    against a public lab's allow-list: a run folder's config.json cannot name a model the lab does not
    run, and a path outside the runs folder is refused before any model loads.
    """
    public = settings().public
    adapter = ""
    if checkpoint:
        folder, trained = checkpoint_model(settings().runs, checkpoint)
        model = trained or model
        adapter = str(folder / "adapter")
    try:
        model = check_model(model, public, PUBLIC_MODELS, settings().roots)
    except PathError as err:
        raise InputError(str(err) if not checkpoint else f"checkpoint {checkpoint!r}: {err}") from None
    with _load_lock:
        return _load(model, adapter)


def _seed(value) -> int:
    from lab.ui.train_handlers import whole

    try:
        seed = whole(0 if value is None else value, "seed")
    except ValueError as err:
        raise InputError(str(err)) from None
    if not 0 <= seed < 2 ** 63:  # what torch.Generator.manual_seed takes
        raise InputError(f"seed must be a whole number from 0 to 2^63 - 1, got {seed}")
    return seed


def _temperature(value) -> float:
    from lab.ui.train_handlers import number

    try:
        t = number(value, "temperature")
    except ValueError as err:
        raise InputError(str(err)) from None
    if not 0 <= t <= MAX_TEMPERATURE:
        raise InputError(f"temperature must be a number from 0 to {MAX_TEMPERATURE:g}, got {t:g}")
    return t


def _text_or_empty(value, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError(f"{what} must be text")
    return value


def token_view(lm, prompt_ids: list[int], response_ids: list[int], sg_set, fraction: float = 0.3):
    """``(html, stats markdown)`` for a response scored by teacher forcing."""
    from training.engine.scoring import score

    if not response_ids:
        raise InputError("the response is empty")
    ids = torch.tensor([response_ids])
    mask = torch.ones_like(ids, dtype=torch.bool)
    with torch.no_grad():
        logprobs, entropy = score(lm.model, [prompt_ids], ids, mask, lm.pad_id)
    entropy, prob = entropy[0].cpu().numpy(), logprobs[0].exp().cpu().numpy()
    planning = token_masks_from_ids(lm.tokenizer, [response_ids], sg_set)[0]
    high = high_entropy_mask(torch.from_numpy(entropy)[None], torch.ones(1, len(entropy), dtype=torch.bool),
                             fraction)[0].numpy()
    from training.hierarchy.tokens import decode_with_offsets

    text, offsets = decode_with_offsets(lm.tokenizer, response_ids)
    shares = overlap_shares(torch.from_numpy(planning)[None], torch.from_numpy(high)[None],
                            torch.ones(1, len(entropy), dtype=torch.bool))
    html = legend_html(("planning", "high", "both", "execution")) + \
        tokens_html(text, offsets, planning, high, entropy, prob)
    n = len(response_ids)
    warning = coverage_warning([text], float(planning.mean()), sg_set)

    def pct(x):
        return "-" if x != x else f"{x:.1%}"

    stats = "\n".join([
        "| figure | value |", "|---|---|",
        f"| tokens | {n} |",
        f"| **planning-token ratio** | **{planning.mean():.1%}** |",
        *([f"| ⚠️ planning coverage | {warning} |"] if warning else []),
        f"| high-entropy tokens (top {fraction:.0%} by entropy) | {int(high.sum())} |",
        f"| planning tokens that are high-entropy | {pct(shares['planning_high_share'])} |",
        f"| high-entropy tokens that are planning | {pct(shares['high_planning_share'])} |",
        f"| mean entropy, planning / execution (nats) | {_mean(entropy, planning):.3f} / {_mean(entropy, ~planning):.3f} |",
    ])
    return html, stats


def _mean(values: np.ndarray, mask: np.ndarray) -> float:
    return float(values[mask].mean()) if mask.any() else float("nan")


def generate(model: str, checkpoint: str, prompt: str, temperature: float, sg_name: str, seed: float = 0):
    """Sample one response to ``prompt`` and show it token by token: ``(html, stats, message)``."""
    from lab.ui.handlers import resolve_sg
    from training.engine.rollout import sample

    try:
        prompt = check_text(prompt)
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InputError(f"the prompt is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}")
        temperature, seed = _temperature(temperature), _seed(seed)
        checkpoint = _text_or_empty(checkpoint, "checkpoint")
        sg = resolve_sg(sg_name or "ground-truth", text=prompt)  # 'auto' follows the prompt's style
        lm = load(model, checkpoint)
        ids = lm.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        gen = torch.Generator(device=lm.device).manual_seed(seed)
        roll = sample(lm.model, [ids], max_new_tokens=256, temperature=temperature, eos_id=lm.eos_id,
                      pad_id=lm.pad_id, generator=gen)
        response = [t for t in roll.responses()[0] if t != lm.eos_id]
        html, stats = token_view(lm, ids, response, sg)
    except (InputError, SGSetError, PathError) as err:
        return "", "", f"⚠️ {err}"
    except Exception as err:  # noqa: BLE001 - load failures and the like become messages
        from training.engine.modeling import ModelLoadError

        if isinstance(err, ModelLoadError):
            return "", "", f"⚠️ {err}"
        log.exception("generate failed")
        return "", "", f"⚠️ Generation failed ({type(err).__name__}: {err})."
    return html, stats, ""


def score_text(model: str, checkpoint: str, text: str, sg_name: str, question: str = ""):
    """Pasted text scored by a model (teacher forcing) as the answer to ``question``: ``(html, stats, message)``.

    The model sees the question first, as in training (``Q: 47 * 23 = ?`` and
    ``A:``), so the first tokens of the answer get their real probabilities;
    without a question they follow a bare end-of-text token, where almost
    any first word looks improbable.
    """
    from lab.ui.handlers import resolve_sg

    try:
        text = check_text(text)
        question = _text_or_empty(question, "the question").rstrip()
        checkpoint = _text_or_empty(checkpoint, "checkpoint")
        if len(question) > MAX_PROMPT_CHARS:
            raise InputError(f"the question is {len(question):,} characters; the limit is {MAX_PROMPT_CHARS:,}")
        sg = resolve_sg(sg_name or "ground-truth", text=text)
        lm = load(model, checkpoint)
        answer = " " + text.lstrip() if question and not text[:1].isspace() else text
        ids = lm.tokenizer(answer, add_special_tokens=False)["input_ids"]
        context = lm.tokenizer(question, add_special_tokens=False)["input_ids"] if question else []
        limit = min(MAX_SCORE_TOKENS, getattr(lm.model.config, "max_position_embeddings", MAX_SCORE_TOKENS) - 1)
        if len(ids) + len(context) > limit:
            raise InputError(f"the question and text are {len(ids) + len(context):,} tokens; scoring with this "
                             f"model takes at most {limit:,}. Paste a shorter excerpt, or use 'Highlight planning "
                             "tokens' (no model)")
        html, stats = token_view(lm, context or [lm.eos_id], ids, sg)
    except (InputError, SGSetError, PathError) as err:
        return "", "", f"⚠️ {err}"
    except Exception as err:  # noqa: BLE001
        from training.engine.modeling import ModelLoadError

        if isinstance(err, ModelLoadError):
            return "", "", f"⚠️ {err}"
        log.exception("scoring failed")
        return "", "", f"⚠️ Scoring failed ({type(err).__name__}: {err})."
    note = ""
    if isinstance(model, str) and model.strip() in ("", "tiny") and is_prose(text):
        note = ("⚠️ The bundled tiny model learned only multiplication in the bundled task's words; its "
                "entropies and probabilities on other text mean little. Score natural-language reasoning with "
                "a hub model (e.g. Qwen/Qwen2.5-0.5B-Instruct) or use 'Highlight planning tokens'.")
    return html, stats, note
