"""Train, Compare, Runs and Mine handlers, called directly (no server)."""

import json
import random
import time

import pytest


@pytest.fixture()
def lab(tmp_path, monkeypatch):
    """A fresh data folder and job manager for each test."""
    import lab.ui.context as ctx

    monkeypatch.setenv("HICRA_LAB_DATA", str(tmp_path))
    ctx.settings.cache_clear()
    monkeypatch.setattr(ctx, "_manager", None)
    yield tmp_path
    if ctx._manager is not None:
        ctx._manager.close()  # its scheduler thread
    ctx.settings.cache_clear()


def wait_finished(name, timeout=900):
    """Wait on the run's state (the app's scheduler starts it); the limit is far above what a run needs."""
    from lab.ui.context import jobs

    deadline = time.time() + timeout
    while True:
        info = jobs().info(name)
        if info["state"] in ("finished", "failed", "stopped") or time.time() > deadline:
            break
        time.sleep(0.5)
    assert info["state"] in ("finished", "failed", "stopped"), f"{name} still {info['state']} after {timeout} s"
    return info


def tiny_preset(monkeypatch):
    """tiny-cpu, shrunk so a launched run takes seconds: 2 prompts x 4, 32 tokens, eval of 4 problems."""
    import dataclasses

    from training import config

    small = dataclasses.replace(config.PRESETS["tiny-cpu"], prompts_per_step=2, group_size=4, max_new_tokens=32,
                                eval_every=2, eval_n=4, eval_samples=1, threads=1)
    monkeypatch.setitem(config.PRESETS, "tiny-test", small)


@pytest.mark.parametrize("args, message", [
    (dict(alpha=float("nan")), "alpha must be a finite number"),
    (dict(alpha="abc"), "alpha must be a number, got 'abc'"),
    (dict(alpha=-1), "alpha must be a number from 0 to 10"),
    (dict(steps=1e9), "steps must be a whole number from 1 to 1,000,000, got 1,000,000,000"),
    (dict(steps=float("inf")), "steps must be a finite number"),
    (dict(steps=2.5), "steps must be a whole number, got 2.5"),
    (dict(steps=None), "steps must be a number"),
    (dict(lora_r=[1]), "LoRA rank must be a number"),
    (dict(name=".."), "run name '..' is not allowed"),
    (dict(name="x" * 300), "is not allowed: use 1-64 letters"),
    (dict(algo_choice="PPO"), "pick an algorithm"),
    (dict(preset_name=["tiny-cpu"]), "unknown preset \"['tiny-cpu']\""),
    (dict(seeds_text="0,-1"), "seed must be a whole number from 0"),
])
def test_launch_refuses_absurd_settings_before_queueing(lab, caplog, args, message):
    """Each refused before a run folder exists, with a message and nothing logged (no traceback)."""
    from lab.ui import train_handlers

    values = dict(name="bad", preset_name="tiny-cpu", algo_choice="HICRA", alpha=0.2, steps=2, seeds_text="0",
                  lora_r=8, sg_set="ground-truth")
    msg, name = train_handlers.launch(**{**values, **args})
    assert name == "" and message in msg, msg
    assert not (lab / "runs" / "bad").exists() and not caplog.records


def test_launch_watch_compare_and_runs_table(lab, monkeypatch):
    import zipfile

    from lab.charts import TRAIN_PANELS
    from lab.ui import runs_handlers, train_handlers, watch_handlers

    tiny_preset(monkeypatch)
    msg, name = train_handlers.launch("ab", "tiny-test", "GRPO vs HICRA (fair A/B)", 0.2, 2, "0", 8, "ground-truth")
    assert name == "ab" and "2 arms" in msg, msg
    info = wait_finished("ab")
    assert info["state"] == "finished", (lab / "runs" / "ab" / "log.txt").read_text()
    status, bars, *figs, samples = watch_handlers.refresh("ab", 1, False)
    assert "finished" in status and "step 2 of 2 (100%)" in status and "GRPO 0." in status and "HICRA" in status
    assert bars.count('class="arm-progress"') == 2 and "step 2 of 2" in bars
    assert len(figs) == len(TRAIN_PANELS)
    entropy = figs[TRAIN_PANELS.index("entropy")]
    assert {t["name"] for t in entropy.data} == {"GRPO · planning", "GRPO · execution", "HICRA · planning",
                                                 "HICRA · execution"}
    accuracy = figs[TRAIN_PANELS.index("accuracy")]
    held_out = [t for t in accuracy.data if t["name"].endswith("held-out")]
    assert [t["x"] for t in held_out] == [[0, 2], [0, 2]]  # eval_every 2 and the last step
    assert "Held-out samples at step 2" in samples and "grpo, seed 0" in samples and "hicra, seed 0" in samples
    assert samples.count('class="sample-row"') == 4 and 'class="tok planning"' in samples  # eval_n 4
    assert ("✓ correct" in samples) or ("error" in samples)
    paths, note = watch_handlers.export_csv("ab", 1)
    assert len(paths) == len(TRAIN_PANELS) and "CSV" in note
    assert open(paths[1]).readline().startswith("panel,arm,series,metric,step")
    *cmp_figs, table, message = runs_handlers.compare(["ab"])
    assert message == "" and "HICRA - GRPO" in table and "final held-out accuracy" in table
    assert [len(f.data) for f in cmp_figs] == [2, 4, 4, 4]  # held-out accuracy, semantic, errors, plan fit
    rows = runs_handlers.runs_table()
    assert rows[0][:3] == ["ab", "compare", "finished"] and rows[0][3].endswith("step 2 of 2")
    assert rows[0][0] == "ab" and len(rows[0]) == len(runs_handlers.RUN_COLUMNS)
    assert "nothing to resume" in train_handlers.resume("ab")  # finished: refused, its duration kept
    path, note = runs_handlers.download_adapter("ab")
    assert path.endswith(".zip") and "grpo-s0 (step-2)" in note and "hicra-s0 (step-2)" in note
    names = zipfile.ZipFile(path).namelist()
    assert any(n.startswith("grpo-s0-step-2/") for n in names) and any(n.startswith("hicra-s0-step-2/") for n in names)
    question, confirm = runs_handlers.delete_prompt("ab")
    assert confirm and "cannot be undone" in question and (lab / "runs" / "ab").exists()
    assert "Deleted" in runs_handlers.delete("ab") and not (lab / "runs" / "ab").exists()


