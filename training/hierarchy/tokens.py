"""Planning-token masks: Strategic Gram spans mapped onto tokens.

A token is a planning token when its character span overlaps the span of a
Strategic Gram occurrence in the decoded text (PAPER_NOTES section 1). We
match on text, never on token ids, so a phrase is found however the
tokenizer splits it (leading space, capital letter, sub-words).

Two entry points:

* :func:`token_mask` for text: tokenize it with offsets and mark tokens.
* :func:`token_masks_from_ids` for generated token ids: rebuild the text from
  per-token byte strings, keeping exact token boundaries, then mark tokens.
  Re-encoding the decoded text would not do: it can split the text into
  different tokens than the model generated.

Works with a ``tokenizers.Tokenizer`` or any transformers fast tokenizer
(its ``backend_tokenizer`` is used; transformers is never imported here).
"""

from __future__ import annotations

import json
import re
import weakref
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

import numpy as np

from training.hierarchy.grams import SGSet
from training.hierarchy.matching import GramMatcher, matcher_for

# A separator that is neither whitespace nor a word character, so no phrase
# can match across two sequences joined with it.
_SEP = "\x00"


def backend_of(tokenizer):
    """The ``tokenizers.Tokenizer`` behind a fast tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", tokenizer)
    if not hasattr(backend, "encode_batch") or not hasattr(backend, "id_to_token"):
        raise TypeError("a fast tokenizer is needed (a `tokenizers.Tokenizer` or a transformers "
                        f"PreTrainedTokenizerFast), got {type(tokenizer).__name__}")
    return backend


def spans_to_mask(spans: Sequence[tuple[int, int]], offsets: np.ndarray) -> np.ndarray:
    """Mark tokens whose ``[start, end)`` offsets overlap any span.

    Args:
        spans: sorted, non-overlapping character spans.
        offsets: (T, 2) int array of token character offsets.
    Returns:
        (T,) bool array. Zero-width tokens (special tokens) are never marked.
    """
    offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
    if not len(spans) or not len(offsets):
        return np.zeros(len(offsets), dtype=bool)
    span_arr = np.asarray(spans, dtype=np.int64)  # (S, 2)
    starts, ends = offsets[:, 0], offsets[:, 1]
    # First span that ends after the token starts; it overlaps the token iff
    # it also starts before the token ends.
    idx = np.searchsorted(span_arr[:, 1], starts, side="right")  # (T,)
    valid = idx < len(span_arr)
    hit = np.zeros(len(offsets), dtype=bool)
    hit[valid] = span_arr[idx[valid], 0] < ends[valid]
    return hit & (ends > starts)


def token_mask(text: str, tokenizer, grams: SGSet | Iterable[str] | GramMatcher,
               add_special_tokens: bool = False):
    """Tokenize ``text`` and mark its planning tokens.

    Returns:
        ``(ids, offsets, mask)``: (T,) token ids, (T, 2) character offsets into
        ``text`` and the (T,) bool planning mask.
    """
    backend = backend_of(tokenizer)
    enc = backend.encode(text, add_special_tokens=add_special_tokens)
    offsets = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)
    mask = spans_to_mask(matcher_for(grams).spans(text), offsets)
    return np.asarray(enc.ids, dtype=np.int64), offsets, mask


# ---------------------------------------------------------------- from ids


@dataclass
class _TokenTable:
    """Per-id byte strings for one tokenizer, built once and cached."""

    pieces: np.ndarray  # (V,) object array of bytes
    lengths: np.ndarray  # (V,) int64 byte lengths


_TABLES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # backend -> table


def _bytes_to_unicode() -> dict[str, int]:
    """GPT-2's byte-level alphabet: printable character -> byte value."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def _decoder_kinds(backend) -> set[str]:
    try:
        spec = json.loads(backend.to_str()).get("decoder") or {}
    except Exception:  # noqa: BLE001 - an exotic tokenizer: use the generic path
        return set()
    kinds: set[str] = set()
    stack = [spec]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "type" in node:
                kinds.add(node["type"])
            if node.get("type") == "Replace" and node.get("content") == " ":
                kinds.add("MetaspaceReplace")
            stack.extend(node.get("decoders", []) or [])
    return kinds


