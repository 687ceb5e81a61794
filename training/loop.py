"""The training loop: LoRA GRPO / HICRA, plain and in order.

One step, as in the README:

1. pick ``prompts_per_step`` training problems (seeded by run seed and step);
2. sample ``group_size`` responses to each (seeded likewise);
3. score them: reward, error type, planning mask;
4. group advantages (mean-centred), then the credit assignment of ``algo``;
5. teacher-forced forward pass: log-probs for the loss, entropies and NLLs
   for the metrics; the base model gives the KL (every step when it is
   penalised, every ``kl_every`` steps when it is only reported);
6. clipped policy loss, backward, clip, AdamW step on the LoRA weights
   (a non-finite loss, gradient or weight stops the run: :mod:`training.guard`);
7. one metrics record per step, an eval record every ``eval_every`` steps
   (a policy whose entropy or reward stays pinned stops the run: :mod:`training.guard`).

:class:`Trainer` holds an arm's state and takes its steps;
:mod:`training.arms` drives trainers and writes their run directories.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from training.hierarchy.coverage import coverage_warning
from training.hierarchy.detector import planning_label, planning_matcher
from training.hierarchy.metrics import high_entropy_mask, masked_mean, overlap_shares, role_means
from training.hierarchy.semantic import conditional_other_entropy, semantic_entropy
from training.hierarchy.tokens import span_masks_from_ids, token_masks_from_ids
from training import algos, dist, guard
from training.config import RunConfig
from training.evaluate import evaluate, prompt_ids, strip_eos
from training.engine.backbone import Backbone
from training.engine.rollout import sample
from training.engine.scoring import score
from training.tasks import get_task, resolve_sg_set
from training.tasks.plan_metrics import plan_figures


@dataclass(frozen=True)
class Episode:
    """One step's rollouts, scored: what the update needs, nothing more."""

    prompts: list[list[int]]  # (N,) prompt ids
    response_ids: torch.Tensor  # (N, T)
    response_mask: torch.Tensor  # (N, T) bool, generated tokens (EOS included)
    texts: list[str]  # (N,) decoded responses
    rewards: torch.Tensor  # (N,)
    kinds: list[str]  # (N,) correct / execution / strategy
    planning: torch.Tensor  # (N, T) bool
    decision: torch.Tensor  # (N, T) bool: digits of computed results, where the task knows them
    problems: list  # (N,) the problem of each row
    sampler_logprobs: torch.Tensor | None = None  # (N, T) the sampler's log-probs of the tokens (temperature 1)

    def groups(self, index: list[int], group_size: int) -> "Episode":
        """The rows of the groups ``index`` (a process's share of a batch)."""
        rows = [g * group_size + j for g in index for j in range(group_size)]
        pick = torch.tensor(rows, dtype=torch.long)
        return Episode([self.prompts[r] for r in rows], self.response_ids[pick], self.response_mask[pick],
                       [self.texts[r] for r in rows], self.rewards[pick], [self.kinds[r] for r in rows],
                       self.planning[pick], self.decision[pick], [self.problems[r] for r in rows],
                       self.sampler_logprobs[pick] if self.sampler_logprobs is not None else None)