def test_single_run_panels(lab, monkeypatch):
    from lab.ui import train_handlers, watch_handlers

    tiny_preset(monkeypatch)
    msg, name = train_handlers.launch("", "tiny-test", "HICRA", 0.2, 2, "3", 8, "math-compact")
    assert name.startswith("hicra-"), msg
    wait_finished(name)
    _, _, *figs, samples = watch_handlers.refresh(name)
    titles = [f.layout["title"]["text"] for f in figs]
    assert "Relative perplexity: planning vs execution" in titles and "Semantic entropy of planning phrases" in titles
    accuracy = figs[3]  # one arm: no arm names in its legends
    assert [t["name"] for t in accuracy.data] == ["held-out accuracy", "training-batch accuracy", "response length"]
    path, note = __import__("lab.ui.runs_handlers", fromlist=["x"]).download_adapter(name)
    assert path.endswith(f"{name}-step-2-adapter.zip"), note


def test_shipped_records_open_with_no_training_and_stay_read_only(lab):
    from lab import shipped
    from lab.ui import mine_handlers, records, runs_handlers, train_handlers, watch_handlers

    demo = shipped.default_study()
    assert demo and demo.startswith("demo:") and demo in records.choices()
    assert "demo:example-run" in records.choices() and records.user_runs() == []
    status, bars, *figs, samples = watch_handlers.refresh(demo)
    assert "shipped record, read-only" in status and "finished" in status
    assert {"GRPO · planning", "HICRA · planning"} <= {t["name"].split(" (")[0] for t in figs[1].data}
    assert "Held-out samples" in samples
    *cmp_figs, table, message = runs_handlers.compare([demo])
    assert "HICRA - GRPO" in table and all(f.data for f in cmp_figs)
    for action, message in (("stopped", train_handlers.stop(demo)), ("resumed", train_handlers.resume(demo)),
                            ("deleted", runs_handlers.delete(demo)), ("deleted", runs_handlers.delete_prompt(demo)[0])):
        assert "shipped record" in message and f"cannot be {action}" in message
    assert runs_handlers.download_adapter(demo)[0] is None
    example = watch_handlers.refresh("demo:example-run")
    assert "step 250 of 250" in example[0] and example[2].data
    assert "no shipped run" in watch_handlers.refresh("demo:nope")[0]
    sources = mine_handlers.sample_sources()
    assert mine_handlers.default_corpus() in sources and demo in sources
    assert mine_handlers._corpus_path(None, mine_handlers.default_corpus()).exists()


def test_launch_bad_inputs(lab, monkeypatch):
    from lab.ui import train_handlers
    import lab.ui.context as ctx

    assert "seeds must be whole numbers" in train_handlers.launch("x", "tiny-cpu", "HICRA", 0.2, 5, "a,b", 8,
                                                                   "ground-truth")[0]
    assert "unknown preset" in train_handlers.launch("x", "nope", "HICRA", 0.2, 5, "0", 8, "ground-truth")[0]
    assert "not allowed" in train_handlers.launch("../x", "tiny-cpu", "HICRA", 0.2, 5, "0", 8, "ground-truth")[0]
    bad = lab / "bad.json"
    bad.write_text("{}")
    assert "bad.json" in train_handlers.launch("x", "tiny-cpu", "HICRA", 0.2, 5, "0", 8, str(bad))[0]
    monkeypatch.setenv("HICRA_LAB_PUBLIC", "1")
    ctx.settings.cache_clear()
    assert "at most 300 steps" in train_handlers.launch("x", "tiny-cpu", "HICRA", 0.2, 5000, "0", 8,
                                                        "ground-truth")[0]
    assert "trains only" in train_handlers.launch("x", "tiny-cpu", "HICRA", 0.2, 5, "0", 8, "ground-truth",
                                                  "meta-llama/Llama-3.1-70B")[0]
    assert train_handlers.refresh("")[0].startswith("Launch a run")
    assert train_handlers.refresh("no-such-run")[0].startswith("⚠️")
    assert train_handlers.resume("").startswith("⚠️")
    assert train_handlers.stop("no-such-run").startswith("⚠️")