def _token_table(tokenizer) -> _TokenTable:
    backend = backend_of(tokenizer)
    cached = _TABLES.get(backend)
    if cached is not None:
        return cached
    size = backend.get_vocab_size(with_added_tokens=True)
    kinds = _decoder_kinds(backend)
    special = {i for i, tok in backend.get_added_tokens_decoder().items() if tok.special}
    byte_level = "ByteLevel" in kinds
    metaspace = bool(kinds & {"Metaspace", "MetaspaceReplace"})
    byte_map = _bytes_to_unicode() if byte_level else {}
    pieces = np.empty(size, dtype=object)
    for i in range(size):
        tok = backend.id_to_token(i)
        if tok is None or i in special:
            pieces[i] = b""
        elif byte_level and all(c in byte_map for c in tok):
            pieces[i] = bytes(byte_map[c] for c in tok)
        elif metaspace:
            m = _BYTE_FALLBACK.match(tok) if "ByteFallback" in kinds else None
            pieces[i] = bytes([int(m.group(1), 16)]) if m else tok.replace("\u2581", " ").encode()
        elif "WordPiece" in kinds:
            pieces[i] = (tok[2:] if tok.startswith("##") else " " + tok).encode()
        else:
            # Generic fallback: what decoding the id alone gives.
            pieces[i] = backend.decode([i], skip_special_tokens=True).encode()
    table = _TokenTable(pieces=pieces, lengths=np.fromiter(map(len, pieces), np.int64, size))
    _TABLES[backend] = table
    return table


def decode_with_offsets(tokenizer, ids: Sequence[int]) -> tuple[str, np.ndarray]:
    """Text of ``ids`` with each token's character span in it.

    Special tokens decode to nothing (zero-width spans). Bytes that do not
    form valid UTF-8 (a generation cut inside a character) become U+FFFD.

    Returns:
        ``(text, offsets)`` with offsets a (T, 2) int array.
    """
    table = _token_table(tokenizer)
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    if len(ids) and (ids.min() < 0 or ids.max() >= len(table.pieces)):
        raise ValueError(f"token id out of range for this tokenizer (vocabulary size "
                         f"{len(table.pieces)}): min {ids.min()}, max {ids.max()}")
    raw = b"".join(table.pieces[ids])
    byte_ends = np.cumsum(table.lengths[ids])  # (T,)
    byte_starts = byte_ends - table.lengths[ids]
    text = raw.decode("utf-8", errors="replace")
    if len(text) == len(raw):  # ASCII: bytes are characters
        return text, np.stack([byte_starts, byte_ends], axis=1)
    if "\ufffd" not in text or _valid_utf8(raw):
        # Valid UTF-8: a byte boundary's character index is the number of
        # character-start (non-continuation) bytes before it.
        # A token holding only part of a character (byte-level BPE splits
        # multi-byte characters) spans that whole character.
        starts_char = (np.frombuffer(raw, dtype=np.uint8) & 0xC0) != 0x80
        chars_before = np.concatenate([[0], np.cumsum(starts_char)])  # (bytes + 1,)
        nonempty = byte_ends > byte_starts
        first = np.minimum(byte_starts + 1, len(raw))
        char_starts = np.where(nonempty, chars_before[first] - 1, chars_before[byte_starts])
        return text, np.stack([char_starts, chars_before[byte_ends]], axis=1)
    # Invalid bytes (rare): decode prefixes token by token.
    char_ends = np.array([len(raw[:e].decode("utf-8", errors="replace"))
                          for e in byte_ends.tolist()], dtype=np.int64)
    char_starts = np.concatenate([[0], char_ends[:-1]]).astype(np.int64)
    return text, np.stack([char_starts, char_ends], axis=1)


def _valid_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _decode_batch(tokenizer, batch_ids: Sequence[Sequence[int]]) -> tuple[list[str], list[np.ndarray]]:
    texts, offsets = [], []
    for ids in batch_ids:
        text, off = decode_with_offsets(tokenizer, ids)
        texts.append(text)
        offsets.append(off)
    return texts, offsets


def token_masks_from_ids(tokenizer, batch_ids: Sequence[Sequence[int]],
                         grams: SGSet | Iterable[str] | GramMatcher) -> list[np.ndarray]:
    """Planning masks for generated token ids, one (T_i,) bool array per sequence.

    The batch is decoded into one text (sequences joined by a separator no
    phrase can cross), matched with one regex pass and mapped with one
    vectorized search, so cost is linear in the total length.
    """
    matcher = matcher_for(grams)
    texts, offsets = _decode_batch(tokenizer, batch_ids)
    joined = _SEP.join(texts)
    shift = np.cumsum([0] + [len(t) + len(_SEP) for t in texts[:-1]])
    all_offsets = np.concatenate([o + s for o, s in zip(offsets, shift)]) if offsets else \
        np.zeros((0, 2), np.int64)
    mask = spans_to_mask(matcher.spans(joined), all_offsets)
    bounds = np.cumsum([len(o) for o in offsets])[:-1]
    return np.split(mask, bounds)


def span_masks_from_ids(tokenizer, batch_ids: Sequence[Sequence[int]],
                        spans_of: Callable[[str], Sequence[tuple[int, int]]]) -> list[np.ndarray]:
    """Token masks of the character spans that ``spans_of(text)`` finds in each decoded sequence.

    The same token-boundary rule as planning masks: a token is in the mask
    when its character span overlaps one of the spans. Used for positions
    a task knows, such as the digits of computed results.
    """
    texts, offsets = _decode_batch(tokenizer, batch_ids)
    return [spans_to_mask(list(spans_of(text)), off) for text, off in zip(texts, offsets)]
