"""Planning detector 1.2 (1.1 plus the step-clause classifier): weights reproduce from their script,
versions stay reproducible, hand-worked units, determinism, the run label and the mask budget."""

import subprocess
import sys
from pathlib import Path

import pytest

from training.hierarchy import step_classifier
from training.hierarchy.detector import (NAME, VERSION, VERSIONS, PlanningDetector, detector_version,
                                         planning_label, planning_matcher)
from training.hierarchy.grams import load_preset
from training.hierarchy.step_classifier import StepClassifier, Unit, features, fit, load

from _mask_timing import mask_cpu_times

ROOT = Path(__file__).resolve().parent.parent
SG = load_preset("reasoning")


def marked(text: str, detector: PlanningDetector) -> list[str]:
    return [text[s:e] for s, e in detector.spans(text)]


@pytest.fixture(scope="module")
def v12() -> PlanningDetector:
    return PlanningDetector(SG, version="1.2")


def test_shipped_weights_are_reproduced_bit_for_bit_by_their_script():
    run = subprocess.run([sys.executable, "bench/train_step_classifier.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "reproduced bit for bit" in run.stdout


def test_versions_select_what_they_name():
    assert VERSION == "1.1" and VERSIONS == ("1.0", "1.1", "1.2", "1.3")  # 1.1 stays the default until decided
    assert PlanningDetector(SG).version == "1.1" and PlanningDetector(SG).classifier is None
    assert PlanningDetector(SG, options=()).version == "1.0"
    assert PlanningDetector(SG, version="1.0").options == frozenset()
    assert PlanningDetector(SG, version="1.2").classifier is not None
    with pytest.raises(ValueError, match="use one of 1.0, 1.1, 1.2"):
        PlanningDetector(SG, version="2.0")
    with pytest.raises(ValueError, match="1.2 only"):
        PlanningDetector(SG, classifier=load())


def test_a_run_with_1_2_records_its_version():
    assert detector_version("sg") is None and detector_version(NAME) == VERSION
    assert detector_version("planning-detector-1.2") == "1.2"
    assert planning_label("planning-detector-1.2", SG) == "planning-detector 1.2 on SG set reasoning"
    assert planning_matcher("planning-detector-1.2", SG).label == "planning-detector 1.2 on SG set reasoning"
    assert planning_matcher(NAME, SG).label == f"planning-detector {VERSION} on SG set reasoning"
    with pytest.raises(ValueError, match="unknown planning detector"):
        planning_matcher("planning-detector-9", SG)
    from training.config import RunConfig  # a run's config takes it (the loop labels status.json with it)
    assert RunConfig(detector="planning-detector-1.2").validate().detector == "planning-detector-1.2"
    with pytest.raises(ValueError, match="detector must be one of"):
        RunConfig(detector="planning-detector-9").validate()


def test_1_2_adds_move_labels_and_keeps_what_1_1_marks(v12):
    # Qwen3.5-style structured thinking: numbered bold labels that name a move (annotation rule 5).
    text = "2.  **Formulate Equations:**\n    *   Let x be the speed.\n3.  **Define Variables:**\n"
    assert marked(text, PlanningDetector(SG)) == []
    assert marked(text, v12) == ["Formulate Equations", "Define Variables"]
    # where 1.1 finds an opener, 1.2 marks the same
    text = "Okay, so I'm trying to figure out how many apples. Let me check B's statement."
    assert marked(text, v12) == marked(text, PlanningDetector(SG))


def test_1_2_leaves_plain_content_sentences_alone(v12):
    text = "The train leaves at 3 pm. It travels 120 km. The answer is 40."
    assert marked(text, v12) == []


def test_units_and_features_hand_worked(v12):
    # "Hmm" is an opener of 1.1 (no unit there); "Yes" answers the model's own question (no step start)
    units = v12.units("Hmm.\n\n3.  **Define Variables:**\nIs the math correct? Yes.")
    assert [(u.kind, u.words, u.close) for u in units] == [
        ("label", ("define", "variables"), ":"), ("sent", ("is", "the", "math", "correct"), "?")]
    label = next(u for u in units if u.kind == "label")
    f = features(label)
    assert {"k=label", "w1=define", "wl=variables", "n=2", "c=:"} <= set(f)
    assert any(x.startswith("s=nl") and "n" in x[4:] and "**" in x for x in f)  # numbered, bold, on a new line


def test_fit_is_deterministic_and_learns_a_separable_toy():
    pos = [Unit(0, 5, "label", ("define", "x"), "\n1. **", ":") for _ in range(6)]
    neg = [Unit(0, 5, "label", ("pizza", "x"), "\n1. **", ":") for _ in range(6)]
    a = fit(pos + neg, [1] * 6 + [0] * 6, 0.5)
    b = fit(pos + neg, [1] * 6 + [0] * 6, 0.5)
    assert a.to_json() == b.to_json()
    assert a.probability(pos[0]) > 0.8 and a.probability(neg[0]) < 0.2
    assert a.marked(pos + neg) == pos


def test_spans_are_deterministic_and_tagged_like_the_mask(v12):
    text = ("1. **Analyze the Request:** a story.\n2. **Formulate Equations:**\n*Wait*, is that right? "
            "Let me check. This converges quickly.")
    assert v12.spans(text) == v12.spans(text)
    covered = {i for s, e, _ in v12.tagged_spans(text) for i in range(s, e)}
    assert covered == {i for s, e in v12.spans(text) for i in range(s, e)}
    assert all(t in ("deduction", "branching", "backtracking", "verification", "other")
               for _, _, t in v12.tagged_spans(text))


def test_weights_file_is_small_and_named():
    clf = load()
    assert isinstance(clf, StepClassifier) and 0 < clf.threshold < 1
    assert step_classifier.WEIGHTS_FILE.stat().st_size < 64_000
    with pytest.raises(ValueError, match="not a step-classifier file"):
        load(ROOT / "assets" / "planning-eval" / "results.json")


def test_mask_cost_of_1_2_is_close_to_1_1s(v12):
    # A loose, ratio-based bound (the budget itself is measured by bench/planning_mask.py): a quarter of the
    # bench's batch (16 x 1,024 tokens, to keep the test short), 1.2 within 1.5x 1.1's CPU time.
    cpu_v11, cpu_v12 = mask_cpu_times(PlanningDetector(SG), v12)
    assert cpu_v12 < 1.5 * cpu_v11 + 0.002
