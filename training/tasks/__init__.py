"""Tasks: problems with an exact reward. ``get_task(name)`` returns one.

A task gives prompts, rewards (``str -> float``, pure), an error-type
classifier and, when it knows them, the ground-truth planning phrases and its
plans (:class:`Plans`: which plan a response chose and whether it fits the
problem), from which the loop and the evaluation compute plan-level figures.

The bundled multiplication task comes in *regimes* (README, "Task regimes"),
each with its own bundled model in ``assets/``:

==========================  ====================  ==========================
task                        regime                bundled model
==========================  ====================  ==========================
``multiply``                execution-bound       ``assets/tiny-model``
``multiply-planning``       carry-safe            ``assets/tiny-planning``
``multiply-intermediate``   15%-carry-error       ``assets/tiny-intermediate``
``multiply-execution``      50%-carry-error       ``assets/tiny-execution``
==========================  ====================  ==========================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from training.hierarchy.grams import SGSet, SGSetError, StrategicGram, list_presets, load_preset, load_sg_set
from training.tasks import multiply, shortcut

TASKS = ("multiply", *shortcut.REGIMES, "gsm8k", "math", "jsonl:PATH")
BUNDLED_MODELS = {"multiply": "tiny-model", "multiply-planning": "tiny-planning",
                  "multiply-intermediate": "tiny-intermediate", "multiply-execution": "tiny-execution"}
REGIME_LABELS = {"multiply": "execution-bound", **{k: r.label for k, r in shortcut.REGIMES.items()}}


@dataclass(frozen=True)
class Plans:
    """What a task knows about plans: used for plan-level figures (:mod:`training.tasks.plan_metrics`)."""

    strategies: tuple[str, ...]
    plan_of: Callable  # response -> first plan or None
    fits: Callable  # (problem, plan) -> bool
    moves_of: Callable  # response -> planning moves in order
    verify_moves: tuple[str, ...]  # moves that check a result
    backtrack_moves: tuple[str, ...]  # moves that revise or abandon a plan


@dataclass(frozen=True)
class Task:
    name: str
    problems: Callable  # (split, n=None, seed=0) -> list of problems
    prompt: Callable  # problem -> prompt text (raw, no chat template)
    instruction: Callable  # problem -> instruction for chat models
    reward: Callable  # (problem, response) -> float in [0, 1]
    classify: Callable  # (problem, response) -> "correct" | "execution" | "strategy" (or "error")
    answer: Callable  # problem -> the reference answer, for display
    plans: Plans | None = None
    phrases: dict | None = None  # move -> (tag, paraphrases): the exact planning phrases, when known
    decision_spans: Callable | None = None  # response -> character spans of computed results
    legacy_classify: Callable | None = None  # the first study's error rule, where it differs
    classify_v2: Callable | None = None  # error taxonomy v2: a worse-than-best fitting plan is a planning error
    # (training.tasks.shortcut.classify_v2); the records' errors/* stay version 1, so old records read the same

    @property
    def error_kinds(self) -> tuple[str, ...]:
        return ("execution", "strategy") if self.plans is not None else ("error",)

    def ground_truth_sg_set(self) -> SGSet | None:
        if self.phrases is None:
            return None
        grams = []
        for cluster, (move, (tag, phrases)) in enumerate(self.phrases.items()):
            grams += [StrategicGram(phrase=p, cluster=cluster, tag=tag) for p in phrases]
        return SGSet(name=f"{self.name}-ground-truth", grams=tuple(grams),
                     description=f"The planning phrases of the bundled task {self.name!r} (exact ground truth).",
                     source=f"training/tasks/{'multiply' if self.name == 'multiply' else 'shortcut'}.py")


def multiply_sg_set() -> SGSet:
    """Every planning phrase of the bundled (legacy) task, tagged, one cluster per move."""
    return get_task("multiply").ground_truth_sg_set()


def default_model(model: str | None, task: str) -> str:
    """``'tiny'`` (or nothing) means the bundled model of ``task``'s regime; other names pass through."""
    if model in (None, "", "tiny", "bundled"):
        return "tiny" if BUNDLED_MODELS.get(task, "tiny-model") == "tiny-model" else BUNDLED_MODELS[task]
    return model


def _multiply_task(name: str, module, problems: Callable, plans: Plans, legacy: Callable | None,
                   v2: Callable | None = None) -> Task:
    return Task(
        name=name,
        problems=problems,
        prompt=lambda p: p.prompt,
        instruction=lambda p: (f"What is {p.a} * {p.b}? Work it out step by step and finish with "
                               "'So the answer is N.'"),
        reward=multiply.reward,
        classify=module.classify,
        answer=lambda p: p.answer,
        plans=plans,
        phrases=module.PHRASES,
        decision_spans=multiply.decision_spans,
        legacy_classify=legacy,
        classify_v2=v2,
    )


def get_task(name: str) -> Task:
    if name in ("gsm8k", "math") or name.startswith("jsonl:"):
        from training.tasks import math_qa

        math_qa.load(name)  # fail now, with a message, if the data cannot be read
        return Task(
            name=name,
            problems=lambda split, n=None, seed=0: math_qa.problems(name, split, n, seed),
            prompt=lambda p: f"Question: {p.question}\nAnswer:",
            instruction=lambda p: math_qa.INSTRUCTION.format(question=p.question),
            reward=lambda p, r: 1.0 if math_qa.is_correct(p.answer, r) else 0.0,
            classify=lambda p, r: "correct" if math_qa.is_correct(p.answer, r) else "error",
            answer=lambda p: p.answer,
        )
    if name == "multiply":
        plans = Plans(multiply.STRATEGIES, multiply.plan_of, multiply.fits, multiply.moves_of,
                      verify_moves=("verify",), backtrack_moves=("backtrack",))
        return _multiply_task(name, multiply, multiply.problems, plans, multiply.classify_by_statements)
    if name in shortcut.REGIMES:
        plans = Plans(shortcut.STRATEGIES, shortcut.plan_of, shortcut.fits, shortcut.moves_of,
                      verify_moves=("verify",), backtrack_moves=("verify_fix",))
        return _multiply_task(name, shortcut, shortcut.problems, plans, None, shortcut.classify_v2)
    raise ValueError(f"unknown task {name!r}; available: {', '.join(TASKS)}")


def resolve_sg_set(name: str, task: Task) -> SGSet:
    """A run's planning phrases: 'ground-truth' (the task's), a preset name, or an SG set file."""
    if name == "ground-truth":
        sg = task.ground_truth_sg_set()
        if sg is None:
            raise SGSetError(f"task {task.name!r} has no ground-truth planning phrases; pick an SG set "
                             f"({', '.join(list_presets())} or a mined file)")
        return sg
    if name in list_presets():
        return load_preset(name)
    return load_sg_set(name)
