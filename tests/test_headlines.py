"""Train's headline: every accuracy with its interval and n; one seed per arm is 'too small to compare'."""

from lab.ui.watch_handlers import accuracy_line


def ev(step: int, acc: float, n: int = 80) -> dict:
    right = round(acc * n)
    return {"kind": "eval", "step": step, "eval/accuracy": acc, "eval/errors/correct": right,
            "eval/errors/execution": n - right}


def test_one_seed_per_arm_gets_wilson_intervals_and_no_winner():
    text = accuracy_line({"grpo": {0: [ev(0, 0.35), ev(20, 0.40)]}, "hicra": {0: [ev(0, 0.35), ev(20, 0.45)]}})
    # Wilson 95% for 32 of 80 and 36 of 80 (worked with the closed form)
    assert "GRPO 40.0% [30.0%, 51.0%], 80 samples, 1 seed at step 20 (from 35.0%)" in text
    assert "HICRA 45.0% [34.6%, 55.9%], 80 samples, 1 seed" in text
    assert "too small to compare" in text


def test_several_seeds_get_a_t_interval_cut_at_100_percent():
    text = accuracy_line({"hicra": {s: [ev(10, a)] for s, a in enumerate((0.9, 1.0, 1.0))}})
    assert "HICRA 96.7% [82.3%, 100.0%], 3 seeds at step 10" in text and "too small" not in text
