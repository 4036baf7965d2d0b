"""The one boundary between loaded text and the stores: what no store can hold is mapped here.

Every store gets the same text and metadata, so every store gives the same result back.
Ingest applies it to each loaded ``Document`` before chunking (chunk ids, hashes and keyword
terms are made from the clean text) and reports what it changed per file
(``IngestReport.warnings``); each store's ``write`` applies it to the chunks it is given, so a
direct write stores the same as an ingest. The mapping (``README.md`` says it for users):

- **Text** (chunk text, metadata keys and string values, ``location.record`` and headings):
  NUL (``\\x00``) is removed (PostgreSQL cannot store it); a surrogate pair held as two code
  points is joined into the character it encodes, and a lone surrogate (``\\udfff``, no
  valid UTF-8) becomes U+FFFD. Other control characters are kept: every store holds them.
- **Metadata keys**: a key that is not a string becomes ``str(key)``; a key longer than
  ``MAX_KEY_CHARS`` is cut to ``MAX_KEY_CHARS`` characters ending in ``~`` and 12 hex digits
  of its sha256 (distinct long keys stay distinct). When two keys become one, the first
  wins. Keys that are valid text but that a backend reserves (``$``/``#``-prefixed, empty,
  ``chroma:``) are escaped by that store reversibly and read back unchanged (see
  ``rag.stores.chroma``), so they are not renamed here.
- **Metadata values**: str, bool, int and float are kept; None is dropped (the stores have no
  null: a missing key is how they say "no value"); an int outside the signed 64-bit range,
  a float that is NaN or infinite, and a float of magnitude 2**53 or more (the stores round
  or retype those differently) become their ``str``; a list, tuple or dict becomes its
  JSON text (keys sorted); any other object its ``str``. Floats are kept as they are, but
  Chroma may give one back a unit or two off in its 16th-17th significant digit (more often
  for magnitudes far from 1: ``6.3238228790338445e-19`` came back as
  ``6.323822879033845e-19``): no rounding here makes it exact, so compare floats read from
  Chroma to 14 significant digits.

Clean input is returned as the same object (a regular-expression scan finds nothing), so
the boundary costs one scan per string.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

from rag.types import Chunk, Document, Location, Metadata, MetadataValue

__all__ = [
    "MAX_KEY_CHARS",
    "Fixes",
    "clean_chunk",
    "clean_document",
    "clean_key",
    "clean_metadata",
    "clean_text",
    "clean_value",
]

MAX_KEY_CHARS = 256
"""Longest metadata key kept as it is (characters)."""

_INT64 = 2**63
_FLOAT_EXACT = 2.0**53
"""Floats this large or larger are stored as text: the stores disagree on them (Chroma may
round the last digit, PostgreSQL's jsonb gives an integral one back as an integer)."""
_BAD = re.compile("[\x00\ud800-\udfff]")
"""What no store holds: NUL and surrogate code points (not encodable as UTF-8)."""
_SURROGATE = re.compile("[\ud800-\udfff]")

T = TypeVar("T", Document, Chunk)


@dataclass
class Fixes:
    """What the sanitiser changed, counted (one per file in ingest, for its warning)."""

    nul: int = 0
    """NUL characters removed."""
    surrogates: int = 0
    """Surrogate code points mapped (a lone one to U+FFFD, a pair to its character)."""
    keys: int = 0
    """Metadata keys renamed (not a string, or too long)."""
    values: int = 0
    """Metadata values turned into text (nested, NaN/infinite, huge numbers, other objects)."""
    dropped: int = 0
    """Metadata entries dropped (None values, keys that became another key)."""

    def __bool__(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self))

    def describe(self) -> str:
        """One line for the report: what changed and why (empty if nothing did)."""
        parts: list[str] = []
        if self.nul:
            parts.append(f"{self.nul} NUL character(s) removed")
        if self.surrogates:
            parts.append(
                f"{self.surrogates} surrogate code point(s) (not valid UTF-8) replaced with U+FFFD"
            )
        if self.keys:
            parts.append(f"{self.keys} metadata key(s) renamed (not text, or too long)")
        if self.values:
            parts.append(f"{self.values} metadata value(s) stored as text")
        if self.dropped:
            parts.append(f"{self.dropped} metadata value(s) dropped (null or duplicate key)")
        if not parts:
            return ""
        return (
            "; ".join(parts)
            + " (stored as every store can hold them; see the README's 'Text and metadata "
            "rag cannot store')"
        )


