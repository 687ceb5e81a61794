"""The phase study's analysis and page on synthetic records: its sentences follow the numbers."""

import math

import numpy as np
import pytest

from training.study import phases


def records(seed: int, sem_slope: float, dec_slope: float, acc_gain: float, sem_at: int = 60, dec_at: int = 20,
            steps: int = 100) -> list[dict]:
    """Step records whose semantic entropy steps by ``sem_slope`` at ``sem_at`` and decision entropy by
    ``dec_slope`` at ``dec_at`` (plus seeded noise), and two evaluations ``acc_gain`` apart."""
    rng = np.random.default_rng(seed)
    out = [{"kind": "eval", "step": 0, "eval/accuracy": 0.4, "eval/exec/hard_error": 0.1}]
    for s in range(steps):
        out.append({"kind": "step", "step": s,
                    "semantic/entropy_bits": 3.5 + sem_slope * (s >= sem_at) + rng.normal(0, 0.02),
                    "semantic/cluster_bits": 2.0 + sem_slope * (s >= sem_at) + rng.normal(0, 0.02),
                    "entropy/decision": 0.5 + dec_slope * (s >= dec_at) + rng.normal(0, 0.01),
                    "entropy/execution": 0.05, "plan/fitted": 0.3, "plan/verify": 0.05})
    out.append({"kind": "eval", "step": steps, "eval/accuracy": 0.4 + acc_gain + rng.normal(0, 0.01),
                "eval/exec/hard_error": 0.05})
    return out


def test_both_phases_in_order_are_reported_as_such():
    a = phases.analyse({s: records(s, +0.4, -0.3, +0.2) for s in range(5)})
    text = " ".join(phases.verdicts(a))
    assert "**Phase 2 shows.**" in text and "**Phase 1 shows.**" in text and "**In the paper's order.**" in text
    assert 35 < a["order"]["difference"]["mean"] < 45  # halfway steps about 60 + 5 and 20 + 5 apart


def test_the_sentences_flip_with_the_data():
    a = phases.analyse({s: records(s, -0.4, +0.0, +0.2) for s in range(5)})
    text = " ".join(phases.verdicts(a))
    assert "**Phase 2 does not show.**" in text and "**Phase 1 does not show.**" in text
    assert "order" not in text.lower().replace("in order", "")
    reversed_ = phases.analyse({s: records(s, +0.4, -0.3, +0.2, sem_at=20, dec_at=60) for s in range(5)})
    assert "**Not in the paper's order.**" in " ".join(phases.verdicts(reversed_))


def test_edge_change_and_halfway_step_on_hand_worked_numbers():
    y = np.array([1.0] * 15 + [2.0] * 10 + [3.0] * 15)
    assert phases.edge_change(y) == 2.0
    assert np.isnan(phases.edge_change(np.ones(10)))
    assert phases.halfway_step(y) == 24.0  # the 10-step trailing mean first reaches 2.0 (halfway) at step 24


def test_a_transient_rise_is_reported_as_exploratory_only_when_it_is_there():
    """The real planning-bound runs rise and fall back; the exploratory line says so only when the peak's
    interval lies above zero and the named start-to-end change does not rise."""
    def bump(seed, height):
        out = records(seed, -0.2, 0.0, +0.2)
        for r in out:
            if r["kind"] == "step" and 30 <= r["step"] < 50:
                r["semantic/entropy_bits"] += height
        return out

    text = " ".join(phases.verdicts(phases.analyse({s: bump(s, 0.5) for s in range(5)})))
    assert "**Phase 2 does not show.**" in text and "*Exploratory (not named before running):*" in text
    assert "around step 3" in text or "around step 4" in text
    flat = " ".join(phases.verdicts(phases.analyse({s: bump(s, 0.0) for s in range(5)})))
    assert "Exploratory" not in flat
    rising = " ".join(phases.verdicts(phases.analyse({s: records(s, +0.4, -0.3, +0.2) for s in range(5)})))
    assert "Exploratory" not in rising  # phase 2 shows: nothing transient to add


def test_a_call_for_one_regime_keeps_the_others_on_the_page(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(phases, "ROOT", tmp_path)
    cfg = phases.PhasesConfig(tasks=("multiply-execution",), steps=100, docs="docs")
    for task in ("multiply-planning", "multiply-execution"):
        for seed in (0, 1):
            run = cfg.records_dir(task) / f"grpo-s{seed}"
            run.mkdir(parents=True)
            run.joinpath("metrics.jsonl").write_text(
                "".join(json.dumps(r) + "\n" for r in records(seed, 0.3, -0.2, 0.3)))
            run.joinpath("status.json").write_text(json.dumps({"state": "finished", "step": 100}))
    page = phases.write_page(cfg).read_text()
    headings = [line for line in page.splitlines() if line.startswith("## ")]
    assert [h.split("`")[1] for h in headings] == ["multiply-planning", "multiply-execution"]


def test_reanalysis_measures_and_ceilings_on_synthetic_records():
    """The re-analysis (training/study/phases_reanalysis.py): switch step, phase-1 falls after it, the plan-choice
    entropy's change, and ceilings; 60 steps, of which the fitted share crosses 0.8 at a known step."""
    from training.study import phases_reanalysis as R

    def rec(i):
        fitted = min(1.0, 0.4 + 0.02 * i)
        mix = 0.8 if i < 30 else 0.2  # the shortcut's share; the rest split evenly over the general plans
        return {"kind": "step", "step": i, "plan/fitted": fitted, "plan/shortcut": mix,
                **{f"plan/{p}": (1 - mix) / 4 for p in ("split", "round", "swap_split", "swap_round")},
                "plan/none": 0.0, "errors/execution": 16 if i < 40 else 8, "entropy/execution": 0.02}

    runs = {s: [rec(i) for i in range(60)] for s in (0, 1)}
    a = R.analyse(runs, samples=64)
    assert a["switch"]["mean"] == 25.0  # the 10-step mean ending at i is 0.4 + 0.02 (i - 4.5): >= 0.8 first at 25
    assert a["exec_error_after"]["mean"] == pytest.approx(25.0)  # 16 of 64 over steps 25-39
    assert a["exec_error_change"]["mean"] == pytest.approx(12.5 - 25.0)
    assert a["exec_entropy_change"]["mean"] == pytest.approx(0.0)
    high, low = R.entropy_bits([0.2] + [0.2] * 4), R.entropy_bits([0.8] + [0.05] * 4)
    assert a["plan_entropy_change"]["mean"] == pytest.approx(high - low)
    assert a["ceilings"]["exec_error"] == pytest.approx(-25.0)
    assert a["ceilings"]["plan_entropy_max"] == pytest.approx(math.log2(6) - low)
    best = R.best_policy_bits()
    assert best["one_general"] < best["uniform_general"] < best["maximum"]
