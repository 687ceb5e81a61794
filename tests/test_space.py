"""A Hugging Face Space: public mode by default, and ``python -m lab.space check``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.space import (Finding, apply_space_defaults, check, check_front_matter, check_machine, detect_hardware,
                       public_mode, read_front_matter)

ROOT = Path(__file__).resolve().parent.parent

# The front matter the README carries (the docs page's), with a short_description within the Hub's 60 characters.
FRONT_MATTER = """---
title: HICRA Lab
emoji: 🧭
colorFrom: indigo
colorTo: red
sdk: gradio
sdk_version: 6.31.0
python_version: "3.11"
app_file: app.py
pinned: false
license: apache-2.0
short_description: See and test HICRA vs GRPO credit assignment
---

# HICRA Lab
"""


def _meta(**changes) -> dict:
    import yaml

    meta = yaml.safe_load(FRONT_MATTER.split("---")[1])
    meta.update(changes)
    return {k: v for k, v in meta.items() if v is not None}


def _levels(findings: list[Finding], level: str) -> list[str]:
    return [f.text for f in findings if f.level == level]


# ------------------------------------------------------------- public mode


@pytest.mark.parametrize("env, public, opted_out", [
    ({}, False, False),                                              # a laptop: as before
    ({"HICRA_LAB_PUBLIC": "1"}, True, False),
    ({"SPACE_ID": "me/lab"}, True, False),                           # a Space: on by default
    ({"SPACE_ID": "me/lab", "HICRA_LAB_PUBLIC": "yes"}, True, False),
    ({"SPACE_ID": "me/lab", "HICRA_LAB_PUBLIC": "maybe"}, True, False),  # unclear: the safe choice
    ({"SPACE_ID": "me/lab", "HICRA_LAB_PUBLIC": "0"}, False, True),  # the explicit opt-out
    ({"SPACE_ID": "me/lab", "HICRA_LAB_PUBLIC": "False"}, False, True),
])
def test_public_mode_decision(env, public, opted_out):
    decision = public_mode(env)
    assert (decision.public, decision.opted_out) == (public, opted_out)


def test_apply_writes_the_decision_and_logs_an_opt_out_loudly():
    lines = []
    env = {"SPACE_ID": "me/lab"}
    assert apply_space_defaults(env, lines.append).public and env["HICRA_LAB_PUBLIC"] == "1"
    assert "public mode on" in lines[-1]
    env = {"SPACE_ID": "me/lab", "HICRA_LAB_PUBLIC": "off"}
    assert not apply_space_defaults(env, lines.append).public and env["HICRA_LAB_PUBLIC"] == "0"
    assert "WARNING: public mode is OFF" in lines[-1] and "every run" in lines[-1]
    env = {"HICRA_LAB_PUBLIC": "sure"}  # off a Space the variable is left as the owner wrote it
    apply_space_defaults(env, lines.append)
    assert env == {"HICRA_LAB_PUBLIC": "sure"}


def _app_settings(tmp_path, **env) -> subprocess.CompletedProcess:
    """Import app.py (its option logic, without serving) in a fresh process and print the app's settings."""
    code = "import app\nfrom lab.ui.context import settings\nprint('public', settings().public)"
    clean = {k: v for k, v in os.environ.items() if k not in ("SPACE_ID", "HICRA_LAB_PUBLIC")}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**clean, "HICRA_LAB_DATA": str(tmp_path), **env})


def test_app_starts_in_public_mode_on_a_space(tmp_path):
    done = _app_settings(tmp_path, SPACE_ID="someone/hicra-lab")
    assert done.returncode == 0, done.stderr
    assert "public True" in done.stdout
    done = _app_settings(tmp_path, SPACE_ID="someone/hicra-lab", HICRA_LAB_PUBLIC="0")
    assert "public False" in done.stdout and "WARNING: public mode is OFF" in done.stderr
    done = _app_settings(tmp_path)  # not on a Space: private, as before
    assert "public False" in done.stdout and "WARNING" not in done.stderr


# ------------------------------------------------------------ front matter


