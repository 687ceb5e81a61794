"""`--help` of every command line in the repository runs: exit 0, a usage line, no traceback.

The modules are found, not listed: every file in lab/, training/ and bench/ that runs as a script
(``if __name__ == "__main__"``) or as a package (``__main__.py``), plus each subcommand of
``python -m training`` and of ``hicra-lab``. A new command line is tested the day it is added.
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _scripts() -> list[list[str]]:
    """The command (after the interpreter) of every module with a command line."""
    found = []
    for top in ("lab", "training"):
        for path in sorted((ROOT / top).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if path.name == "__main__.py":
                found.append(["-m", ".".join(path.parent.relative_to(ROOT).parts)])
            elif 'if __name__ == "__main__"' in text:
                found.append(["-m", ".".join(path.with_suffix("").relative_to(ROOT).parts)])
    for path in sorted((ROOT / "bench").glob("*.py")):
        if 'if __name__ == "__main__"' in path.read_text(encoding="utf-8"):
            found.append([str(path.relative_to(ROOT))])
    return found


SUBCOMMANDS = [["-m", "training", sub] for sub in ("run", "compare", "summary", "eval")]
SUBCOMMANDS += [["-m", "lab.space", "check"]]
SUBCOMMANDS += [["-m", "lab.cli", sub] for sub in ("app", "train", "study", "phases", "mine", "shipped", "space")]
COMMANDS = _scripts() + SUBCOMMANDS


def test_the_known_command_lines_are_found():
    names = {" ".join(c) for c in COMMANDS}
    assert {"-m training", "-m training.study", "-m training.study.phases", "-m lab.mine", "-m lab.shipped",
            "-m lab.space", "-m lab.cli", "-m training.bundled.pretrain", "bench/step_time.py"} <= names


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_runs(command):
    done = subprocess.run([sys.executable, *command, "--help"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in done.stdout.lower(), done.stdout[:500]
