"""Every path a user names, resolved in one place: SG sets, models, checkpoints and uploads.

Why one module: the app and the API hand us strings (``sg_set="/dev/zero"``,
``checkpoint="../../x/step-1"``, ``model="/etc/passwd"``), and each place
that opened them on its own had its own holes: a read with no size cap (a
device file grows the process until the kernel kills it), a check after the
model had already loaded, a message that told a visitor whether a server
path exists. Here a path is

* resolved (symlinks followed) and must lie inside one of the allowed roots,
  so neither ``..`` nor a symlink leads out;
* a regular file (not a device, a FIFO or a folder), whose size is checked on
  the opened file before a byte is read, and read at most to its cap;
* in public mode never named back: a refusal says the same whether or not
  the path exists, and public callers name sets by a plain file name inside
  their own folder, not by a path.

No gradio and no lab imports: the engine may use it too. Errors are
:class:`PathError` (a ValueError) or, for SG set content,
:class:`~training.hierarchy.grams.SGSetError`, with a message that says what to do.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Iterable

from training.hierarchy.grams import SGSet, SGSetError, parse_sg_set

# Caps. Each one bounds what one request can cost the shared app.
MAX_PATH_CHARS = 1_000  # a path or name longer than this is not one a person typed
MAX_SG_SET_BYTES = 2_000_000  # an SG set file: 5,000 phrases of 200 characters plus their examples
# Phrases in a user-supplied SG set. A highlight builds the matcher first, about 0.1 ms a phrase, and holds
# the Inspect queue meanwhile: `python bench/sg_set_cost.py` measured 0.42 s at 5,000 phrases and 12.0 s
# at 100,000 on a shared 2-core machine. The shipped sets have 29 to 425 phrases.
MAX_SG_PHRASES = 5_000
MAX_CONFIG_BYTES = 1_000_000  # a run's config.json, or a model folder's
MAX_MODEL_NAME_CHARS = 200  # hub ids are at most 96 characters
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")  # a file or run name, no separators
STEP_RE = re.compile(r"^step-[0-9]{1,9}$")
HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
BUNDLED_MODELS = ("tiny", "bundled", "tiny-planning", "tiny-intermediate", "tiny-execution")


class PathError(ValueError):
    """A path or name the lab will not open; the message says why and what to give instead."""


def text_arg(value: object, what: str, limit: int = MAX_PATH_CHARS) -> str:
    """``value`` as a stripped string, or PathError (not text, too long, a NUL or control character)."""
    if not isinstance(value, str):
        raise PathError(f"{what} must be text, got {_kind(value)}")
    value = value.strip()
    if len(value) > limit:
        raise PathError(f"{what} is {len(value):,} characters long; the limit is {limit:,}")
    if any(ord(c) < 32 for c in value):
        raise PathError(f"{what} contains a control character")
    return value


def inside(path: Path, roots: Iterable[Path]) -> bool:
    """Whether resolved ``path`` is one of ``roots`` or lies under one (roots are resolved here)."""
    for root in roots:
        root = Path(root).resolve()
        if path == root or root in path.parents:
            return True
    return False


def resolve_file(value: object, roots: Iterable[Path], what: str, max_bytes: int) -> Path:
    """A regular file inside ``roots``, at most ``max_bytes`` long, named by a path (private lab only:
    the messages name the path). Relative paths are taken from the current folder."""
    text = text_arg(value, what)
    roots = [Path(r) for r in roots]
    try:
        path = Path(text).expanduser().resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise PathError(f"{what} {text!r}: no such file") from None
    except (OSError, RuntimeError) as err:  # a symlink loop, a permission error
        raise PathError(f"{what} {text!r}: cannot be opened ({type(err).__name__})") from None
    if not inside(path, roots):
        raise PathError(f"{what} {text!r} is outside the folders this lab reads "
                        f"({', '.join(str(r) for r in roots)}); copy it into one of them")
    check_regular(path, f"{what} {text!r}", max_bytes)
    return path


def resolve_named(name: object, folders: Iterable[Path], what: str, max_bytes: int,
                  hint: str = "") -> Path:
    """The file called ``name`` (a plain file name, no folder) in the first of ``folders`` that holds it.

    For public callers: the message is the same whether the name is malformed, missing, a symlink out of
    the folder or a device, so it tells nothing about the server's files.
    """
    refused = PathError(f"no {what} named {str(name)[:60]!r}" + (f"; {hint}" if hint else ""))
    if not isinstance(name, str) or not NAME_RE.match(name.strip()) or ".." in name:
        raise refused
    for folder in folders:
        folder = Path(folder).resolve()
        path = folder / name.strip()
        try:
            real = path.resolve(strict=True)
        except (OSError, RuntimeError):
            continue
        if real.parent != folder:
            raise refused
        try:
            check_regular(real, what, max_bytes)
        except PathError:
            raise refused from None
        return real
    raise refused


def check_regular(path: Path, what: str, max_bytes: int) -> os.stat_result:
    try:
        st = os.stat(path)
    except OSError as err:
        raise PathError(f"{what}: cannot be opened ({err.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise PathError(f"{what} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise PathError(f"{what} is not a regular file (a device, a pipe or a socket)")
    if st.st_size > max_bytes:
        raise PathError(f"{what} is {st.st_size:,} bytes; the limit is {max_bytes:,}")
    return st


def read_capped(path: Path, max_bytes: int, what: str) -> bytes:
    """The bytes of regular file ``path``, refused before reading when it is larger than ``max_bytes``.

    Opened without following a last symlink and without blocking (a FIFO would hang a plain open), and
    checked again on the open file: a file swapped between a check and the read is caught here.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    except OSError as err:
        raise PathError(f"{what}: cannot be opened ({err.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise PathError(f"{what} is not a regular file (a device, a pipe or a socket)")
        if st.st_size > max_bytes:
            raise PathError(f"{what} is {st.st_size:,} bytes; the limit is {max_bytes:,}")
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we read
        raise PathError(f"{what} is larger than the limit of {max_bytes:,} bytes")
    return data


def parse_json(raw: bytes, what: str):
    """Decoded JSON, or PathError naming the problem (not UTF-8, not JSON, nested too deeply)."""
    try:
        return json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise PathError(f"{what}: not UTF-8 text (is it a binary file?)") from None
    except json.JSONDecodeError as err:
        raise PathError(f"{what}: not valid JSON ({err.msg} at line {err.lineno}, column {err.colno})") from None
    except RecursionError:
        raise PathError(f"{what}: its JSON is nested too deeply") from None


def load_sg_file(path: Path, shown: str, max_bytes: int = MAX_SG_SET_BYTES,
                 max_phrases: int = MAX_SG_PHRASES) -> SGSet:
    """An SG set from a resolved file: size-capped, valid SG set JSON, at most ``max_phrases`` phrases.
    ``shown`` names it in messages (a file name, never a server path in public mode)."""
    try:
        data = parse_json(read_capped(path, max_bytes, shown), shown)
    except PathError as err:
        raise SGSetError(str(err)) from None
    sg = parse_sg_set(data, origin=shown)
    if len(sg.grams) > max_phrases:
        raise SGSetError(f"{shown}: {len(sg.grams):,} phrases; an SG set here may have at most "
                         f"{max_phrases:,} (matching cost grows with the set): keep fewer clusters")
    return sg


def read_json_file(path: Path, what: str, max_bytes: int = MAX_CONFIG_BYTES):
    """A small JSON file (a run's or a model's config.json), size-capped and depth-safe."""
    return parse_json(read_capped(path, max_bytes, what), what)


def check_model(value: object, public: bool, allowed: Iterable[str], roots: Iterable[Path],
                verb: str = "runs") -> str:
    """The model a caller named, checked before anything loads: ``"tiny"`` when empty.

    Public: only the names in ``allowed`` (the message names no path). Private: a bundled name, a hub id
    (``owner/name``) or a folder inside ``roots`` holding a ``config.json``.
    """
    name = "tiny" if value is None else text_arg(value, "model", MAX_MODEL_NAME_CHARS) or "tiny"
    allowed = tuple(allowed)
    if public:
        if name not in allowed:
            raise PathError(f"this public lab {verb} only {', '.join(allowed)}")
        return name
    if name in BUNDLED_MODELS:
        return name
    looks_like_path = name.startswith((".", "/", "~")) or name.count("/") != 1 or Path(name).exists()
    if not looks_like_path and HUB_ID_RE.match(name) and ".." not in name:
        return name
    folder = Path(name).expanduser()
    try:
        real = folder.resolve(strict=True)
    except (OSError, RuntimeError):
        raise PathError(f"model {name!r}: no such model folder, and not a hub id (owner/name)") from None
    if not inside(real, roots):
        raise PathError(f"model {name!r} is outside the folders this lab reads ({', '.join(map(str, roots))})")
    if not real.is_dir():
        raise PathError(f"model {name!r} is not a model folder (a folder with config.json)")
    check_regular(real / "config.json", f"model {name!r}: its config.json", MAX_CONFIG_BYTES)
    return str(real)


def resolve_checkpoint(runs: Path, choice: object) -> Path:
    """``run/step-N`` or ``sweep/arm/step-N`` -> that checkpoint's folder inside ``runs``.

    Every part is a plain name (no ``..``, no separators), the folder resolves inside ``runs`` (a symlink
    out is refused) and holds an ``adapter`` folder; the message names only what the caller gave.
    """
    text = text_arg(choice, "checkpoint", 300)
    parts = text.split("/")
    refused = PathError(f"no checkpoint {text[:80]!r}; pick one from the list (a run's run/step-N)")
    if len(parts) not in (2, 3) or not STEP_RE.match(parts[-1]) or \
            not all(NAME_RE.match(p) and ".." not in p for p in parts[:-1]):
        raise refused
    root = Path(runs).resolve()
    try:
        folder = root.joinpath(*parts[:-1], "checkpoints", parts[-1]).resolve(strict=True)
    except (OSError, RuntimeError):
        raise refused from None
    if root not in folder.parents or not (folder / "adapter").is_dir() or \
            root not in (folder / "adapter").resolve().parents:
        raise refused
    return folder


def checkpoint_model(runs: Path, choice: object) -> tuple[Path, str | None]:
    """``(checkpoint folder, the model its run trained)`` (``None``: the config names none)."""
    folder = resolve_checkpoint(runs, choice)
    run_dir = folder.parent.parent
    cfg_path = run_dir / "config.json"
    model = None
    if cfg_path.is_file():
        cfg = read_json_file(cfg_path, "the run's config.json")
        model = cfg.get("model") if isinstance(cfg, dict) else None
        if model is not None and not isinstance(model, str):
            raise PathError("the run's config.json names no model")
    return folder, model


def safe_stem(name: str, default: str = "sg-set") -> str:
    """A file name stem from anything a user sent: letters, digits, '.', '_', '-'; at most 60 characters."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")[:60]
    return stem if stem and NAME_RE.match(stem) else default


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", bool: "true/false", int: "a number", float: "a number",
             type(None): "nothing (null)"}
    return names.get(type(value), type(value).__name__)