class Trainer:
    """One arm: an adapter on a (possibly shared) backbone, its optimizer and state."""

    def __init__(self, cfg: RunConfig, backbone: Backbone | None = None, adapter: str = "default"):
        self.cfg = cfg.validate()
        self.task = get_task(cfg.task)
        self.sg_set = resolve_sg_set(cfg.sg_set, self.task)
        self.matcher = planning_matcher(cfg.detector, self.sg_set)  # the SG set's matcher, or the detector on it
        self.planning = planning_label(cfg.detector, self.sg_set)  # one line: status.json, Inspect
        self.backbone = backbone or Backbone(cfg)
        self.adapter = adapter
        self.lm, self.tok, self.device = self.backbone.lm, self.backbone.tok, self.backbone.device
        self.sampler = self.backbone.sampler
        self.params = self.backbone.add_adapter(adapter, cfg)
        self.model = self.backbone.model
        # fused: one kernel for all the LoRA tensors on a GPU (instead of several per tensor)
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=cfg.weight_decay,
                                     fused=self.device.type == "cuda" or None)
        self.train_problems = self.task.problems("train")
        if cfg.prompts_per_step > len(self.train_problems):  # a step samples its prompts without repeats
            raise ValueError(f"prompts_per_step ({cfg.prompts_per_step}) is more than the {len(self.train_problems)} "
                             f"training problems of task {cfg.task!r}")
        self.rank, self.world = dist.world()
        if cfg.prompts_per_step % self.world:
            raise ValueError(f"prompts_per_step ({cfg.prompts_per_step}) must be a multiple of the number of "
                             f"processes ({self.world})")
        self.step = 0
        self.baseline: dict[str, float] = {}  # step-0 mean NLLs, for relative perplexity
        # the collapse guard; its uniform maximum is ln of the logits' width (the model's vocabulary)
        self.collapse = guard.CollapseWatch(cfg.collapse_entropy, cfg.collapse_steps, cfg.collapse_reward_steps,
                                            self.lm.model.config.vocab_size, cfg.lr, cfg.max_grad_norm)

    def sync_sampler(self, merged: bool) -> None:
        self.backbone.sync_sampler(self.adapter if merged else None)

    # ------------------------------------------------------------ step parts

    def lr_at(self, step: int) -> float:
        return self.cfg.lr * min(1.0, (step + 1) / max(1, self.cfg.warmup))

    def collect(self, step: int) -> Episode:
        cfg = self.cfg
        rng = random.Random(cfg.seed * 1_000_003 + step)
        problems = rng.sample(self.train_problems, cfg.prompts_per_step)[self.rank::self.world]
        prompts = [prompt_ids(self.lm, self.task, p) for p in problems for _ in range(cfg.group_size)]
        gen = torch.Generator(device=self.device).manual_seed(cfg.seed * 1_000_003 + step + self.rank * 1_000_000_007)
        self.sync_sampler(merged=True)
        roll = sample(self.sampler, prompts, max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                      eos_id=self.lm.eos_id, pad_id=self.lm.pad_id, generator=gen, lean=cfg.lean_decoder,
                      graphs=cfg.cuda_graphs)
        responses = roll.responses()
        texts = [self.tok.decode(strip_eos(r, self.lm.eos_id), skip_special_tokens=True) for r in responses]
        flat_problems = [p for p in problems for _ in range(cfg.group_size)]
        rewards = torch.tensor([self.task.reward(p, t) for p, t in zip(flat_problems, texts)])
        kinds = [self.task.classify(p, t) for p, t in zip(flat_problems, texts)]
        planning = torch.zeros_like(roll.response_mask)
        for i, m in enumerate(token_masks_from_ids(self.tok, responses, self.matcher)):
            planning[i, :len(m)] = torch.from_numpy(m)
        decision = torch.zeros_like(roll.response_mask)
        if self.task.decision_spans is not None:
            for i, m in enumerate(span_masks_from_ids(self.tok, responses, self.task.decision_spans)):
                decision[i, :len(m)] = torch.from_numpy(m)
        return Episode(prompts, roll.response_ids, roll.response_mask, texts, rewards, kinds, planning,
                       decision & ~planning, flat_problems, roll.logprobs)

    def credit(self, ep: Episode, advantages: torch.Tensor, entropy: torch.Tensor, high: torch.Tensor,
               step: int, groups: list[int]) -> torch.Tensor:
        """Per-token advantages (N, T) for the configured algorithm.

        ``ep`` holds whole groups; ``groups`` are their indices in the step's
        whole batch (over all processes), which seed the placebo's random
        spans group by group: the same spans however the batch is split.
        """
        cfg, valid = self.cfg, ep.response_mask
        tokens = algos.broadcast_to_tokens(advantages, valid)
        if cfg.algo == "grpo":
            return tokens
        if cfg.algo == "hicra":
            mask = ep.planning
        elif cfg.algo == "hicra-entropy":
            mask = high
        elif cfg.algo == "hicra-entropy-matched":  # the planning mask's budget, spent on high entropy
            mask = algos.matched_entropy_mask(entropy, ep.planning, valid)
        elif cfg.algo == "hicra-released":
            mask = algos.released_code_mask(advantages, ep.planning, high, valid, cfg.group_size)
        else:  # hicra-placebo
            g = cfg.group_size
            mask = torch.cat([algos.placebo_mask(ep.planning[i * g:(i + 1) * g], valid[i * g:(i + 1) * g],
                                                 torch.Generator().manual_seed(
                                                     cfg.seed * 7_919 + step * 100_003 + group))
                              for i, group in enumerate(groups)])
        return algos.hicra_advantages(tokens, mask & valid, cfg.alpha)

    def update(self, ep: Episode, step: int) -> dict:
        """One optimizer step (per pass) on an episode, in micro-batches of whole groups.

        Every micro-batch's loss is divided by the whole batch's token count
        (over all processes), so the accumulated gradient is the whole
        batch's: micro-batching only trades activation memory for time.

        A group whose rewards are all equal has zero advantage on every
        token (under every credit assignment). With one pass over the batch
        (ratio 1) and no KL term in the loss its gradient is exactly zero,
        so such groups get a forward pass without gradients, for their
        metrics, and no backward pass.
        """
        cfg = self.cfg
        group = cfg.group_size
        n_groups = len(ep.rewards) // group
        per = cfg.micro_batch_groups or n_groups
        chunks = plan_parts(ep.rewards, group, per, skip_still=cfg.updates_per_batch == 1 and cfg.kl_coef == 0)
        parts = [ep.groups(c, group) for c, _ in chunks]
        needs_grad = [grad for _, grad in chunks]
        valid = ep.response_mask
        denominator = dist.total(float(valid.sum()) if cfg.aggregation == "token-mean"
                                 else float((valid.sum(-1) > 0).sum()))
        self.backbone.activate(self.adapter)
        self.model.train()
        with torch.no_grad():
            ref: list[torch.Tensor | None] = [None] * len(parts)
            if cfg.kl_coef > 0 or step % cfg.kl_every == 0:  # else the KL is neither used nor reported
                self.sync_sampler(merged=False)
                ref = [score(self.sampler, p.prompts, p.response_ids, p.response_mask, self.lm.pad_id, False,
                             lean=cfg.lean_decoder)[0]
                       for p in parts]
            old = [score(self.model, p.prompts, p.response_ids, p.response_mask, self.lm.pad_id, False,
                         lean=cfg.lean_decoder)[0]
                   for p in parts] if cfg.updates_per_batch > 1 else None
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(step)
        credit: list[torch.Tensor] = []
        seen: dict[str, list] = {"entropy": [], "nll": [], "high": []}
        metrics: dict = {}
        for update in range(cfg.updates_per_batch):
            self.opt.zero_grad(set_to_none=True)
            sums: dict[str, float] = {}
            for k, part in enumerate(parts):
                mask = part.response_mask
                with torch.enable_grad() if needs_grad[k] else torch.no_grad():
                    logprobs, entropy = score(self.model, part.prompts, part.response_ids, mask, self.lm.pad_id,
                                              with_entropy=update == 0, lean=cfg.lean_decoder)
                    if update == 0:
                        entropy = entropy.cpu()
                        high = high_entropy_mask(entropy, mask, cfg.high_entropy_fraction)
                        adv = algos.group_advantages(part.rewards, group, cfg.scale_by_std)
                        groups = [g * self.world + self.rank for g in chunks[k][0]]  # see collect()
                        credit.append(self.credit(part, adv, entropy, high, step, groups))
                        seen["entropy"].append(entropy)
                        seen["nll"].append(-logprobs.detach().cpu())
                        seen["high"].append(high)
                    loss, part_metrics = algos.policy_loss(
                        logprobs, old[k] if old else logprobs.detach(), credit[k].to(logprobs.device),
                        mask.to(logprobs.device), cfg.clip_low, cfg.clip_high, cfg.aggregation,
                        ref_logprobs=ref[k], kl_coef=cfg.kl_coef, denominator=denominator)
                if needs_grad[k]:
                    loss.backward()
                share = float(mask.sum()) / max(float(valid.sum()), 1.0)  # this part's share of the tokens
                for key, value in part_metrics.items():
                    if key == "ratio/max":
                        sums[key] = max(sums.get(key, value), value)
                    elif key.startswith(("loss/", "kl/")):  # already divided by the batch's count
                        sums[key] = sums.get(key, 0.0) + value
                    else:  # fractions and means over this part's tokens
                        sums[key] = sums.get(key, 0.0) + value * share
            for p in self.params:  # skipped parts leave no gradient: it is zero, not absent (AdamW still steps)
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            dist.sum_gradients(self.params)
            norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm or float("inf"))
            guard.check_update(step, sums, float(norm), cfg.lr, self.sampler.dtype)  # weights still good
            self.opt.step()
            guard.check_weights(step, self.params, cfg.lr, self.sampler.dtype)
            metrics.update(sums)
            metrics["grad/norm"] = float(norm)
            if update == 0:
                # the parts' rows, back in the episode's order
                back = torch.tensor([g * group + j for c, _ in chunks for g in c for j in range(group)]).argsort()
                metrics.update(self.token_metrics(ep, torch.cat(seen["entropy"])[back], torch.cat(seen["nll"])[back],
                                                  torch.cat(seen["high"])[back], torch.cat(credit).cpu()[back]))
        metrics["lr"] = self.lr_at(step)
        return metrics

    def token_metrics(self, ep: Episode, entropy, nll, high, token_adv) -> dict:
        valid = ep.response_mask
        ent = role_means(entropy, ep.planning, valid)
        nl = role_means(nll, ep.planning, valid)
        if not self.baseline:
            self.baseline = {"planning": nl["planning"], "execution": nl["execution"]}
        out = {
            "entropy/planning": ent["planning"], "entropy/execution": ent["execution"], "entropy/all": ent["all"],
            "nll/planning": nl["planning"], "nll/execution": nl["execution"],
            "ppl/planning": _exp(nl["planning"]), "ppl/execution": _exp(nl["execution"]),
            "ppl_rel/planning": _exp(nl["planning"] - self.baseline["planning"]),
            "ppl_rel/execution": _exp(nl["execution"] - self.baseline["execution"]),
            "planning/ratio": float((ep.planning & valid).sum() / valid.sum().clamp(min=1)),
            # execution at its decision positions (the digits of computed results), where phase 1 shows
            **({"entropy/decision": masked_mean(entropy, ep.decision & valid).item(),
                "nll/decision": masked_mean(nll, ep.decision & valid).item()} if ep.decision.any() else {}),
            "adv/planning_mean": float((token_adv * ep.planning).sum() / ep.planning.sum().clamp(min=1)),
        }
        out.update({f"overlap/{k}": v for k, v in overlap_shares(ep.planning, high, valid).items()})
        if ep.sampler_logprobs is not None:  # the sampler and the policy, same weights: ~0 unless they drift apart
            out["sampler/logp_gap"] = float(((ep.sampler_logprobs + nll).abs() * valid).sum() / valid.sum().clamp(min=1))
        return out

    # ------------------------------------------------------------- one step

    def train_step(self) -> dict:
        step, t0 = self.step, time.time()
        ep = self.collect(step)
        t_roll = time.time() - t0
        metrics = self.update(ep, step)
        elapsed = time.time() - t0
        n_tokens = int(ep.response_mask.sum())
        flat = flat_groups(ep.rewards, self.cfg.group_size)
        record = {
            "kind": "step", "step": step, "time": time.time(),
            "reward/mean": dist.total(float(ep.rewards.sum())) / dist.total(len(ep.rewards)),
            "acc/batch": dist.total(float((ep.rewards >= 1.0).sum())) / dist.total(len(ep.rewards)),
            # share of groups whose rewards are all equal: no learning signal (no backward pass, see update())
            "reward/flat_groups": dist.total(sum(flat)) / dist.total(len(flat)),
            "len/mean": n_tokens / len(ep.texts),
            # tasks without plan labels count wrong answers as errors/incorrect (the record's name since v1)
            **{f"errors/{'incorrect' if k == 'error' else k}": ep.kinds.count(k) for k in self.task.error_kinds},
            **self.task_figures(ep.problems, ep.texts),
            "semantic/entropy_bits": semantic_entropy(ep.texts, self.matcher),
            "semantic/other_conditional_bits": conditional_other_entropy(ep.texts, self.matcher),
            **({"semantic/cluster_bits": semantic_entropy(ep.texts, self.sg_set, level="cluster")}
               if self.sg_set.has_clusters else {}),
            **metrics,
            "time/step_s": elapsed, "time/rollout_s": t_roll,
            "speed/tokens_per_s": n_tokens / max(elapsed, 1e-9),
        }
        warning = coverage_warning(ep.texts, record["planning/ratio"], self.matcher, self.cfg.algo)
        if warning:  # the run goes on (it is a valid experiment), and says so
            record["planning/warning"] = warning
        self.step += 1
        self.collapse.check(step, record)  # a collapsed policy: Collapsed, with this record (training/guard.py)
        return record

    def task_figures(self, problems: list, texts: list[str]) -> dict:
        """Plan-level figures and the first study's error counts, where the task has them."""
        out = {}
        if self.task.plans is not None:
            out.update(plan_figures(self.task.plans, problems, texts))
        if self.task.legacy_classify is not None:
            kinds = [self.task.legacy_classify(p, t) for p, t in zip(problems, texts)]
            out.update({f"errors_by_statement/{k}": kinds.count(k) for k in ("execution", "strategy")})
        if self.task.classify_v2 is not None:  # taxonomy v2 (training.tasks.shortcut.classify_v2) beside v1
            kinds = [self.task.classify_v2(p, t) for p, t in zip(problems, texts)]
            out.update({f"errors_v2/{k}": kinds.count(k) for k in ("execution", "strategy")})
        return out

    def eval_record(self) -> tuple[dict, list[dict]]:
        cfg = self.cfg
        self.sync_sampler(merged=True)
        seed = cfg.seed if cfg.eval_seed < 0 else cfg.eval_seed
        figures, texts = evaluate(self.lm, self.task, n=cfg.eval_n, samples=cfg.eval_samples,
                                  temperature=cfg.eval_temperature, seed=seed,
                                  sg_set=self.sg_set if cfg.detector == "sg" else self.matcher,
                                  max_new_tokens=cfg.max_new_tokens, lean=cfg.lean_decoder,
                                  graphs=cfg.cuda_graphs)
        record = {"kind": "eval", "step": self.step, "time": time.time(),
                  "eval/accuracy": figures["accuracy"], "eval/pass_at_k": figures["pass_at_k"],
                  "eval/mean_length": figures["mean_length"], "eval/planning_ratio": figures["planning_ratio"],
                  "eval/semantic_entropy_bits": figures["semantic_entropy_bits"],
                  **{f"eval/errors/{k}": v for k, v in figures["errors"].items()},
                  **{f"eval/{k}": v for k, v in figures.get("plan_figures", {}).items()},
                  "time/eval_s": figures["seconds"]}
        problems = self.task.problems("eval", n=cfg.eval_n, seed=0)
        return record, kept_samples(self.step, problems, texts, self.task, cfg.eval_keep_samples)

    # ----------------------------------------------------------- checkpoints

    def save(self, path: Path) -> None:
        """LoRA adapter in peft's format (``adapter/``), optimizer and run state."""
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        adapter_dir = path / "adapter"
        adapter_dir.mkdir(parents=True, exist_ok=True)
        self.model.peft_config[self.adapter].save_pretrained(str(adapter_dir))
        weights = get_peft_model_state_dict(self.model, adapter_name=self.adapter)
        save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()},
                  str(adapter_dir / "adapter_model.safetensors"))
        torch.save({"step": self.step, "optimizer": self.opt.state_dict(), "baseline": self.baseline,
                    "torch_rng": torch.get_rng_state()}, path / "state.tmp")
        (path / "state.tmp").replace(path / "state.pt")

    def load(self, path: Path) -> None:
        """Both files are read before either is applied, so an unreadable checkpoint changes nothing."""
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        weights = load_file(str(path / "adapter" / "adapter_model.safetensors"))
        state = torch.load(path / "state.pt", weights_only=False)
        set_peft_model_state_dict(self.model, weights, adapter_name=self.adapter)
        self.opt.load_state_dict(state["optimizer"])
        self.step, self.baseline = state["step"], state["baseline"]
        torch.set_rng_state(state["torch_rng"])


