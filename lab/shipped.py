"""Shipped run records: read-only runs that come with the repository, so the app can show real training
dynamics with no training.

Where they live (any number; studies add theirs):

* ``assets/demo-runs/<name>/`` -> listed as ``demo:<name>``;
* ``docs/<folder>/runs/<name>/`` -> listed as ``demo:<folder>/<name>``;
* ``assets/example-run/`` (the Guide's example) -> ``demo:example-run``.

Each ``<name>`` is a run directory (``config.json``, ``metrics.jsonl``,
optionally ``status.json`` and ``samples.jsonl``) or a sweep directory whose
sub-folders are run directories. Checkpoints are not shipped. Shipped
corpora for the Mine tab: ``assets/corpora/*.jsonl`` (or ``.txt``), listed as
``demo corpus: <stem>``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "demo:"
CORPUS_PREFIX = "demo corpus: "
EXAMPLE_RUN = "demo:example-run"


def is_shipped(name: object) -> bool:
    return isinstance(name, str) and name.startswith(PREFIX)


def _is_run_or_sweep(path: Path) -> bool:
    if not path.is_dir():
        return False
    if (path / "config.json").exists():
        return True
    return any((p / "config.json").exists() for p in path.iterdir() if p.is_dir())


def shipped_runs(root: Path = ROOT) -> dict[str, Path]:
    """``demo:<name>`` -> folder, for every shipped run or sweep, in a stable order (demo runs, the example,
    then the studies' runs)."""
    found: dict[str, Path] = {}
    demo = root / "assets" / "demo-runs"
    if demo.is_dir():
        for path in sorted(demo.iterdir()):
            if _is_run_or_sweep(path):
                found[PREFIX + path.name] = path
    example = root / "assets" / "example-run"
    if _is_run_or_sweep(example) and EXAMPLE_RUN not in found:
        found[EXAMPLE_RUN] = example
    for runs in sorted((root / "docs").glob("*/runs")):
        for path in sorted(runs.iterdir()):
            if _is_run_or_sweep(path):
                found[f"{PREFIX}{runs.parent.name}/{path.name}"] = path
    return found


def shipped_path(name: str, root: Path = ROOT) -> Path:
    """The folder of a shipped run; a ``ValueError`` with the known names for any other name."""
    runs = shipped_runs(root)
    if name not in runs:
        known = ", ".join(runs) or "none"
        raise ValueError(f"no shipped run named {name!r} (shipped: {known})")
    return runs[name]


def default_study(root: Path = ROOT) -> str | None:
    """The shipped sweep Compare opens with: the first shipped sweep with GRPO and HICRA arms, if any."""
    for name, path in shipped_runs(root).items():
        arms = [p.name for p in path.iterdir() if p.is_dir() and (p / "config.json").exists()]
        if any(a.startswith("grpo-") for a in arms) and any(a.startswith("hicra-") for a in arms):
            return name
    return None


def shipped_corpora(root: Path = ROOT) -> dict[str, Path]:
    """``demo corpus: <stem>`` -> file, for the Mine tab."""
    folder = root / "assets" / "corpora"
    if not folder.is_dir():
        return {}
    return {CORPUS_PREFIX + p.stem: p for p in sorted(folder.iterdir()) if p.suffix in (".jsonl", ".txt")}


def read_only_message(name: str, action: str) -> str:
    """What the page says when someone tries to stop, resume or delete a shipped record."""
    return (f"⚠️ **{name}** is a shipped record (read-only, part of the repository): it cannot be {action}. "
            "Launch your own run in the Train tab to train.")


# ------------------------------------------------------------------ packing

SHIPPED_FILES = ("config.json", "status.json", "metrics.jsonl", "samples.jsonl")


def pack(source: Path, target: Path, corpus: Path | None = None) -> dict:
    """Copy a finished run or sweep's records (no checkpoints, no logs) into a shipped folder.

    ``status.json`` loses what only meant something on the machine that ran
    it (the process id). With ``corpus``, the correct evaluation samples of
    every arm, each distinct text once, become a corpus for the Mine tab
    (``{"text", "correct", "run", "step"}`` lines). Returns counts.
    """
    import json
    import shutil

    source, target = Path(source), Path(target)
    folders = [p for p in sorted(source.iterdir()) if (p / "config.json").exists()] or [source]
    if target.exists():
        shutil.rmtree(target)
    files = texts = 0
    seen: set[str] = set()
    lines = []
    for folder in dict.fromkeys([source] + folders):
        out = target / folder.relative_to(source)
        out.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED_FILES:
            if not (folder / name).exists():
                continue
            if name == "status.json":
                status = json.loads((folder / name).read_text())
                status.pop("pid", None)
                (out / name).write_text(json.dumps(status, indent=2) + "\n")
            else:
                shutil.copyfile(folder / name, out / name)
            files += 1
        if corpus is not None and (folder / "samples.jsonl").exists():
            for line in (folder / "samples.jsonl").read_text().splitlines():
                s = json.loads(line)
                if s.get("correct") and s["text"].strip() and s["text"] not in seen:
                    seen.add(s["text"])
                    lines.append(json.dumps({"text": s["text"], "correct": True, "run": folder.name,
                                             "step": s["step"]}))
    if corpus is not None:
        Path(corpus).parent.mkdir(parents=True, exist_ok=True)
        Path(corpus).write_text("\n".join(lines) + "\n")
        texts = len(lines)
    return {"files": files, "corpus_texts": texts}


def main(argv=None) -> int:
    """``python -m lab.shipped SWEEP TARGET [--corpus FILE]``: pack a run's records for shipping."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m lab.shipped", description=pack.__doc__.splitlines()[0])
    ap.add_argument("source", help="a finished run or sweep directory")
    ap.add_argument("target", help="where the shipped copy goes, e.g. assets/demo-runs/NAME")
    ap.add_argument("--corpus", default=None, help="also write the correct samples here (a Mine corpus)")
    args = ap.parse_args(argv)
    if not Path(args.source).is_dir():
        print(f"error: {args.source}: not a folder", flush=True)
        return 2
    counts = pack(Path(args.source), Path(args.target), Path(args.corpus) if args.corpus else None)
    print(f"{counts['files']} files to {args.target}"
          + (f"; {counts['corpus_texts']} correct solutions to {args.corpus}" if args.corpus else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
