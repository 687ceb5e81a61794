"""The repository keeps its promises: README commands, CI, layout rules, assets."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S)


def test_readme_opens_with_app_and_test_commands_and_ci_runs_the_test_command():
    commands = [c for c in readme_commands() if "torch==2.13.0" in c]  # after the venv block
    app_cmd, test_cmd = commands[:2]
    assert app_cmd.endswith("python app.py")
    assert "pytest" in test_cmd and "torch==2.13.0" in test_cmd
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_cmd in ci_lines


def test_engine_never_imports_gradio():
    for path in (ROOT / "training").rglob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+gradio", path.read_text(), re.M), path
    for path in (ROOT / "lab").glob("*.py"):  # analysis modules; the UI lives in lab/ui
        assert not re.search(r"^\s*(import|from)\s+gradio", path.read_text(), re.M), path


def test_analysis_imports_without_gradio():
    code = ("import sys; import training.hierarchy.grams, training.hierarchy.matching, training.hierarchy.tokens, training.hierarchy.metrics, training.hierarchy.semantic, "
            "lab.analysis, lab.render, lab.ui.handlers, training.algos; "
            "assert 'gradio' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)


def test_bundled_tokenizer_is_what_its_script_builds(tmp_path):
    from training.bundled.tokenizer import build_tokenizer

    build_tokenizer(tmp_path)
    committed = ROOT / "assets" / "tiny-model" / "tokenizer.json"
    assert (tmp_path / "tokenizer.json").read_text() == committed.read_text()


def test_step_time_benchmark_runs_and_writes_its_figures(tmp_path):
    """The README's benchmark, cut to one step of our loop (TRL is not a test dependency)."""
    import json

    out = tmp_path / "bench.json"
    subprocess.run([sys.executable, "bench/step_time.py", "--skip-trl", "--steps", "1", "--warmup", "0",
                    "--max-new", "16", "--json", str(out)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    figures = json.loads(out.read_text())["ours"]
    assert figures["median_s"] > 0 and 0 <= figures["flat_groups"] <= 1 and figures["mean_length"] <= 16


def test_update_memory_benchmark_runs_and_checkpointing_keeps_less(tmp_path):
    """bench/update_memory.py on the bundled model's shapes: figures written, checkpointing keeps far less."""
    import json

    out = tmp_path / "memory.json"
    subprocess.run([sys.executable, "bench/update_memory.py", "--arch", "tiny", "--sample-tokens", "24",
                    "--json", str(out)], check=True, cwd=ROOT, capture_output=True, timeout=300)
    modes = json.loads(out.read_text())["modes"]
    kept = {name: mode["bytes_per_token_per_layer"] for name, mode in modes.items()}
    assert 0 < kept["lean, checkpointing on"] < 0.1 * kept["lean, checkpointing off"]
    assert kept["lean, checkpointing off"] < kept["transformers + peft, checkpointing off"]


def test_gpu_check_dry_runs_on_a_cpu(tmp_path):
    """bench/gpu_check.sh (bench/gpu_check.py), the README's one-command GPU check, on a CPU with tiny shapes: every stage
    runs (the CUDA tests skip), and its one JSON file holds the versions, the 3-step run and the
    benchmark's figures (ours, and ours with TRL's micro-batch)."""
    import json

    out = tmp_path / "check.json"
    subprocess.run(["bash", "bench/gpu_check.sh", "--device", "cpu", "--arch", "tiny", "--layers", "1",
                    "--max-new", "8", "--json", str(out)], check=True, cwd=ROOT, capture_output=True, timeout=600,
                   env={**__import__("os").environ, "PYTHON": sys.executable})
    results = json.loads(out.read_text())
    assert results["ok"] and results["versions"]["torch"]
    assert results["cuda_tests"]["exit"] == 0 and results["cuda_tests"]["counts"].get("passed", 0) == 0
    assert [s["step"] for s in results["tiny_run"]["steps"]] == [0, 1, 2]
    figures = results["benchmark"]["figures"]
    assert figures["ours"]["micro_batch_rows"] == 16 and figures["ours_whole_batch"]["micro_batch_rows"] == 64
    assert "lean decoder" in figures["ours"]["rollout_path"] and figures["ours"]["cuda_graphs"]["on"]
    assert ("trl" in figures) != ("trl_skipped" in results)
