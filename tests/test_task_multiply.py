import random

import pytest

from training.hierarchy.matching import find_spans
from training.tasks import get_task, multiply, multiply_sg_set
from training.tasks.multiply import BasePolicy, Problem, classify, parse_answer, reward, write_trace


def test_splits_are_disjoint_and_fixed():
    train = multiply.problems("train")
    held = multiply.problems("eval")
    pairs = {frozenset((p.a, p.b)) for p in train}
    assert not pairs & {frozenset((p.a, p.b)) for p in held}
    assert 0.15 < len(held) / (len(held) + len(train)) < 0.25
    assert multiply.problems("eval", n=5, seed=0) == multiply.problems("eval", n=5, seed=0)
    assert all(p.a % 10 and p.b % 10 and 11 < p.a < 99 for p in held)
    with pytest.raises(ValueError):
        multiply.problems("test")


def test_generator_is_deterministic_per_seed():
    p = Problem(47, 28)
    a = [write_trace(p, random.Random(s)).text for s in range(20)]
    b = [write_trace(p, random.Random(s)).text for s in range(20)]
    assert a == b
    assert len(set(a)) > 5  # paraphrases and plans vary across seeds


@pytest.mark.parametrize("seed", range(40))
def test_labels_line_up_with_the_text(seed):
    rng = random.Random(seed)
    problem = rng.choice(multiply.problems("train"))
    trace = write_trace(problem, rng, BasePolicy(verify=0.5, backtrack=0.5))
    phrases = {p: move for move, (_, ps) in multiply.PHRASES.items() for p in ps}
    for span in trace.spans:
        piece = trace.text[span.start:span.end].strip()
        assert phrases[piece] == span.move
        assert span.tag == multiply.PHRASES[span.move][0]
    # the ground-truth SG set finds exactly the labelled spans (no more, no less)
    labelled = [(s.start + (len(trace.text[s.start:s.end]) - len(trace.text[s.start:s.end].lstrip())), s.end)
                for s in trace.spans]
    assert find_spans(trace.text, multiply_sg_set()) == labelled
    assert trace.correct == (reward(problem, trace.text) == 1.0)


def test_repertoire_is_large_enough():
    sg = multiply_sg_set()
    assert len(sg.grams) >= 20
    assert len({g.tag for g in sg.grams}) >= 4
    assert {"verification", "backtracking", "branching", "deduction"} <= {g.tag for g in sg.grams}


def test_every_plan_is_correct_when_nothing_slips():
    exact = BasePolicy(hard_error=0.0, slip=0.0, verify=0.0, backtrack=0.0)
    rng = random.Random(0)
    for problem in multiply.problems("eval", n=200):
        for s in ("split", "round", "swap_split", "swap_round"):
            assert write_trace(problem, rng, exact, strategy=s).correct
        halve = write_trace(problem, rng, exact, strategy="halve")
        sound = problem.a % 2 == 0 and problem.b < 50
        assert halve.correct == sound
        assert classify(problem, halve.text) == ("correct" if sound else "strategy")


def test_hard_products_drop_the_carry():
    assert multiply._drop_carry(47, 8) == 326  # 7*8=56 -> 6, carry 5 dropped; 4*8=32
    t = write_trace(Problem(47, 28), random.Random(0), BasePolicy(hard_error=1.0, slip=0.0, verify=0.0),
                    strategy="split")
    assert "47 * 8 = 326." in t.text and not t.correct
    # split meets 47 * 8 where rounding (47 * 30, 47 * 2) meets no hard product: the plan did not fit
    assert classify(Problem(47, 28), t.text) == "strategy"
    assert multiply.classify_by_statements(Problem(47, 28), t.text) == "execution"
    t = write_trace(Problem(47, 29), random.Random(0), BasePolicy(hard_error=1.0, slip=0.0, verify=0.0),
                    strategy="round")  # 47 * 30, 47 * 1: round fits; the slip below is execution
    bad = t.text.replace("47 * 30 = 1410", "47 * 30 = 1510").replace("1410 - 47 = 1363", "1510 - 47 = 1463")
    assert classify(Problem(47, 29), bad.replace("is 1363", "is 1463")) == "execution"


