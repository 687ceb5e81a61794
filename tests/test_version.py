"""The lab's version: one place (training.__version__), in the changelog, the app's footer and every run."""

import json
import re
from pathlib import Path

from training import __version__
from training.config import RunConfig, preset, save_config

ROOT = Path(__file__).resolve().parent.parent


def test_the_version_is_the_changelogs_latest_release():
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)[0] == __version__


def test_a_runs_config_records_the_version_and_still_loads(tmp_path):
    cfg = preset("tiny-smoke", steps=3)
    save_config(cfg, tmp_path / "config.json")
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["lab_version"] == __version__
    assert RunConfig.from_json(data) == cfg  # --config reads it back: the version is not a setting


def test_a_run_queued_by_the_job_manager_records_the_version(tmp_path, monkeypatch):
    from training.jobs import JobManager

    monkeypatch.setattr(JobManager, "schedule", lambda self: None)  # queued, not started: no training here
    jobs = JobManager(tmp_path, max_concurrent=1)
    jobs.submit("v", preset("tiny-smoke", steps=1))
    assert json.loads((tmp_path / "v" / "config.json").read_text())["lab_version"] == __version__


def test_the_app_shows_the_version_in_its_footer():
    from lab.ui import create_app

    app = create_app()
    footer = [b.value for b in app.blocks.values() if getattr(b, "elem_id", None) == "lab-version"]
    assert footer == [f"HICRA Lab {__version__}"]
