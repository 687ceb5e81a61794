"""Math word-problem tasks: answer extraction, math-verify, a local JSONL data set."""

import json

import pytest

from training.tasks import get_task
from training.tasks.math_qa import TaskDataError, extract, is_correct, last_boxed, load, reference_answer


def test_answer_extraction():
    assert last_boxed(r"so \boxed{\frac{1}{2}} and then \boxed{3}") == "3"
    assert last_boxed(r"\boxed{\frac{a}{\sqrt{b}}}") == r"\frac{a}{\sqrt{b}}"
    assert last_boxed("no box") is None
    assert extract("The total is 1,234 apples, not 12.") == "12"
    assert reference_answer("gsm8k", "She has 3 + 4 = 7.\n#### 1,007") == "1007"
    assert reference_answer("math", r"Thus $x = \boxed{\dfrac{3}{4}}$.") == r"\dfrac{3}{4}"


def test_is_correct_uses_math_verify():
    pytest.importorskip("math_verify")
    assert is_correct("72", r"... so she sold \boxed{72} clips")
    assert is_correct(r"\frac{1}{2}", r"the answer is \boxed{0.5}")
    assert is_correct("1007", "so the answer is 1,007")
    assert not is_correct("72", r"\boxed{71}")
    assert not is_correct("72", "I do not know")


def write(tmp_path, rows):
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_local_jsonl_task(tmp_path):
    rows = [{"question": f"What is {a} * 3?", "answer": str(3 * a)} for a in range(12, 60)]
    task = get_task(f"jsonl:{write(tmp_path, rows)}")
    train, held = task.problems("train"), task.problems("eval")
    assert train and held and not {p.question for p in train} & {p.question for p in held}
    p = held[0]
    assert task.reward(p, rf"\boxed{{{p.answer}}}") == 1.0 and task.classify(p, "no") == "error"
    assert task.prompt(p).startswith("Question: ") and "\\boxed{}" in task.instruction(p)


def test_bad_data_sets_give_messages(tmp_path):
    with pytest.raises(TaskDataError, match="no such file"):
        load(f"jsonl:{tmp_path / 'missing.jsonl'}")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "x"}\n')
    with pytest.raises(TaskDataError, match="line 1 is not a JSON object with 'question' and 'answer'"):
        load(f"jsonl:{bad}")


def test_the_trainer_and_eval_run_on_a_jsonl_task(tmp_path):
    from training.config import preset
    from training.evaluate import evaluate
    from training.loop import Trainer

    rows = [{"question": f"{a} * 3", "answer": str(3 * a)} for a in range(12, 60)]
    task_name = f"jsonl:{write(tmp_path, rows)}"
    # the tiny model only knows its own task; this checks the plumbing, not the accuracy
    trainer = Trainer(preset("tiny-cpu", task=task_name, sg_set="math-compact", prompts_per_step=2, group_size=4,
                             max_new_tokens=24, eval_every=0, threads=1))
    record = trainer.train_step()
    assert "errors/incorrect" in record and 0.0 <= record["reward/mean"] <= 1.0
    figures, _ = evaluate(trainer.lm, trainer.task, n=2, samples=1, max_new_tokens=16)
    assert set(figures["errors"]) <= {"correct", "error"}
    with pytest.raises(ValueError, match="no ground-truth planning phrases"):
        Trainer(preset("tiny-cpu", task=task_name, threads=1))
