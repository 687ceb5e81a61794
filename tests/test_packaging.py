"""Packaging: pyproject (packages, version, extras, console script), licence and citation, the Docker and
Space files, and `pip install .` into a fresh virtual environment."""

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_version_is_training_dunder_version():
    import training

    assert "version" in PYPROJECT["project"]["dynamic"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "training.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", training.__version__)
    assert yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"] == training.__version__


def test_every_package_is_found():
    """lab, training and every subpackage (a folder of .py files) have an __init__.py, so find_packages ships them."""
    assert PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"] == ["lab", "lab.*", "training",
                                                                             "training.*"]
    for top in ("lab", "training"):
        for folder in [ROOT / top, *(p for p in (ROOT / top).rglob("*") if p.is_dir())]:
            if folder.name != "__pycache__" and any(folder.glob("*.py")):
                assert (folder / "__init__.py").exists(), f"{folder} is not a package: the wheel would miss it"


def test_dependencies_match_requirements_txt():
    def spec(line: str) -> str:
        return line.split("#")[0].strip().replace(" ", "")

    wanted = [spec(line) for line in (ROOT / "requirements.txt").read_text().splitlines() if spec(line)]
    assert PYPROJECT["project"]["dependencies"] == wanted


def test_extras_and_console_script():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras) == {"dev", "bench", "docs"}
    assert any(d.startswith("pytest") for d in extras["dev"])
    assert any(d.startswith("trl") for d in extras["bench"])
    assert {d.split(">")[0] for d in extras["docs"]} == {"mkdocs", "mkdocs-material"}
    assert PYPROJECT["project"]["scripts"] == {"hicra-lab": "lab.cli:main"}


def test_license_and_citation():
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License") and "Version 2.0, January 2004" in text
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "Apache-2.0"
    paper = cff["preferred-citation"]
    assert paper["title"] == "Emergent Hierarchical Reasoning in LLMs through Reinforcement Learning"
    assert paper["identifiers"][0]["value"] == "arXiv:2509.03646"
    assert [a["family-names"] for a in paper["authors"]][0] == "Wang"


def _dockerfile_args() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    return {m.group(1): m.group(2) for m in re.finditer(r'^ARG (\w+)="?([^"\n]*)"?$', text, re.M)}


def test_dockerfile_installs_cpu_torch_by_default():
    text = (ROOT / "Dockerfile").read_text()
    args = _dockerfile_args()
    assert args["TORCH_INDEX"] == "https://download.pytorch.org/whl/cpu"
    assert args["TORCH_SPEC"].startswith("torch")
    assert re.search(r'pip install .*--index-url "\$TORCH_INDEX" "\$TORCH_SPEC"', text)
    assert re.search(r"^FROM python:3\.11", text, re.M)
    assert "EXPOSE 7860" in text and 'CMD ["python", "app.py"]' in text
    assert "GRADIO_SERVER_NAME=0.0.0.0" in text


def test_dockerignore_keeps_local_state_out():
    lines = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", ".venv", "runs", "test-artifacts", "**/__pycache__"} <= lines


def _tracked_files() -> list[Path]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT / n for n in names.splitlines() if (ROOT / n).is_file()]


def test_every_binary_file_goes_through_lfs():
    """A Space refuses binary files outside LFS: .gitattributes must route every tracked binary there."""
    patterns = [line.split()[0] for line in (ROOT / ".gitattributes").read_text().splitlines()
                if "filter=lfs" in line and not line.startswith("#")]
    assert "*.safetensors" in patterns and "*.png" in patterns
    for path in _tracked_files():
        if b"\0" in path.read_bytes()[:8000]:
            assert any(fnmatch.fnmatch(path.name, p) for p in patterns), f"{path.relative_to(ROOT)}: not in LFS"


def test_pip_install_into_a_fresh_venv(tmp_path):
    """`pip install .` of a copy of the sources into a new virtual environment, then `hicra-lab --help`.

    The venv sees the system's packages (torch and the rest are not downloaded again) and builds with the
    system's setuptools (--no-build-isolation, no network); the wheel's own files come from the copy.
    """
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for package in ("lab", "training"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                           "--no-index", str(src)], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    script = venv / "bin" / "hicra-lab"
    done = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage: hicra-lab" in done.stdout and "train" in done.stdout, done.stderr
    done = subprocess.run([str(script), "train", "run", "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0 and "--preset" in done.stdout, done.stderr
    where = subprocess.run([str(python), "-c", "import lab, training; print(lab.__file__, training.__version__)"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=60).stdout
    assert str(venv) in where and "0." in where  # the installed copy, not the checkout
    done = subprocess.run([str(script), "app"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "clone" in done.stderr  # the app needs assets/: said, not a traceback
