"""Strategic Gram (SG) sets: named lists of planning phrases, stored as JSON.

A file looks like this (``cluster``, ``tag``, ``cdf``, ``examples``, ``at``
and ``followed_by`` are optional; a bare string stands for
``{"phrase": "..."}``)::

    {
      "schema": "hicra-lab/sg-set",
      "version": 2,
      "name": "math-compact",
      "description": "...",
      "source": "...",
      "grams": [
        {"phrase": "let's double-check", "cluster": 4, "tag": "verification"},
        {"phrase": "now", "tag": "other", "at": "step-start", "followed_by": ","},
        "note that"
      ]
    }

Version 2 added two optional conditions on where a phrase counts, for short
discourse openers that are planning only where they open a step:

* ``"at": "step-start"``: only where a step starts: at the start of the
  text or of a line (after indentation, list markers such as ``-``, ``*``,
  ``1.``, ``#`` and opening ``**``), after a sentence end (``.``, ``!``,
  ``?``) or a colon followed by a space, or right after ``<think>``. The
  default, ``"anywhere"``, is version 1's rule.
* ``"followed_by": ",:"``: only when the next character is one of these
  (``"Now,"`` but not ``"Now the"``). The character is not part of the
  match.

A file that uses neither is written as version 1, which older readers read.

Loading a bad file raises :class:`SGSetError` whose message names the file
and the problem, so the UI and the CLI can show it as it is.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA = "hicra-lab/sg-set"
VERSION = 2
TAGS = ("deduction", "branching", "backtracking", "verification", "other")
POSITIONS = ("anywhere", "step-start")
PRESET_DIR = Path(__file__).resolve().parents[2] / "assets" / "sg"
MAX_PHRASE_CHARS = 200
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


class SGSetError(ValueError):
    """A Strategic Gram set that cannot be used; the message says why."""


def normalize_phrase(phrase: str) -> str:
    """Canonical form used for matching and de-duplication.

    Lower case, NFKC, typographic apostrophes as ``'``, runs of whitespace as
    one space, no leading/trailing space. ``"Let’s  Double-check"`` ->
    ``"let's double-check"``.
    """
    text = unicodedata.normalize("NFKC", phrase).translate(_APOSTROPHES)
    return " ".join(text.lower().split())


@dataclass(frozen=True)
class StrategicGram:
    phrase: str
    cluster: int | None = None
    tag: str = "other"
    cdf: int | None = None  # cluster document frequency, when mined
    examples: tuple[str, ...] = ()
    at: str = "anywhere"  # or "step-start": only where a step starts (version 2)
    followed_by: str = ""  # when set, the next character must be one of these (version 2)

    @property
    def conditional(self) -> bool:
        return self.at != "anywhere" or bool(self.followed_by)


@dataclass(frozen=True)
class SGSet:
    name: str
    grams: tuple[StrategicGram, ...]
    description: str = ""
    source: str = ""
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def phrases(self) -> list[str]:
        return [g.phrase for g in self.grams]

    @property
    def has_clusters(self) -> bool:
        return any(g.cluster is not None for g in self.grams)

    def cluster_of(self) -> dict[str, int | None]:
        """Normalized phrase -> cluster id (None when the set has none)."""
        return {normalize_phrase(g.phrase): g.cluster for g in self.grams}

    def tag_of(self) -> dict[str, str]:
        return {normalize_phrase(g.phrase): g.tag for g in self.grams}

    def to_json(self) -> dict:
        grams = []
        for g in self.grams:
            entry: dict = {"phrase": g.phrase}
            if g.cluster is not None:
                entry["cluster"] = g.cluster
            if g.tag != "other":
                entry["tag"] = g.tag
            if g.cdf is not None:
                entry["cdf"] = g.cdf
            if g.examples:
                entry["examples"] = list(g.examples)
            if g.at != "anywhere":
                entry["at"] = g.at
            if g.followed_by:
                entry["followed_by"] = g.followed_by
            grams.append(entry)
        return {
            "schema": SCHEMA,
            "version": VERSION if any(g.conditional for g in self.grams) else 1,
            "name": self.name,
            "description": self.description,
            "source": self.source,
            **self.extra,
            "grams": grams,
        }


def parse_sg_set(data: object, origin: str = "<data>") -> SGSet:
    """Validate decoded JSON and build an :class:`SGSet`.

    ``origin`` (usually the file path) starts every error message.
    Duplicate phrases (after :func:`normalize_phrase`) keep their first entry.
    """

    def fail(problem: str) -> SGSetError:
        return SGSetError(f"{origin}: {problem}")

    if not isinstance(data, dict):
        raise fail(f"expected a JSON object with a 'grams' list, found {_kind(data)}")
    schema = data.get("schema", SCHEMA)
    if schema != SCHEMA:
        raise fail(f"schema is {schema!r}; expected {SCHEMA!r}")
    version = data.get("version")
    if version is None:
        raise fail(f"missing 'version' (this program reads versions 1 to {VERSION})")
    if not isinstance(version, int) or isinstance(version, bool) or version > VERSION or version < 1:
        raise fail(f"unsupported version {version!r}; this program reads versions 1 to {VERSION}")
    if "grams" not in data:
        raise fail("missing 'grams': expected a list of phrases")
    raw = data["grams"]
    if not isinstance(raw, list):
        raise fail(f"'grams' must be a list of phrases, found {_kind(raw)}")
    if not raw:
        raise fail("'grams' is empty: a Strategic Gram set needs at least one phrase")
    name = data.get("name", "")
    if not isinstance(name, str):
        raise fail(f"'name' must be a string, found {_kind(name)}")

    grams: list[StrategicGram] = []
    seen: set[str] = set()
    for i, entry in enumerate(raw):
        gram = _parse_gram(entry, f"grams[{i}]", fail)
        if gram.conditional and version < 2:
            raise fail(f"grams[{i}] uses 'at' or 'followed_by', which need \"version\": 2")
        key = normalize_phrase(gram.phrase)
        if key not in seen:
            seen.add(key)
            grams.append(gram)
    known = {"schema", "version", "name", "description", "source", "grams"}
    extra = {k: v for k, v in data.items() if k not in known}
    return SGSet(
        name=name or Path(origin).stem,
        grams=tuple(grams),
        description=str(data.get("description", "")),
        source=str(data.get("source", "")),
        extra=extra,
    )


def _parse_gram(entry: object, where: str, fail) -> StrategicGram:
    if isinstance(entry, str):
        entry = {"phrase": entry}
    if not isinstance(entry, dict):
        raise fail(f"{where} is {_kind(entry)}; each entry must be a phrase string "
                   "or an object with a 'phrase' string")
    phrase = entry.get("phrase")
    if not isinstance(phrase, str):
        raise fail(f"{where}.phrase must be a string, found {_kind(phrase)}")
    if not normalize_phrase(phrase):
        raise fail(f"{where}.phrase is blank")
    if len(phrase) > MAX_PHRASE_CHARS:
        raise fail(f"{where}.phrase is {len(phrase)} characters long; "
                   f"a Strategic Gram is a short phrase (at most {MAX_PHRASE_CHARS})")
    cluster = entry.get("cluster")
    if cluster is not None and (not isinstance(cluster, int) or isinstance(cluster, bool)):
        raise fail(f"{where}.cluster must be an integer or null, found {_kind(cluster)}")
    tag = entry.get("tag", "other")
    if tag not in TAGS:
        raise fail(f"{where}.tag is {tag!r}; use one of {', '.join(TAGS)}")
    cdf = entry.get("cdf")
    if cdf is not None and (not isinstance(cdf, int) or isinstance(cdf, bool) or cdf < 0):
        raise fail(f"{where}.cdf must be a non-negative integer, found {cdf!r}")
    examples = entry.get("examples", [])
    if not isinstance(examples, list) or not all(isinstance(e, str) for e in examples):
        raise fail(f"{where}.examples must be a list of strings")
    at = entry.get("at", "anywhere")
    if at not in POSITIONS:
        raise fail(f"{where}.at is {at!r}; use one of {', '.join(POSITIONS)}")
    followed_by = entry.get("followed_by", "")
    if not isinstance(followed_by, str) or len(followed_by) > 10 or \
            any(c.isalnum() or c.isspace() or c == "_" for c in followed_by):
        raise fail(f"{where}.followed_by must be a short string of punctuation characters such as \",:\"")
    return StrategicGram(phrase=phrase.strip(), cluster=cluster, tag=tag, cdf=cdf,
                         examples=tuple(examples), at=at, followed_by=followed_by)


def load_sg_set(path: str | Path) -> SGSet:
    """Read and validate an SG set file; errors name the file and the problem."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SGSetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SGSetError(f"{path}: is a folder, not an SG set file") from None
    except OSError as err:
        raise SGSetError(f"{path}: cannot be read ({err.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SGSetError(f"{path}: not UTF-8 text (is it a binary file?)") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise SGSetError(f"{path}: not valid JSON ({err.msg} at line {err.lineno}, "
                         f"column {err.colno})") from None
    return parse_sg_set(data, origin=str(path))


def save_sg_set(sg_set: SGSet, path: str | Path) -> Path:
    """Write ``sg_set`` as JSON (atomically: a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(sg_set.to_json(), indent=2, ensure_ascii=False) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def list_presets() -> list[str]:
    """Names of the SG sets shipped in ``assets/sg``."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name: str) -> SGSet:
    if name not in list_presets():
        raise SGSetError(f"unknown SG preset {name!r}; available: {', '.join(list_presets())}")
    return load_sg_set(PRESET_DIR / f"{name}.json")


def _kind(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
             int: "a number", float: "a number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