def clean_text(text: str, fixes: Fixes | None = None) -> str:
    """``text`` without NUL and with lone surrogates replaced (the same object if clean)."""
    if _BAD.search(text) is None:
        return text
    nul = text.count("\x00")
    if nul:
        text = text.replace("\x00", "")
    surrogates = len(_SURROGATE.findall(text))
    if surrogates:
        # a pair held as two code points is joined; a lone one becomes U+FFFD
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if fixes is not None:
        fixes.nul += nul
        fixes.surrogates += surrogates
    return text


def clean_key(key: object, fixes: Fixes | None = None) -> str:
    """A metadata key as stored: text, clean, at most ``MAX_KEY_CHARS`` characters."""
    if isinstance(key, str):
        out = clean_text(key, fixes)
    else:
        out = clean_text(str(key), fixes)
        if fixes is not None:
            fixes.keys += 1
    if len(out) > MAX_KEY_CHARS:
        digest = hashlib.sha256(out.encode()).hexdigest()[:12]
        out = out[: MAX_KEY_CHARS - 13] + "~" + digest
        if fixes is not None:
            fixes.keys += 1
    return out


def clean_value(value: object, fixes: Fixes | None = None) -> MetadataValue | None:
    """A metadata value as stored (None: the entry is dropped)."""
    if isinstance(value, str):
        return clean_text(value, fixes)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if -_INT64 <= value < _INT64:
            return value
    elif isinstance(value, float):
        if math.isfinite(value) and abs(value) < _FLOAT_EXACT:
            return value
    elif value is None:
        if fixes is not None:
            fixes.dropped += 1
        return None
    if fixes is not None:
        fixes.values += 1
    if isinstance(value, list | tuple | dict):
        try:
            text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
        except (TypeError, ValueError, RecursionError):  # mixed key types, cycles
            text = str(value)
    else:
        text = str(value)
    return clean_text(text, fixes)


def clean_metadata(metadata: Mapping[Any, object], fixes: Fixes | None = None) -> Metadata:
    """Metadata every store holds (see the module docstring); the first of colliding keys wins."""
    out: Metadata = {}
    for key, value in metadata.items():
        stored = clean_value(value, fixes)
        if stored is None:
            continue
        name = clean_key(key, fixes)
        if name in out:
            if fixes is not None:
                fixes.dropped += 1
            continue
        out[name] = stored
    return out


def _clean_location(location: Location, fixes: Fixes | None) -> Location:
    record = location.record
    clean_record = None if record is None else clean_text(record, fixes)
    headings = tuple(clean_text(h, fixes) for h in location.heading_path)
    if clean_record is record and all(
        a is b for a, b in zip(headings, location.heading_path, strict=True)
    ):
        return location
    return location.model_copy(update={"record": clean_record, "heading_path": headings})


def _is_clean(metadata: Mapping[Any, object]) -> bool:
    """True when ``clean_metadata`` would change nothing (checked without building a copy)."""
    for key, value in metadata.items():
        if not isinstance(key, str) or len(key) > MAX_KEY_CHARS or _BAD.search(key):
            return False
        if isinstance(value, str):
            if _BAD.search(value):
                return False
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                return False
        elif not isinstance(value, float) or not (
            math.isfinite(value) and abs(value) < _FLOAT_EXACT
        ):
            return False
    return True


def _clean(item: T, fixes: Fixes | None) -> T:
    text = clean_text(item.text, fixes)
    location = _clean_location(item.location, fixes)
    metadata = item.metadata if _is_clean(item.metadata) else clean_metadata(item.metadata, fixes)
    if text is item.text and location is item.location and metadata is item.metadata:
        return item
    return item.model_copy(update={"text": text, "location": location, "metadata": metadata})


def clean_document(document: Document, fixes: Fixes | None = None) -> Document:
    """``document`` with its text, location and metadata mapped (the same object if clean);
    what changed is counted in ``fixes``."""
    return _clean(document, fixes)


def clean_chunk(chunk: Chunk, fixes: Fixes | None = None) -> Chunk:
    """``chunk`` as every store holds it (the same object if clean). Its id and
    ``content_hash`` are kept: ingest cleans the Documents, so they match the clean text."""
    return _clean(chunk, fixes)
