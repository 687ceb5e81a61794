"""Load a causal LM and its fast tokenizer: the bundled model, a local folder or a hub name.

Every failure a user can cause (no network, unknown name, not a causal LM,
no fast tokenizer) raises :class:`ModelLoadError` with a message saying what
to do; the CLI and the app show it as it is.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import torch

BUNDLED = Path(__file__).resolve().parents[2] / "assets" / "tiny-model"


class ModelLoadError(RuntimeError):
    """A model that cannot be loaded; the message says why and what to do."""


@dataclass
class LoadedModel:
    model: object  # a transformers PreTrainedModel (causal LM)
    tokenizer: object  # a transformers fast tokenizer
    name: str
    device: torch.device

    @property
    def eos_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def pad_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id


def pick_device(device: str | None = None) -> torch.device:
    """``device``, or the GPU if there is one, else the CPU; always with an index (``cuda:0``, see
    :func:`with_index`)."""
    return with_index(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def with_index(device: str | torch.device, current: int | None = None) -> torch.device:
    """``device`` with the index its tensors report: ``cuda`` -> ``cuda:0`` (the current device;
    ``current`` gives it instead, so this runs without CUDA). ``torch.device("cuda")`` is not equal
    to ``torch.device("cuda:0")``, the device of every CUDA tensor, so a comparison with an
    unindexed device fails even on the same GPU.

    >>> with_index("cuda", current=0), with_index("cuda:1"), with_index("cpu")
    (device(type='cuda', index=0), device(type='cuda', index=1), device(type='cpu'))
    """
    device = torch.device(device)
    if device.index is not None or device.type in ("cpu", "meta"):
        return device
    if current is None:
        current = torch.cuda.current_device() if device.type == "cuda" else 0
    return torch.device(device.type, current)


def pick_dtype(device: torch.device, dtype: str | None = None) -> torch.dtype:
    """bf16 on GPUs that support it, else float32 (``dtype`` overrides)."""
    if dtype:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def enable_tf32() -> None:
    """float32 matrix products on CUDA in TF32 (tensor cores; 10-bit mantissa, float32 range).

    In a bf16 model the float32 products are LoRA's (``x A^T``, ``(x A^T) B^T``
    and their gradients): TF32 rounds their inputs to about 3 decimal
    digits, far below what a LoRA delta's own size needs, and runs them
    several times faster. A process-wide setting (``RunConfig.tf32``).
    """
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):  # torch >= 2.9; mixing it with allow_tf32 is an error there
        matmul.fp32_precision = "tf32"
    else:
        matmul.allow_tf32 = True


def enable_activation_checkpointing(model) -> None:
    """Recompute each decoder layer's activations in the backward pass (non-reentrant).

    transformers 5 renamed ``gradient_checkpointing_enable`` to
    ``activation_checkpointing_enable``; either is used, whichever the
    installed version has. :mod:`training.engine.lean_forward` honours the same
    per-layer flags.
    """
    enable = getattr(model, "activation_checkpointing_enable", None)
    if enable is not None:
        enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


BUNDLED_NAMES = ("tiny-planning", "tiny-intermediate", "tiny-execution")  # the task regimes' models


def resolve_name(name: str | None) -> str:
    """``None``, ``"tiny"`` or ``"bundled"`` mean the bundled (execution-bound) model; ``"tiny-planning"``
    and the other regimes' names (:data:`BUNDLED_NAMES`) their folders in ``assets/``."""
    if name in (None, "", "tiny", "bundled"):
        return str(BUNDLED)
    if name in BUNDLED_NAMES:
        return str(BUNDLED.parent / name)
    return name


def load_model(name: str | None = None, device: str | None = None, dtype: str | None = None) -> LoadedModel:
    """Load a causal LM and its fast tokenizer, or raise :class:`ModelLoadError`."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    path = resolve_name(name)
    dev = pick_device(device)
    local = Path(path).exists()
    if not local and (path.startswith((".", "/", "~")) or path.count("/") > 1):
        raise ModelLoadError(f"{path}: no such model folder")
    # Offline, cached copies still load; anything else fails fast instead of
    # retrying the network for half a minute.
    cached_only = not local and not hub_reachable()
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=cached_only)
    except (OSError, ValueError) as err:
        raise ModelLoadError(_explain(path, err, local)) from None
    archs = getattr(config, "architectures", None) or []
    if archs and not any("CausalLM" in a or "LMHead" in a for a in archs):
        raise ModelLoadError(f"{path} is a {archs[0]} ({config.model_type}) model, not a causal language "
                             "model; pick a text-generation model such as Qwen/Qwen2.5-0.5B-Instruct")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, dtype=pick_dtype(dev, dtype),
                                                     local_files_only=cached_only)
    except ValueError as err:
        if "Unrecognized configuration class" in str(err) or "AutoModelForCausalLM" in str(err):
            raise ModelLoadError(f"{path} is a {type(config).__name__.replace('Config', '')} model, not a causal "
                                 "language model; pick a text-generation model") from None
        raise ModelLoadError(f"{path}: cannot be loaded ({err})") from None
    except OSError as err:
        raise ModelLoadError(_explain(path, err, local)) from None
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=cached_only)
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"{path}: its tokenizer cannot be loaded ({err})") from None
    if not getattr(tokenizer, "is_fast", False):
        raise ModelLoadError(f"{path}: needs a fast tokenizer (tokenizer.json) for token offsets")
    if tokenizer.eos_token_id is None:
        raise ModelLoadError(f"{path}: its tokenizer has no end-of-sequence token")
    model.to(dev).eval()
    return LoadedModel(model=model, tokenizer=tokenizer, name=path, device=dev)


@lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face Hub answers a TCP connect (False when offline)."""
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return False
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _explain(path: str, err: Exception, local: bool) -> str:
    text = str(err)
    if local:
        return f"{path}: not a model folder (no usable config.json): {text.splitlines()[0] if text else err}"
    if not hub_reachable() or any(s in text for s in ("offline", "Offline", "connect", "Network", "internet")):
        return (f"{path}: not in the local cache and the hub cannot be reached (no network?). "
                "Download it on a machine with a network, or use a local folder or the bundled model.")
    if any(s in text for s in ("not a valid model identifier", "404", "Repository Not Found", "does not exist")):
        return f"{path}: no such model on the Hugging Face Hub; check the name (e.g. Qwen/Qwen2.5-0.5B-Instruct)"
    return f"{path}: cannot be loaded ({text.splitlines()[0] if text else type(err).__name__})"