def test_verification_fixes_a_wrong_product():
    pol = BasePolicy(hard_error=1.0, slip=0.0, verify=1.0)
    t = write_trace(Problem(47, 28), random.Random(0), pol, strategy="split")
    assert "47 * 8 = 326." in t.text and "47 * 8 = 376." in t.text
    assert t.correct and any(s.move == "verify_fix" for s in t.spans)


def test_reward_and_classifier_on_hand_made_responses():
    p = Problem(47, 28)
    ok = " Let's split the second number: 28 = 20 + 8. 47 * 20 = 940. 47 * 8 = 376. 940 + 376 = 1316. " \
         "So the answer is 1316."
    assert reward(p, ok) == 1.0 and classify(p, ok) == "correct"
    bad_step = ok.replace("47 * 8 = 376. 940 + 376 = 1316", "47 * 8 = 326. 940 + 326 = 1266").replace(
        "is 1316", "is 1266")
    assert reward(p, bad_step) == 0.0 and classify(p, bad_step) == "strategy"  # split did not fit 47 * 28
    assert multiply.classify_by_statements(p, bad_step) == "execution"
    rounded = " Let's round the second number up: 28 = 30 - 2. 47 * 30 = 1410. 47 * 2 = 94. 1410 - 94 = 1316. " \
              "So the answer is 1316."
    assert classify(p, rounded) == "correct"
    slipped = rounded.replace("47 * 2 = 94. 1410 - 94 = 1316", "47 * 2 = 84. 1410 - 84 = 1326").replace(
        "is 1316", "is 1326")
    assert classify(p, slipped) == "execution"  # a fitting plan, a false statement
    bad_decomp = rounded.replace("28 = 30 - 2", "28 = 30 - 3")
    assert classify(p, bad_decomp.replace("is 1316", "is 1269")) == "execution"
    gave_up = " Let's halve the first number and double the second: 47 / 2, but it is odd. " \
              "I am not sure how to finish."
    assert reward(p, gave_up) == 0.0 and classify(p, gave_up) == "strategy"
    wrong_plan = " Let's split the second number: 28 = 20 + 8. 47 * 20 = 940. 47 * 3 = 141. " \
                 "940 + 141 = 1081. So the answer is 1081."
    assert classify(p, wrong_plan) == "strategy"  # true steps that do not fit the problem
    assert multiply.classify_by_statements(p, wrong_plan) == "strategy"
    assert classify(p, " 47 * 28 = 1300. So the answer is 1300.") == "strategy"  # no recognisable plan


def test_plan_fit_and_hard_products():
    p = Problem(47, 28)
    assert multiply.hard_count(p, "split") == 1 and multiply.hard_count(p, "round") == 0
    assert multiply.hard_count(p, "halve") is None  # 47 is odd: a dead end
    assert [s for s in multiply.STRATEGIES if multiply.fits(p, s)] == ["round", "swap_round"]
    q = Problem(24, 31)  # only rounding (24 * 40, 24 * 9) meets a hard product
    assert {s for s in multiply.STRATEGIES if multiply.fits(q, s)} == {"split", "swap_split", "swap_round", "halve"}
    assert not multiply.fits(q, None)
    assert multiply.hard_steps(" 47 * 8 = 326. 47 * 20 = 940. 40 * 70 = 2800. 7 * 8 = 56.") == (2, 1)
    assert parse_answer("This gives the answer 12. Therefore the answer is 13.") == 13
    assert parse_answer("no answer here") is None


def test_plan_of_responses():
    assert multiply.plan_of(" Let's swap the two numbers: 28 * 47. We can round the second number up") \
        == "swap_round"
    assert multiply.plan_of(" It is easier to round the second number up: ...") == "round"
    assert multiply.plan_of("12 * 3") is None


def test_task_interface():
    task = get_task("multiply")
    p = task.problems("eval", n=1)[0]
    assert task.prompt(p) == f"Q: {p.a} * {p.b} = ?\nA:"
    assert str(p.a) in task.instruction(p)
    with pytest.raises(ValueError, match="unknown task"):
        get_task("nope")
