"""The guard against a silent no-op: an SG set that marks (almost) nothing, or only the answer sentence."""

import json
import os
import subprocess
import sys
from pathlib import Path

from training.hierarchy.coverage import coverage_warning
from training.hierarchy.grams import SGSet, StrategicGram, load_preset, save_sg_set

ROOT = Path(__file__).resolve().parent.parent
R1 = ("Okay, so I need 12 * 4. Let me try splitting: 10 * 4 = 40, 2 * 4 = 8. Wait, let me check: 48 / 4 = 12. "
      "So the answer is 48.")


def test_a_fitting_set_raises_no_warning():
    assert coverage_warning([R1] * 8, 0.25, load_preset("reasoning")) is None


def test_a_set_that_marks_nothing_is_reported_with_its_ratio():
    msg = coverage_warning([R1] * 8, 0.0, SGSet("none", (StrategicGram("xyzzy plugh"),)))
    assert msg.startswith("HICRA behaves like GRPO here: the SG set marks almost no planning tokens (0.0%")
    assert msg.endswith("pick or mine a set that fits this model.")
    grpo = coverage_warning([R1] * 8, 0.004, SGSet("none", (StrategicGram("xyzzy plugh"),)), algo="grpo")
    assert grpo.startswith("The planning / execution figures mean little here")


def test_a_set_that_marks_only_the_answer_sentence_is_reported():
    answers = SGSet("answers", (StrategicGram("so the answer is"), StrategicGram("therefore the answer is")))
    texts = [R1, R1.replace("So the answer is", "Therefore the answer is"), "12 * 4 = 48. So the answer is 48.",
             "12 * 4 = 48.\n\nSo the answer is \\boxed{48}."]
    msg = coverage_warning(texts, 0.08, answers)
    assert "marks only the closing sentence" in msg and "\u201cso the answer is\u201d" in msg
    # one plan phrase anywhere before the close and the set is doing its job
    assert coverage_warning(texts + ["So the answer is 3. Let me check: 3 = 3."], 0.08, answers) is None


def test_a_run_with_a_set_that_marks_nothing_warns_once_and_keeps_running(tmp_path):
    sg = save_sg_set(SGSet("nothing", (StrategicGram("xyzzy plugh"),)), tmp_path / "nothing.json")
    out = tmp_path / "run"
    # tiny-smoke shrunk further (2 steps, no evaluation): the warning comes from the first step
    run = subprocess.run([sys.executable, "-m", "training", "run", "--preset", "tiny-smoke", "--algo", "hicra",
                          "--sg-set", str(sg), "--steps", "2", "--eval-every", "0", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("HICRA behaves like GRPO here") == 1, run.stderr
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "finished" and status["warning_step"] == 0
    assert "marks almost no planning tokens" in status["warning"]
    steps = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("HICRA behaves like GRPO" in r["planning/warning"] for r in steps if r["kind"] == "step")
