"""Adapters staged for the Hub (base model named, a model card with the held-out accuracy and its interval),
and two command-line mismatches: `summary` of the folder `compare` writes, `eval --n` beyond the split."""

import json
import shutil
from pathlib import Path

import pytest

from training.__main__ import main
from training.adapter_card import stage_adapter, wilson

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    """Two steps of the bundled model with an evaluation and a checkpoint at step 2 (tiny-smoke's batches;
    8 held-out problems, 1 sample: the card's numbers, not their quality, are under test)."""
    out = tmp_path_factory.mktemp("card") / "run"
    assert main(["run", "--preset", "tiny-smoke", "--steps", "2", "--eval-every", "2", "--eval-n", "8",
                 "--checkpoint-every", "2", "--out", str(out)]) == 0
    return out


def test_staged_adapter_names_its_base_and_has_a_card(run, tmp_path):
    staged = stage_adapter(run / "checkpoints" / "step-2" / "adapter", tmp_path / "staged")
    config = json.loads((staged / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "assets/tiny-model"
    assert (staged / "adapter_model.safetensors").exists()
    card = (staged / "README.md").read_text()
    evaluation = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()
                  if json.loads(line).get("kind") == "eval" and json.loads(line)["step"] == 2][0]
    acc = evaluation["eval/accuracy"]
    lo, hi = wilson(acc, 8)
    assert f"**{acc:.3f}** (95% interval {lo:.3f}-{hi:.3f}) over 8 held-out problems" in card
    assert "library_name: peft" in card and "hicra on multiply, step 2" in card
    assert "base_model:" not in card  # the bundled model is not on the Hub: no hub link in the metadata

    # the named base loads from a clone, and the adapter on it
    from peft import PeftModel

    from training.engine.modeling import load_model

    base = load_model(str(ROOT / config["base_model_name_or_path"]), device="cpu").model
    assert PeftModel.from_pretrained(base, str(staged)) is not None


def test_a_hub_base_model_is_linked(run, tmp_path):
    from training.adapter_card import model_card

    cfg = json.loads((run / "config.json").read_text()) | {"model": "Qwen/Qwen2.5-0.5B-Instruct", "task": "gsm8k"}
    card = model_card(cfg, 2, None, "Qwen/Qwen2.5-0.5B-Instruct")
    assert "base_model: Qwen/Qwen2.5-0.5B-Instruct" in card and "No held-out evaluation" in card


def test_wilson_interval():
    lo, hi = wilson(0.0, 10)
    assert lo == 0.0 and 0.27 < hi < 0.28  # the textbook value 0.2775
    assert wilson(1.0, 10)[1] == pytest.approx(1.0) and wilson(0.5, 0) == (0.0, 1.0)


def test_summary_of_a_sweep_folder(run, tmp_path, capsys):
    sweep = tmp_path / "sweep"  # compare's layout: one folder per arm, the sweep's own status beside them
    for arm in ("grpo-s0", "hicra-s0"):
        shutil.copytree(run, sweep / arm)
    (sweep / "status.json").write_text(json.dumps({"state": "finished"}))
    assert main(["summary", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "a sweep of 2 arms" in out and "grpo-s0" in out and "hicra-s0" in out
    assert main(["summary", str(tmp_path / "nothing")]) == 2


def test_eval_says_when_the_split_is_smaller_than_n(capsys):
    # --n 500 on a task regime (485 held-out problems); 1 sample of 4 tokens: the count is under test
    assert main(["eval", "--task", "multiply-planning", "--n", "500", "--samples", "1", "--max-new-tokens", "4",
                 "--device", "cpu", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 485
    assert "485 problems: evaluated all 485, not --n 500" in captured.err


def test_every_arm_names_its_base_model():
    """peft names the base only in the first adapter's config; a sweep's later arms must name it too."""
    from training.config import preset
    from training.engine.backbone import Backbone
    from training.engine.modeling import load_model

    backbone = Backbone(preset("tiny-smoke"), lm=load_model("tiny", device="cpu"))  # a fresh copy: adapters go in
    arms = ("grpo-s0", "hicra-s0")
    for arm in arms:
        backbone.add_adapter(arm, preset("tiny-smoke"))
    bases = {arm: c.base_model_name_or_path for arm, c in backbone.model.peft_config.items()}
    assert bases == {arm: str(ROOT / "assets" / "tiny-model") for arm in arms}
