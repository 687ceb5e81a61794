"""The model the arms of a run share: one base model with a LoRA adapter per arm,
and a plain copy of it that samples rollouts and gives the KL reference."""

from __future__ import annotations

import copy

import torch

from training import dist
from training.config import RunConfig
from training.engine.delta import DeltaLinear
from training.engine.modeling import enable_activation_checkpointing, enable_tf32, load_model
from training.tasks import default_model
from training.threads import pick_threads


class Backbone:
    """What the arms of a run share: the model (with one LoRA adapter per arm),
    its tokenizer, and a plain copy of the model for sampling.

    The plain copy samples and gives the reference log-probs: sampling through
    the LoRA wrappers costs about 40% more per token. Before each use it is
    set to base + an arm's LoRA delta (to sample) or the base alone (the KL
    reference). In float32 the delta is merged: its weights are rewritten
    from the frozen base (exactly, no drift). In bf16 (and fp16) a merge
    would round small deltas away (:mod:`training.engine.delta`), so its
    adapted projections are :class:`DeltaLinear` layers that read the
    arm's LoRA factors, unmerged: it computes what the policy computes.
    """

    def __init__(self, cfg: RunConfig, lm=None):
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.lm = lm or load_model(default_model(cfg.model, cfg.task), device=cfg.device or dist.device_for_rank())
        self.tok, self.device = self.lm.tokenizer, self.lm.device
        if lm is None and not cfg.threads:  # threads 0: one for a bundled model on a CPU (training/threads.py)
            torch.set_num_threads(pick_threads(0, default_model(cfg.model, cfg.task), self.device.type)
                                  or torch.get_num_threads())
        self.sampler = copy.deepcopy(self.lm.model).eval().requires_grad_(False)
        self.unmerged = next(self.sampler.parameters()).dtype != torch.float32
        if self.device.type == "cuda" and cfg.tf32 and self.unmerged:  # float32 products: LoRA's only
            enable_tf32()
        if cfg.activation_checkpointing:  # the trained model only: the sampler never runs a backward pass
            enable_activation_checkpointing(self.lm.model)
        self.base = self.lm.model
        self.model = None  # the peft model, once an adapter exists
        self.lm.model = self.sampler  # evaluation samples from the merged copy
        self._pairs: dict[str, list] = {}
        self.active: str | None = None

    def add_adapter(self, name: str, cfg: RunConfig) -> list[torch.nn.Parameter]:
        """Create the LoRA adapter ``name`` (initialised from ``cfg.seed``); returns its parameters."""
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0,
                          target_modules=[m.strip() for m in cfg.lora_targets.split(",") if m.strip()],
                          task_type="CAUSAL_LM",  # the base named for every arm (peft names only the first's)
                          base_model_name_or_path=getattr(self.base, "name_or_path", None))
        torch.manual_seed(cfg.seed)  # the same seed gives every arm the same initial adapter
        if self.model is None:
            self.model = get_peft_model(self.base, lora, adapter_name=name)
        else:
            self.model.add_adapter(name, lora)
        pairs = []
        for module_name, module in self.model.named_modules():
            if hasattr(module, "lora_A") and hasattr(module, "base_layer") and name in module.lora_A:
                pairs.append((module, self._sampler_layer(module_name[len("base_model.model."):])))
        if not pairs:
            raise ValueError(f"no LoRA layer matched lora_targets={cfg.lora_targets!r}")
        self._pairs[name] = pairs
        params = [p for n, p in self.model.named_parameters() if f".{name}." in n and "lora_" in n]
        for p in params:
            p.requires_grad_(True)
        self.activate(name)
        return params

    def activate(self, name: str) -> None:
        if self.active != name:
            self.model.base_model.set_adapter(name)
            self.active = name

    def _sampler_layer(self, name: str) -> torch.nn.Module:
        """The sampler's projection ``name``; in bf16 made a :class:`DeltaLinear` (once)."""
        layer = self.sampler.get_submodule(name)
        if self.unmerged and type(layer) is torch.nn.Linear:
            parent, _, child = name.rpartition(".")
            layer = DeltaLinear.wrap(layer)
            setattr(self.sampler.get_submodule(parent), child, layer)
        return layer

    @torch.no_grad()
    def sync_sampler(self, adapter: str | None) -> None:
        """Sampler := base + the adapter's LoRA delta, or the base alone (``None``)."""
        if self.unmerged:  # the weights stay the base's; each projection reads the adapter's factors
            for pairs in self._pairs.values():
                for _, target in pairs:
                    target.lora = None
            for lora_layer, target in self._pairs[adapter] if adapter is not None else ():
                target.lora = (lora_layer.lora_A[adapter].weight, lora_layer.lora_B[adapter].weight,
                               lora_layer.scaling[adapter])
            return
        for lora_layer, target in next(iter(self._pairs.values())) if adapter is None else self._pairs[adapter]:
            weight = lora_layer.base_layer.weight
            if adapter is None:
                target.weight.copy_(weight)
            else:
                target.weight.copy_(weight + lora_layer.get_delta_weight(adapter).to(weight.dtype))