def kept_samples(step: int, problems: list, texts: list[list[str]], task, keep: int) -> list[dict]:
    """The evaluation samples a run keeps: sample 0 of every problem first, then sample 1, ...

    Problems come in the split's fixed order, so every arm (and every
    evaluation) keeps the same problems: ``problem`` and ``sample`` index
    them, and the app lines the arms up by them.
    """
    order = [(i, j) for j in range(max(map(len, texts), default=0)) for i in range(len(problems))
             if j < len(texts[i])][:max(keep, 0)]
    return [{"step": step, "problem": i, "sample": j, "prompt": task.prompt(problems[i]), "text": texts[i][j],
             "correct": task.reward(problems[i], texts[i][j]) >= 1.0, "error": task.classify(problems[i], texts[i][j])}
            for i, j in order]


def flat_groups(rewards: torch.Tensor, group_size: int) -> list[bool]:
    """Per group: are all its rewards equal (so its advantages are all zero)?

    >>> flat_groups(torch.tensor([1., 1., 0., 1.]), 2)
    [True, False]
    """
    r = rewards.view(-1, group_size)  # (groups, G)
    return (r == r[:, :1]).all(-1).tolist()


def plan_parts(rewards: torch.Tensor, group_size: int, per: int, skip_still: bool) -> list[tuple[list[int], bool]]:
    """Micro-batches of an update: ``(group indices, needs a backward pass)`` each, at most ``per`` groups.

    With ``skip_still``, groups whose rewards are all equal (zero advantage
    everywhere) go into parts of their own that need no backward pass;
    the others keep their order. Without it: every group, in order, with
    gradients.

    >>> plan_parts(torch.tensor([1., 1., 0., 1., 0., 0., 1., 0.]), 2, 2, skip_still=True)
    [([1, 3], True), ([0, 2], False)]
    """
    n_groups = len(rewards) // group_size
    flat = flat_groups(rewards, group_size) if skip_still else [False] * n_groups
    moving = [g for g in range(n_groups) if not flat[g]]
    still = [g for g in range(n_groups) if flat[g]]
    return [(moving[s:s + per], True) for s in range(0, len(moving), per)] + \
        [(still[s:s + per], False) for s in range(0, len(still), per)]


def _exp(x: float) -> float:
    return math.exp(x) if math.isfinite(x) else float("nan")
