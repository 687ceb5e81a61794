"""Progress from a run directory (step x of N, elapsed, ETA) and the CLI's progress lines; no model."""

import json

import pytest

from training.progress import ArmProgress, bar, duration, read_progress, record_line, summary


def write(folder, status=None, config=None):
    folder.mkdir(parents=True, exist_ok=True)
    if status is not None:
        (folder / "status.json").write_text(json.dumps(status))
    if config is not None:
        (folder / "config.json").write_text(json.dumps(config))


def test_a_sweep_in_the_middle(tmp_path):
    sweep = tmp_path / "ab"
    write(sweep, {"state": "running", "started": 1000.0, "step": 4})
    cfg = {"steps": 10, "eval_every": 5, "algo": "grpo", "seed": 0}
    write(sweep / "grpo-s0", {"state": "running", "step": 5, "steps": 10, "phase": "training", "step_s": 2.0,
                              "eval_s": 30.0}, cfg)
    write(sweep / "hicra-s0", {"state": "running", "step": 4, "steps": 10, "phase": "training", "step_s": 3.0,
                               "eval_s": 20.0}, {**cfg, "algo": "hicra"})
    p = read_progress(sweep, now=1100.0)
    assert [a.name for a in p.arms] == ["grpo-s0", "hicra-s0"]
    assert (p.step, p.steps, p.fraction, p.elapsed_s) == (4, 10, 0.45, 100.0)
    # grpo: 5 steps x 2 s + evaluations at 10 (one) x 30 s; hicra: 6 x 3 s + evaluations at 5 and 10 x 20 s
    assert p.eta_s == pytest.approx(5 * 2 + 30 + 6 * 3 + 2 * 20)
    assert summary(p) == "step 4 of 10 (45%) · elapsed 1:40 · ETA 1:38"


def test_an_evaluation_under_way_counts_and_unknown_paces_borrow_from_other_arms(tmp_path):
    cfg = {"steps": 10, "eval_every": 5}
    write(tmp_path / "a-s0", {"state": "running", "step": 5, "steps": 10, "phase": "evaluating", "step_s": 2.0,
                              "eval_s": 30.0}, cfg)
    write(tmp_path / "b-s0", {"state": "running", "step": 0, "steps": 10, "phase": "loading"}, cfg)
    p = read_progress(tmp_path, state="running", now=0.0)
    assert p.phase == "evaluating"
    assert p.arms[0].evals_left() == 2  # the one under way and the last step's
    assert p.eta_s == pytest.approx(5 * 2 + 2 * 30 + 10 * 2 + 2 * 30)  # b: a's pace, evaluations at 5 and 10
    assert ArmProgress("x", 0, 10, "running").seconds_left() is None  # no pace anywhere yet
    assert read_progress(tmp_path / "b-s0", now=0.0).eta_s is None


def test_finished_failed_and_queued(tmp_path):
    write(tmp_path / "done", {"state": "finished", "step": 8, "steps": 8, "started": 10.0, "ended": 70.0},
          {"steps": 8, "eval_every": 4})
    p = read_progress(tmp_path / "done", now=999.0)
    assert (p.fraction, p.elapsed_s, p.eta_s) == (1.0, 60.0, 0.0)
    assert summary(p) == "step 8 of 8 (100%) · elapsed 1:00"
    # a process that died leaves "running" behind; the job manager's state wins
    write(tmp_path / "dead", {"state": "running", "step": 3, "steps": 8, "step_s": 1.0}, {"steps": 8})
    dead = read_progress(tmp_path / "dead", state="failed", now=0.0)
    assert dead.state == "failed" and dead.arms[0].state == "failed" and dead.eta_s == 0.0
    # a queued sweep lists its arms from job.json before they exist
    write(tmp_path / "q", {"state": "queued", "step": 0}, {"steps": 20})
    (tmp_path / "q" / "job.json").write_text(json.dumps({"kind": "compare", "algos": ["grpo", "hicra"],
                                                         "seeds": [0, 1]}))
    q = read_progress(tmp_path / "q", now=0.0)
    assert [a.name for a in q.arms] == ["grpo-s0", "hicra-s0", "grpo-s1", "hicra-s1"]
    assert all((a.step, a.steps, a.state) == (0, 20, "queued") for a in q.arms)


def test_formatting():
    assert [duration(s) for s in (None, 4.4, 59.6, 61, 3725)] == ["-", "4 s", "1:00", "1:01", "1:02:05"]
    assert bar(0.5, 10) == "█████░░░░░" and bar(2.0, 4) == "████" and bar(-1, 4) == "░░░░"


def test_cli_lines(tmp_path, capsys):
    from training.__main__ import _Printer

    write(tmp_path, {"state": "running", "started": 1.0})
    write(tmp_path / "grpo-s0", {"state": "running", "step": 3, "steps": 6, "step_s": 1.5}, {"steps": 6, "eval_every": 0})
    step = {"kind": "step", "step": 2, "reward/mean": 0.25, "time/step_s": 1.5}
    line = record_line(step, read_progress(tmp_path, now=30.0), "grpo-s0")
    assert line == "grpo-s0  step 3/6 (50%) · elapsed 29 s · ETA 4 s · reward 0.250 · 1.50 s/step"
    ev = {"kind": "eval", "step": 3, "eval/accuracy": 0.5, "eval/pass_at_k": 0.75, "time/eval_s": 12.0}
    assert record_line(ev, read_progress(tmp_path), "") == \
        "eval at step 3: held-out accuracy 0.500, pass@k 0.750 (12 s)"
    show = _Printer(tmp_path, ["grpo-s0"])  # not a terminal here: one line per record
    show(step, 0)
    show(ev, 0)
    show.close()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("grpo-s0  step 3/6 (50%) · elapsed") and out[1].startswith("grpo-s0  eval at step 3")