def test_the_documented_front_matter_passes(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(FRONT_MATTER, encoding="utf-8")
    meta, problem = read_front_matter(readme)
    assert problem == "" and meta["sdk"] == "gradio"
    found = check_front_matter(meta)
    assert _levels(found, "error") == [] and _levels(found, "warn") == []


@pytest.mark.parametrize("changes, says", [
    ({"short_description": "See and test HICRA vs GRPO credit assignment for LLM reasoning"}, "at most 60"),
    ({"colorFrom": "orange"}, "colorFrom"),
    ({"sdk": "streamlit"}, "sdk: gradio"),
    ({"sdk_version": "4.44.0"}, "gradio 6"),
    ({"sdk_version": None}, "needs sdk_version"),
    ({"app_file": "main.py"}, "app_file"),
    ({"python_version": "3.8"}, "3.10 or newer"),
    ({"title": None}, "'title' is missing"),
    ({"sdk": "docker", "app_port": 8080}, "app_port"),
])
def test_front_matter_errors(changes, says):
    errors = _levels(check_front_matter(_meta(**changes)), "error")
    assert any(says in e for e in errors), errors


def test_front_matter_warnings():
    assert any("python_version" in w for w in _levels(check_front_matter(_meta(python_version=None)), "warn"))
    assert _levels(check_front_matter(_meta(sdk="docker", sdk_version=None)), "error") == []


def test_a_readme_without_front_matter(tmp_path):
    (tmp_path / "README.md").write_text("# HICRA Lab\n")
    meta, problem = read_front_matter(tmp_path / "README.md")
    assert meta is None and "---" in problem
    (tmp_path / "README.md").write_text("---\ntitle: [unclosed\n---\n")
    assert "does not parse" in read_front_matter(tmp_path / "README.md")[1]


# ----------------------------------------------------------------- machine


def test_hardware_zerogpu_as_the_spaces_package_detects_it():
    assert detect_hardware({"SPACES_ZERO_GPU": "true"})["kind"] == "zerogpu"
    assert detect_hardware({"SPACES_ZERO_GPU": "false"})["kind"] != "zerogpu"


def test_machine_findings(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"HICRA_LAB_DATA": str(blocker), "HF_HOME": str(tmp_path / "hf")}
    assert any("HICRA_LAB_DATA" in e for e in _levels(check_machine(env), "error"))
    env = {"HICRA_LAB_DATA": str(tmp_path / "data"), "HF_HOME": str(tmp_path / "hf"), "SPACE_ID": "me/lab"}
    found = check_machine(env)
    assert _levels(found, "error") == []
    assert any("persistent storage" in w for w in _levels(found, "warn"))  # runs outside /data on a Space
    assert any("HICRA_LAB_MAX_QUEUE=4" in t for t in _levels(found, "ok"))  # public mode's limits, listed
    assert not (tmp_path / "data").exists()  # the check writes nothing
    assert any("hf_oauth" in t for t in _levels(found, "note"))
    env["HICRA_LAB_MAX_QUEUE"] = "many"
    assert any("HICRA_LAB_MAX_QUEUE" in e for e in _levels(check_machine(env), "error"))


def test_check_runs_on_the_repository_readme(tmp_path):
    """``python -m lab.space check`` on the repository's own front matter: no error."""
    env = {**os.environ, "HICRA_LAB_DATA": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-m", "lab.space", "check", "--json"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env=env)
    assert "Traceback" not in done.stderr, done.stderr
    findings = [Finding(**f) for f in json.loads(done.stdout)]
    front = [f for f in findings if f.topic == "front matter"]
    if not (ROOT / "README.md").read_text(encoding="utf-8").startswith("---"):
        pytest.skip("README.md has no Space front matter yet")
    assert _levels(front, "error") == [], _levels(front, "error")
    assert done.returncode == 0, done.stdout
    assert [f.level for f in check(ROOT / "README.md", env={"HICRA_LAB_DATA": str(tmp_path)})
            if f.level == "error"] == []


def test_sign_in_without_gradio_oauth_extra_warns(monkeypatch):
    import importlib.util

    from lab.space import check_public

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "authlib" else real(name, *a))
    found = check_public({"SPACE_ID": "me/lab", "OAUTH_CLIENT_ID": "client"})
    assert any("gradio[oauth]" in w for w in _levels(found, "warn"))
