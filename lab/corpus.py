"""Read a corpus of solutions for mining, with a clear message for every bad input.

Accepted formats, detected from the content:

* JSON Lines: one object per line with a ``text`` field (or ``response`` /
  ``completion``) and an optional ``correct`` flag - a run's
  ``samples.jsonl`` is one of these;
* plain text: one solution per line.

When correctness is known, only correct solutions are kept (the paper mines
successful solutions).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MAX_LINE_CHARS = 200_000  # a solution longer than this is not a reasoning trace
MAX_FILE_BYTES = 500_000_000
TEXT_FIELDS = ("text", "response", "completion", "solution")


class CorpusError(ValueError):
    """A corpus that cannot be mined; the message says why and what to do."""


@dataclass(frozen=True)
class Corpus:
    texts: list[str]
    total: int  # solutions read
    dropped_incorrect: int  # solutions left out because marked incorrect
    source: str


def read_corpus(path: str | Path, only_correct: bool = True) -> Corpus:
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CorpusError(f"{name}: no such file") from None
    if path.is_dir():
        raise CorpusError(f"{name}: is a folder; give a .jsonl or .txt file")
    if size == 0:
        raise CorpusError(f"{name}: the file is empty; it needs one solution per line")
    if size > MAX_FILE_BYTES:
        raise CorpusError(f"{name}: {size / 1e6:.0f} MB is more than the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise CorpusError(f"{name}: looks like a binary file; give UTF-8 text (JSON Lines or one solution per line)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CorpusError(f"{name}: not UTF-8 text (bad byte at position {err.start}); "
                          "save it as UTF-8") from None
    return parse_corpus(text, name, only_correct)


def parse_corpus(text: str, name: str = "<corpus>", only_correct: bool = True) -> Corpus:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise CorpusError(f"{name}: no solutions in it (only blank lines)")
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_LINE_CHARS:
            raise CorpusError(f"{name}: line {number} is {len(line):,} characters long (limit "
                              f"{MAX_LINE_CHARS:,}); put one solution per line")
    is_jsonl = lines[0].lstrip().startswith("{")
    texts: list[str] = []
    dropped = 0
    for number, line in enumerate(lines, 1):
        if not is_jsonl:
            texts.append(line.strip())
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise CorpusError(f"{name}: line {number} is not valid JSON ({err.msg}); the file looks like "
                              "JSON Lines, so every line must be one JSON object") from None
        if not isinstance(record, dict):
            raise CorpusError(f"{name}: line {number} is not a JSON object")
        field = next((f for f in TEXT_FIELDS if isinstance(record.get(f), str)), None)
        if field is None:
            raise CorpusError(f"{name}: line {number} has no text field (one of {', '.join(TEXT_FIELDS)})")
        correct = record.get("correct")
        if only_correct and correct is not None and not _truthy(correct):
            dropped += 1
            continue
        texts.append(record[field])
    texts = [t for t in texts if t.strip()]
    if not texts:
        raise CorpusError(f"{name}: no correct solutions to mine ({dropped} marked incorrect)" if dropped
                          else f"{name}: no solution text found")
    return Corpus(texts=texts, total=len(lines), dropped_incorrect=dropped, source=name)


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "correct")
    return bool(value)