def test_mine_tab_and_use_in_runs(lab):
    from lab.ui import mine_handlers, train_handlers
    from training.tasks import multiply

    rng = random.Random(0)
    problems = multiply.problems("train")
    corpus = lab / "corpus.jsonl"
    with open(corpus, "w") as f:
        for _ in range(300):
            p = rng.choice(problems)
            t = multiply.write_trace(p, rng)
            f.write(json.dumps({"text": t.text, "correct": t.correct}) + "\n")
    message, rows, fig, sg_file = mine_handlers.run_mining(str(corpus), None, 3, 5, 100, 20)
    assert "Strategic Grams" in message and rows and fig is not None and sg_file.endswith(".json")
    assert any(r[2] == "yes" for r in rows)
    assert "Saved as" in mine_handlers.use_in_runs(sg_file)
    saved = [c for c in train_handlers.sg_choices() if isinstance(c, tuple)]  # (label, path): no server path shown
    assert any(label == "mined: corpus-mined.json" and path.endswith("corpus-mined.json") for label, path in saved)
    empty = lab / "empty.txt"
    empty.write_text("")
    assert mine_handlers.run_mining(str(empty), None, 3, 5, 100, 20)[0] == "⚠️ empty.txt: the file is empty; it needs one solution per line"
    assert "upload a corpus" in mine_handlers.run_mining(None, None, 3, 5, 100, 20)[0]


def test_mine_tab_samples_from_the_bundled_model_and_mines(lab):
    """Mine from a model in the page: sample 64 responses, mine the correct ones, keep the corpus; bad
    input (an unknown task, no responses, a checkpoint outside the runs) gives a message."""
    import json

    from training.hierarchy.grams import load_sg_set
    from lab.ui import mine_handlers as h

    seen = []
    message, rows, fig, sg, corpus = h.mine_from_model("tiny", None, "multiply", 64, 1.0, 3, 5, 5, 100,
                                                       progress=lambda f, m: seen.append((f, m)))
    assert message.startswith("Sampled 64 responses from tiny on multiply"), message
    assert rows and fig is not None and load_sg_set(sg).grams
    assert len([json.loads(x) for x in open(corpus)]) == 64
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] <= 1.0 and any("sampling" in m for _, m in seen)
    for args, expected in ((("tiny", None, "nope", 8, 1.0), "pick a task"),
                           (("tiny", None, "multiply", 0, 1.0), "between 1 and"),
                           (("tiny", None, "multiply", 8, 0), "temperature"),
                           (("tiny", "../../etc/step-1", "multiply", 8, 1.0), "no checkpoint")):
        out = h.mine_from_model(*args, 3, 5, 5, 100)
        assert out[0].startswith("⚠️") and expected in out[0] and out[1:] == ([], None, None, None), out[0]


def test_coverage_warning_shows_in_inspect_and_train_status(lab):
    from lab.ui import handlers, watch_handlers

    _, stats, _ = handlers.highlight("17 * 6 = 102. So the answer is 102.", "math-compact")
    assert "HICRA behaves like GRPO here" in stats and "closing sentence" in stats
    _, stats, _ = handlers.highlight("Let's break this down: 10 * 6 = 60. Wait, let's double-check.", "reasoning")
    assert "HICRA behaves like GRPO" not in stats
    line = watch_handlers.planning_line({"hicra": {0: [{"kind": "step", "planning/ratio": 0.004}]}},
                                        [("hicra-s0", 2, "HICRA behaves like GRPO here: almost none.")])
    assert "HICRA 0.4% of response tokens" in line and "⚠️ HICRA behaves like GRPO here" in line
    assert "(from step 2)" in line


def test_train_offers_the_planning_detectors_and_records_the_one_chosen(lab, monkeypatch):
    """A hub preset fills the form with its detector; picking a detector trains with it on the reasoning preset."""
    import json

    from lab.ui import train_handlers

    assert {"planning-detector", "planning-detector-1.2"} <= set(train_handlers.sg_choices())
    assert train_handlers.preset_fields("space-qwen0.5b")[2] == "planning-detector"
    tiny_preset(monkeypatch)
    msg, name = train_handlers.launch("det", "tiny-test", "HICRA", 0.2, 1, "0", 8, "planning-detector-1.2")
    assert name == "det", msg
    info = wait_finished("det")
    cfg = json.loads((lab / "runs" / "det" / "config.json").read_text())
    assert (cfg["detector"], cfg["sg_set"]) == ("planning-detector-1.2", "reasoning"), info
    status = json.loads((lab / "runs" / "det" / "status.json").read_text())
    assert status["planning"] == "planning-detector 1.2 on SG set reasoning"
