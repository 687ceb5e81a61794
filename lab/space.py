"""Running on a Hugging Face Space: public mode by default, and a deployment check.

    python -m lab.space check                     # this machine, the repository's README.md front matter
    python -m lab.space check --readme FILE --json

**Safe by default.** A Space (the ``SPACE_ID`` environment variable, which
the Hub sets in every Space) serves strangers, so :func:`apply_space_defaults`
(called by ``app.py`` and ``hicra-lab app`` before the app is built) turns
public mode on there (``HICRA_LAB_PUBLIC=1``: per-visitor ownership, a fair
queue, bounded runs and disk; ``docs/public-mode.md``) unless the owner opts
out explicitly with ``HICRA_LAB_PUBLIC=0`` (or ``false``, ``no``, ``off``),
which is logged loudly on every start. Off a Space nothing changes.

**The check** (:func:`check`) says, one line each, what a maintainer must
set: the Space's front matter (the YAML block at the top of README.md, the
Hub's Spaces configuration reference), the hardware this process sees (CPU,
CUDA, or ZeroGPU as the ``spaces`` package detects it: ``SPACES_ZERO_GPU``),
whether the data folders and the model cache are writable (and survive a
restart), and public mode's settings. Exit status 1 when something would
break the Space, 0 otherwise (warnings included).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping, MutableMapping

ROOT = Path(__file__).resolve().parent.parent
YES = ("1", "true", "yes", "on")
NO = ("0", "false", "no", "off")
# The Hub's Spaces configuration reference: the thumbnail colours, the SDKs; short_description is capped
# at 60 characters (a longer one makes the Hub reject the push).
COLORS = ("red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray")
SDKS = ("gradio", "docker")  # the two paths this app supports (docs/space.md); static and streamlit cannot run it
MAX_SHORT_DESCRIPTION = 60
GRADIO_MAJOR = 6  # requirements.txt: gradio>=6.0,<7
PERSISTENT = Path("/data")  # where a Space's persistent storage is mounted


# ----------------------------------------------------------------- public mode


@dataclass(frozen=True)
class PublicDecision:
    public: bool
    on_space: bool
    reason: str
    opted_out: bool = False  # a Space whose owner switched public mode off: logged loudly


def public_mode(env: Mapping[str, str]) -> PublicDecision:
    """Public mode from the environment: on a Space on unless ``HICRA_LAB_PUBLIC`` says no.

    >>> public_mode({"SPACE_ID": "me/lab"}).public
    True
    >>> public_mode({"SPACE_ID": "me/lab", "HICRA_LAB_PUBLIC": "0"}).opted_out
    True
    >>> public_mode({}).public, public_mode({"HICRA_LAB_PUBLIC": "1"}).public
    (False, True)
    """
    raw = env.get("HICRA_LAB_PUBLIC", "").strip().lower()
    space = env.get("SPACE_ID", "").strip()
    if not space:  # a laptop, a server, a container outside the Hub: exactly as before
        return PublicDecision(raw in YES, False, "HICRA_LAB_PUBLIC=" + raw if raw else "not on a Space")
    if raw in NO:
        return PublicDecision(False, True, f"HICRA_LAB_PUBLIC={raw} on the Space {space}", opted_out=True)
    if raw and raw not in YES:
        return PublicDecision(True, True, f"on the Space {space}; HICRA_LAB_PUBLIC={raw!r} is neither yes nor no, "
                                          "so the safe choice")
    return PublicDecision(True, True, f"on the Space {space}" + (" (HICRA_LAB_PUBLIC=" + raw + ")" if raw else ""))


def apply_space_defaults(env: MutableMapping[str, str] | None = None,
                         log: Callable[[str], None] | None = None) -> PublicDecision:
    """Decide public mode and write it to ``HICRA_LAB_PUBLIC`` (which the app and its runs read).

    Called before the app is built. Off a Space the environment is left as it is.
    """
    env = os.environ if env is None else env
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    decision = public_mode(env)
    if decision.on_space:
        env["HICRA_LAB_PUBLIC"] = "1" if decision.public else "0"
        if decision.opted_out:
            log("!" * 78 + "\n"
                f"WARNING: public mode is OFF on the Space {env.get('SPACE_ID')} ({decision.reason}).\n"
                "Every visitor can stop, resume, delete and download every run, and push adapters with\n"
                "a token. Only do this on a private Space. Unset HICRA_LAB_PUBLIC to switch it back on.\n"
                + "!" * 78)
        else:
            log(f"HICRA Lab: public mode on ({decision.reason}); docs/public-mode.md")
    return decision


# -------------------------------------------------------------------- findings


@dataclass(frozen=True)
class Finding:
    level: str  # "ok", "note", "warn" (works, but set this) or "error" (the Space will not work)
    topic: str
    text: str

    def line(self) -> str:
        return f"[{self.level:>5}] {self.topic}: {self.text}"


def read_front_matter(readme: Path) -> tuple[dict | None, str]:
    """``(fields, problem)``: the YAML block between the first two ``---`` lines of a README."""
    import yaml

    if not readme.exists():
        return None, f"{readme} not found"
    text = readme.read_text(encoding="utf-8")
    match = re.match(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(\r?\n|\Z)", text, re.S)
    if not match:
        return None, f"{readme.name} does not start with a '---' YAML block (the Space's configuration)"
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as err:
        return None, f"its YAML does not parse: {str(err).splitlines()[0]}"
    if not isinstance(data, dict):
        return None, "its YAML block is not a mapping of keys to values"
    return data, ""


def check_front_matter(meta: dict, root: Path = ROOT) -> list[Finding]:
    """The front matter against the Hub's Spaces configuration reference and this repository."""
    out: list[Finding] = []

    def add(level: str, text: str) -> None:
        out.append(Finding(level, "front matter", text))

    for key in ("title", "sdk"):
        if not meta.get(key):
            add("error", f"'{key}' is missing")
    for key in ("colorFrom", "colorTo"):
        if key in meta and meta[key] not in COLORS:
            add("error", f"{key}: {meta[key]!r} is not one of {', '.join(COLORS)}")
    short = meta.get("short_description")
    if short is not None and len(str(short)) > MAX_SHORT_DESCRIPTION:
        add("error", f"short_description has {len(str(short))} characters; the Hub takes at most "
                     f"{MAX_SHORT_DESCRIPTION}")
    sdk = meta.get("sdk")
    if sdk and sdk not in SDKS:
        add("error", f"sdk: {sdk!r}; this app runs with sdk: gradio (the Gradio SDK) or sdk: docker (the Dockerfile)")
    python = str(meta.get("python_version", ""))
    if not python:
        add("warn", "no python_version: the Hub picks its default Python; set python_version: \"3.11\" (the "
                    "version the lab is tested on)")
    elif not re.fullmatch(r"3\.\d+(\.\d+)?", python) or int(python.split(".")[1]) < 10:
        add("error", f"python_version: {python!r}; the lab needs Python 3.10 or newer (tested on 3.11)")
    if sdk == "gradio":
        version = str(meta.get("sdk_version", ""))
        if not version:
            add("error", "sdk: gradio needs sdk_version (the gradio release the Space installs), e.g. 6.31.0")
        elif not version.startswith(f"{GRADIO_MAJOR}."):
            add("error", f"sdk_version {version} is not a gradio {GRADIO_MAJOR} release (requirements.txt: "
                         f"gradio>={GRADIO_MAJOR}.0,<{GRADIO_MAJOR + 1})")
        app_file = meta.get("app_file", "app.py")
        if not (root / str(app_file)).is_file():
            add("error", f"app_file {app_file!r} is not a file in the repository")
    elif sdk == "docker":
        if not (root / "Dockerfile").is_file():
            add("error", "sdk: docker needs a Dockerfile at the repository's root")
        port = meta.get("app_port", 7860)
        if port != 7860:
            add("error", f"app_port {port}: the Dockerfile serves on 7860 (GRADIO_SERVER_PORT)")
    if "license" not in meta:
        add("note", "no license key (the repository is apache-2.0: LICENSE)")
    elif str(meta["license"]).lower() != "apache-2.0":
        add("warn", f"license: {meta['license']!r}, but LICENSE is Apache-2.0 (license: apache-2.0)")
    if not any(f.level in ("error", "warn") for f in out):
        add("ok", f"sdk {sdk}" + (f" {meta.get('sdk_version')}" if sdk == "gradio" else "")
                  + (f", Python {python}" if python else "") + f", app {meta.get('app_file', 'app.py')}")
    return out


