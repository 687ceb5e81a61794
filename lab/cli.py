"""``hicra-lab``: one command for the app and every command-line tool, beside ``python -m``.

    hicra-lab app                   # the lab on http://127.0.0.1:7860 (what python app.py does)
    hicra-lab train run --preset tiny-cpu --out runs/NAME    # = python -m training run ...
    hicra-lab study ...             # = python -m training.study ...
    hicra-lab phases ...            # = python -m training.study.phases ...
    hicra-lab mine ...              # = python -m lab.mine ...
    hicra-lab shipped ...           # = python -m lab.shipped ...
    hicra-lab space check           # = python -m lab.space check
    hicra-lab --version

Each subcommand hands the rest of the line to the module's own ``main``, so
its ``--help`` and exit codes are the module's. The app and the bundled tiny
models need the repository's ``assets/`` folder: run them from a clone
(``pip install -e .`` there); a plain ``pip install .`` gives the library and
the tools for your own models and data (docs/space.md, "Install").
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# subcommand -> (module whose main(argv) runs it, one line of help)
COMMANDS = {
    "train": ("training.__main__", "train, compare, evaluate and summarise runs (python -m training)"),
    "study": ("training.study.cli", "the HICRA vs GRPO study: sweep, report, figures (python -m training.study)"),
    "phases": ("training.study.phases", "the two-phases study (python -m training.study.phases)"),
    "mine": ("lab.mine", "mine Strategic Grams from a corpus or a model (python -m lab.mine)"),
    "shipped": ("lab.shipped", "the shipped run records (python -m lab.shipped)"),
    "space": ("lab.space", "check a Hugging Face Space deployment (python -m lab.space)"),
}


def _usage() -> str:
    from training import __version__

    lines = [f"usage: hicra-lab [--version] COMMAND [ARGS]   (HICRA Lab {__version__})", "",
             "commands:",
             f"  {'app':<9} start the lab app on port 7860 (python app.py); on a Space public mode is on"]
    lines += [f"  {name:<9} {text}" for name, (_, text) in COMMANDS.items()]
    lines += ["", "hicra-lab COMMAND --help shows a command's own options."]
    return "\n".join(lines)


def run_app() -> int:
    """The app, as ``app.py`` starts it: public mode on a Space, our launch options."""
    import os

    if not (ROOT / "assets").is_dir():
        print(f"error: the app needs the repository's assets/ folder (bundled models, SG sets), not found "
              f"beside {ROOT}; run it from a clone: git clone ... && pip install -e .", file=sys.stderr)
        return 2
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from lab.space import apply_space_defaults

    apply_space_defaults()
    from lab.ui import create_app, launch_options

    create_app().launch(**launch_options())
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(_usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command in ("-V", "--version"):
        from training import __version__

        print(f"hicra-lab {__version__}")
        return 0
    if command == "app":
        if rest and rest[0] in ("-h", "--help"):
            print("usage: hicra-lab app\n\nStart the lab on GRADIO_SERVER_NAME:GRADIO_SERVER_PORT (default "
                  "127.0.0.1:7860).\nOn a Hugging Face Space (SPACE_ID set) public mode is on unless "
                  "HICRA_LAB_PUBLIC=0.")
            return 0
        return run_app()
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    sys.argv[0] = f"hicra-lab {command}"
    try:
        return int(module.main(rest) or 0)
    except SystemExit as done:  # argparse's --help and usage errors
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)


if __name__ == "__main__":
    sys.exit(main())
