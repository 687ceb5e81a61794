"""The task regimes (training/tasks/shortcut.py): generator, reward, ground-truth spans, the plan-fit rule,
plan-level figures and decision positions, on hand-made traces and seeded base-policy samples."""

import random
from collections import Counter

import pytest

from training.tasks import get_task, multiply, shortcut
from training.tasks.multiply import Problem
from training.tasks.plan_metrics import plan_figures

EXACT = shortcut.BasePolicy(hard_error=0.0, slip=0.0, verify=0.0)


def test_problem_sets_hold_about_30_percent_same_tens_pairs_and_splits_are_disjoint():
    train, held = shortcut.problems("train"), shortcut.problems("eval")
    share = sum(shortcut.same_tens(p.a, p.b) for p in train) / len(train)
    assert 0.25 < share < 0.35
    pairs = lambda ps: {(min(p.a, p.b), max(p.a, p.b)) for p in ps}  # noqa: E731
    assert not pairs(train) & pairs(held) and len(held) > 400


def test_the_shortcut_is_exact_on_same_tens_problems_and_silently_wrong_elsewhere():
    rng = random.Random(0)
    for p in shortcut.problems("eval")[:300]:
        t = shortcut.write_trace(p, rng, EXACT, strategy="shortcut")
        assert t.correct == shortcut.same_tens(p.a, p.b)
        assert not multiply.statements_false(t.text)  # every statement is true arithmetic either way
        for s in shortcut.GENERAL:
            assert shortcut.write_trace(p, rng, EXACT, strategy=s).correct


def test_hand_made_traces_and_the_plan_fit_rule():
    p = Problem(47, 28)  # tens differ: the shortcut does not fit
    shortcut_text = (" Let's use the same-tens trick: 47 + 8 = 55. 55 * 40 = 2200. 7 * 8 = 56. 2200 + 56 = 2256. "
                     "So the answer is 2256.")
    assert shortcut.reward(p, shortcut_text) == 0.0
    assert shortcut.classify(p, shortcut_text) == "strategy"  # true statements, a plan that does not fit
    slipped = shortcut_text.replace("55 * 40 = 2200", "55 * 40 = 2300").replace("2200 + 56 = 2256", "2300 + 56 = 2356")
    assert shortcut.classify(p, slipped.replace("is 2256", "is 2356")) == "strategy"  # whatever happened next
    split = (" Let's split the second number: 28 = 20 + 8. 47 * 20 = 940. 47 * 8 = 376. 940 + 376 = 1316. "
             "So the answer is 1316.")
    assert shortcut.classify(p, split) == "correct"
    dropped = split.replace("47 * 8 = 376. 940 + 376 = 1316", "47 * 8 = 326. 940 + 326 = 1266")
    assert shortcut.classify(p, dropped.replace("is 1316", "is 1266")) == "execution"  # the plan fits
    q = Problem(43, 47)  # same tens: the shortcut fits, a dropped carry in it is execution
    ok = (" Let's use the same-tens trick: 43 + 7 = 50. 50 * 40 = 2000. 3 * 7 = 21. 2000 + 21 = 2021. "
          "So the answer is 2021.")
    assert shortcut.classify(q, ok) == "correct"
    assert shortcut.classify(q, ok.replace("2000 + 21 = 2021", "2000 + 21 = 2031").replace("is 2021", "is 2031")) \
        == "execution"
    assert shortcut.classify(p, " 47 * 28 = 1300. So the answer is 1300.") == "strategy"  # no plan
    assert shortcut.plan_of(" It is easier the other way around: 28 * 47. We can round the second number up") \
        == "swap_round"


def test_the_final_check_repairs_a_misapplied_shortcut():
    t = shortcut.write_trace(Problem(47, 28), random.Random(1), EXACT, strategy="shortcut", verify=True)
    assert t.correct and [s.move for s in t.spans][-2] == "verify_fix"
    assert shortcut.classify(t.problem, t.text) == "correct"
    ok = shortcut.write_trace(Problem(43, 47), random.Random(1), EXACT, strategy="shortcut", verify=True)
    assert ok.correct and "verify_ok" in [s.move for s in ok.spans]


@pytest.mark.parametrize("task", list(shortcut.REGIMES))
def test_ground_truth_spans_are_the_phrases_of_the_task_sg_set(task):
    t = get_task(task)
    phrases = {g.phrase for g in t.ground_truth_sg_set().grams}
    policy = shortcut.BasePolicy(hard_error=shortcut.REGIMES[task].hard_error, verify=0.5)
    rng = random.Random(2)
    for p in shortcut.problems("train")[:100]:
        trace = shortcut.write_trace(p, rng, policy)
        for s in trace.spans:
            assert trace.text[s.start:s.end].strip() in phrases and s.tag == shortcut.PHRASES[s.move][0]


def test_regimes_differ_only_in_execution_reliability():
    """Base-policy samples (no model): the hard-step error follows the regime's one knob, the plan mix does not."""
    figures = {}
    for task, regime in shortcut.REGIMES.items():
        rng = random.Random(3)
        policy = shortcut.BasePolicy(hard_error=regime.hard_error)
        pool = shortcut.problems("train")
        probs = [rng.choice(pool) for _ in range(1000)]
        texts = [shortcut.write_trace(p, rng, policy).text for p in probs]
        figures[task] = plan_figures(get_task(task).plans, probs, texts)
        kinds = Counter(shortcut.classify(p, t) for p, t in zip(probs, texts))
        figures[task]["strategy_share"] = kinds["strategy"] / (kinds["strategy"] + kinds["execution"])
    hard = [figures[t]["exec/hard_error"] for t in shortcut.REGIMES]
    assert hard[0] < 0.02 and 0.1 < hard[1] < 0.2 and 0.4 < hard[2] < 0.6
    for t in shortcut.REGIMES:
        assert 0.75 < figures[t]["plan/shortcut"] < 0.85
    assert figures["multiply-planning"]["strategy_share"] > 0.9  # the design's lever decides the failures


def test_plan_figures_and_decision_spans_on_a_hand_made_batch():
    task = get_task("multiply-planning")
    texts = [" Let's use the same-tens trick: 47 + 8 = 55. 55 * 40 = 2200. 7 * 8 = 56. 2200 + 56 = 2256. "
             "Let's double-check another way: We can round the second number up: 28 = 30 - 2. 47 * 30 = 1410. "
             "47 * 2 = 94. 1410 - 94 = 1316. Wait, that is wrong, so let's take the second result. "
             "So the answer is 1316.",
             " Let's split the second number: 28 = 20 + 8. 47 * 20 = 940. 47 * 8 = 326. 940 + 326 = 1266. "
             "So the answer is 1266."]
    f = plan_figures(task.plans, [Problem(47, 28)] * 2, texts)
    assert (f["plan/shortcut"], f["plan/split"], f["plan/fitted"]) == (0.5, 0.5, 0.5)
    assert (f["plan/verify"], f["plan/backtrack"]) == (0.5, 0.5)
    assert (f["exec/hard_steps"], f["exec/hard_error"]) == (1, 1.0)  # 47 * 8 (55 * 40 has digit 4)
    spans = task.decision_spans(texts[1])
    assert [texts[1][s:e] for s, e in spans] == ["940", "326", "1266"]