# --------------------------------------------------------------------- machine


def detect_hardware(env: Mapping[str, str]) -> dict:
    """``{"kind": "zerogpu" | "cuda" | "cpu", "detail": ...}``.

    ZeroGPU as the ``spaces`` package decides it (``SPACES_ZERO_GPU`` is 1, t
    or true): there CUDA exists only inside ``@spaces.GPU`` calls, so torch
    sees no GPU in this process and the kind must come from the variable.
    """
    cores = env.get("CPU_CORES") or str(os.cpu_count() or 1)
    if env.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true"):
        return {"kind": "zerogpu", "detail": f"ZeroGPU (a GPU lent per @spaces.GPU call), {cores} CPU cores"}
    try:
        import torch

        if torch.cuda.is_available():
            names = sorted({torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())})
            return {"kind": "cuda", "detail": f"{torch.cuda.device_count()} CUDA GPU(s): {', '.join(names)}"}
    except Exception as err:  # noqa: BLE001 - a broken torch is a finding, not a crash
        return {"kind": "cpu", "detail": f"torch does not load ({type(err).__name__}: {err}); {cores} CPU cores"}
    return {"kind": "cpu", "detail": f"no GPU, {cores} CPU cores"}


def _writable(folder: Path) -> str:
    """'' when files can be written in ``folder`` (made if missing), else why not. Leaves nothing behind."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{probe} is not a folder"
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        return f"cannot write in {probe} ({err.strerror or err})"
    return ""


def _survives(folder: Path, on_space: bool) -> bool:
    return not on_space or folder.resolve() == PERSISTENT or PERSISTENT in folder.resolve().parents


def check_machine(env: Mapping[str, str], root: Path = ROOT) -> list[Finding]:
    """Hardware, data folders, the model cache and public mode, as this process would run them."""
    out: list[Finding] = []
    on_space = bool(env.get("SPACE_ID", "").strip())
    hw = detect_hardware(env)
    out.append(Finding("ok", "hardware", hw["detail"]))
    if hw["kind"] == "zerogpu":
        out.append(Finding("warn", "hardware", "ZeroGPU: the trainer runs in a worker process that holds no "
                                               "@spaces.GPU call, so runs train on the CPU; the bundled tiny "
                                               "model is the preset that fits"))
    data = Path(env.get("HICRA_LAB_DATA") or root).expanduser()
    for name in ("runs", "sg-sets"):
        problem = _writable(data / name)
        out.append(Finding("error", "data", f"{data / name}: {problem}; set HICRA_LAB_DATA to a writable folder")
                   if problem else Finding("ok", "data", f"{data / name} is writable"))
    if on_space and not _survives(data, on_space):
        out.append(Finding("warn", "data", f"runs in {data} are lost when the Space restarts; attach persistent "
                                           f"storage and set HICRA_LAB_DATA={PERSISTENT}"))
    cache = Path(env.get("HF_HUB_CACHE") or Path(env.get("HF_HOME") or Path.home() / ".cache" / "huggingface")
                 / "hub").expanduser()
    problem = _writable(cache)
    if problem:
        out.append(Finding("error", "model cache", f"{cache}: {problem}; set HF_HOME to a writable folder"))
    else:
        probe = cache
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free / 1024 ** 3
        out.append(Finding("ok", "model cache", f"{cache} is writable, {free:.1f} GiB free"))
        if on_space and not _survives(cache, on_space):
            out.append(Finding("note", "model cache", "hub models are downloaded again after a restart; with "
                                                      f"persistent storage set HF_HOME={PERSISTENT}/.huggingface"))
    if env.get("HF_HUB_OFFLINE", "").strip().lower() in YES:
        out.append(Finding("note", "model cache", "HF_HUB_OFFLINE is set: only the bundled model and cached "
                                                  "hub models load"))
    out += check_public(env)
    return out


def check_public(env: Mapping[str, str]) -> list[Finding]:
    from training.public import PublicLimits

    decision = public_mode(env)
    out = []
    if decision.opted_out:
        out.append(Finding("warn", "public mode", f"OFF ({decision.reason}): every visitor may stop or delete "
                                                  "every run; unset HICRA_LAB_PUBLIC unless the Space is private"))
    elif decision.public:
        out.append(Finding("ok", "public mode", f"on ({decision.reason})"))
    else:
        out.append(Finding("note", "public mode", "off (not on a Space); set HICRA_LAB_PUBLIC=1 to serve "
                                                  "strangers (docs/public-mode.md)"))
    try:
        limits = PublicLimits.from_env(dict(env))
    except ValueError as err:
        out.append(Finding("error" if decision.public else "warn", "public mode", str(err)))
        return out
    if decision.public:
        listing = ", ".join(f"{f}={v}" for f, v in zip(_env_names(), asdict(limits).values()))
        out.append(Finding("ok", "public mode", f"limits {listing}"))
        if not env.get("OAUTH_CLIENT_ID"):
            out.append(Finding("note", "public mode", "visitors own runs by a browser token; for sign-in with "
                                                      "Hugging Face add hf_oauth: true to the front matter"))
        elif any(importlib.util.find_spec(m) is None for m in ("authlib", "itsdangerous")):
            out.append(Finding("warn", "public mode", "hf_oauth is on but gradio's oauth extra is missing, so "
                                                      "nobody can sign in: add gradio[oauth] to requirements.txt"))
    return out


def _env_names() -> list[str]:
    from dataclasses import fields

    from training.public import PublicLimits

    return [f.metadata["env"] for f in fields(PublicLimits)]


def check(readme: Path | None = None, env: Mapping[str, str] | None = None, root: Path = ROOT) -> list[Finding]:
    """Every finding: the front matter of ``readme`` (default the repository's README.md), then the machine."""
    env = os.environ if env is None else env
    readme = readme or root / "README.md"
    meta, problem = read_front_matter(readme)
    found = [Finding("error", "front matter", problem)] if meta is None else check_front_matter(meta, root)
    return found + check_machine(env, root)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.space", description=__doc__.split("\n\n")[0],
                                 epilog="docs/space.md: both deployment paths and what an owner sets.")
    sub = ap.add_subparsers(dest="command", required=True)
    ck = sub.add_parser("check", help="validate the Space's front matter, hardware, folders and public mode")
    ck.add_argument("--readme", type=Path, default=None, help="the README.md whose front matter to check "
                                                              "(default: the repository's)")
    ck.add_argument("--json", action="store_true", help="print the findings as one JSON list")
    args = ap.parse_args(argv)
    findings = check(args.readme)
    if args.json:
        print(json.dumps([asdict(f) for f in findings], indent=1))
    else:
        for f in findings:
            print(f.line())
        errors = sum(f.level == "error" for f in findings)
        warns = sum(f.level == "warn" for f in findings)
        print(f"{errors} error(s), {warns} warning(s)" + (": fix the errors before deploying" if errors else ""))
    return 1 if any(f.level == "error" for f in findings) else 0


if __name__ == "__main__":
    sys.exit(main())
