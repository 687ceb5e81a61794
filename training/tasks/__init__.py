"""Tasks: problems with an exact reward. ``get_task(name)`` returns one.

A task gives prompts, rewards (``str -> float``, pure), an error-type
classifier and, when it knows them, the ground-truth planning phrases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lab.grams import SGSet, SGSetError, StrategicGram, list_presets, load_preset, load_sg_set
from training.tasks import multiply

TASKS = ("multiply", "gsm8k", "math", "jsonl:PATH")


@dataclass(frozen=True)
class Task:
    name: str
    problems: Callable  # (split, n=None, seed=0) -> list of problems
    prompt: Callable  # problem -> prompt text (raw, no chat template)
    instruction: Callable  # problem -> instruction for chat models
    reward: Callable  # (problem, response) -> float in [0, 1]
    classify: Callable  # (problem, response) -> "correct" | "execution" | "strategy"
    answer: Callable  # problem -> the reference answer, for display

    def ground_truth_sg_set(self) -> SGSet | None:
        if self.name == "multiply":
            return multiply_sg_set()
        return None


def multiply_sg_set() -> SGSet:
    """Every planning phrase of the bundled task, tagged, one cluster per move."""
    grams = []
    for cluster, (move, (tag, phrases)) in enumerate(multiply.PHRASES.items()):
        grams += [StrategicGram(phrase=p, cluster=cluster, tag=tag) for p in phrases]
    return SGSet(name="multiply-ground-truth", grams=tuple(grams),
                 description="The planning phrases of the bundled multiplication task (exact ground truth).",
                 source="training/tasks/multiply.py")


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
        return Task(
            name="multiply",
            problems=multiply.problems,
            prompt=lambda p: p.prompt,
            instruction=lambda p: (f"What is {p.a} * {p.b}? Work it out step by step and finish with "
                                   "'So the answer is N.'"),
            reward=multiply.reward,
            classify=multiply.classify,
            answer=lambda p: p.answer,
        )
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
