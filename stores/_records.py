"""Chunk and manifest fields shared by Chroma's metadata and Qdrant's payload, mapped once."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from rag.sanitize import clean_chunk
from rag.stores.base import SourceRecord
from rag.types import Chunk, Location, MetadataValue

__all__ = [
    "LOCATION_KEYS",
    "FieldKeys",
    "chunk_fields",
    "chunk_from_fields",
    "manifest_fields",
    "manifest_record",
]

_H = TypeVar("_H")

LOCATION_KEYS = ("loc_page", "loc_start_line", "loc_end_line", "loc_heading_path", "loc_record")
"""A chunk's ``Location``, one key per part (absent when unset)."""


@dataclass(frozen=True)
class FieldKeys:
    """The keys a backend gives the fields whose names differ between Chroma and Qdrant."""

    text: str
    root: str
    rel_path: str
    chunk_id: str | None = None
    """Where the chunk id is stored, or None when the record's own id is the chunk id."""


def chunk_fields(
    chunk: Chunk,
    keys: FieldKeys,
    user_key: Callable[[str], str],
    heading: Callable[[tuple[str, ...]], _H],
) -> dict[str, MetadataValue | _H]:
    """``chunk`` (after ``rag.sanitize``, as every store) as stored fields, in this order: its
    metadata under ``user_key(key)``, the chunk id (if ``keys.chunk_id``), text, ``source``,
    ``content_hash``, root and relative path (only when it has a root), then the location
    (``LOCATION_KEYS``, unset parts absent; ``heading`` encodes the heading path)."""
    chunk = clean_chunk(chunk)
    fields: dict[str, MetadataValue | _H] = {user_key(k): v for k, v in chunk.metadata.items()}
    if keys.chunk_id is not None:
        fields[keys.chunk_id] = chunk.id
    fields[keys.text] = chunk.text
    fields["source"] = chunk.source
    fields["content_hash"] = chunk.content_hash
    if chunk.root:
        fields[keys.root] = chunk.root
        fields[keys.rel_path] = chunk.rel_path
    loc = chunk.location
    if loc.page is not None:
        fields["loc_page"] = loc.page
    if loc.start_line is not None:
        fields["loc_start_line"] = loc.start_line
    if loc.end_line is not None:
        fields["loc_end_line"] = loc.end_line
    if loc.heading_path:
        fields["loc_heading_path"] = heading(loc.heading_path)
    if loc.record is not None:
        fields["loc_record"] = loc.record
    return fields


def chunk_from_fields(
    fields: Mapping[str, Any],
    keys: FieldKeys,
    user_key: Callable[[str], str | None],
    *,
    chunk_id: str,
    text: str,
    heading: tuple[str, ...],
) -> Chunk:
    """The chunk stored as ``fields`` (inverse of ``chunk_fields``): user metadata is every key
    ``user_key`` maps to a user key (None for the reserved ones); the backend decodes the id,
    the text and the heading path; fields an older version did not write read as empty."""
    metadata: dict[str, MetadataValue] = {}
    for key, value in fields.items():
        user = user_key(key)
        if user is not None:
            metadata[user] = value
    return Chunk(
        id=chunk_id,
        text=text,
        source=str(fields.get("source", "")),
        location=Location(
            page=fields.get("loc_page"),
            start_line=fields.get("loc_start_line"),
            end_line=fields.get("loc_end_line"),
            heading_path=heading,
            record=fields.get("loc_record"),
        ),
        content_hash=str(fields.get("content_hash", "")),
        metadata=metadata,
        root=str(fields.get(keys.root, "")),
        rel_path=str(fields.get(keys.rel_path, "")),
    )


def manifest_fields(record: SourceRecord) -> dict[str, MetadataValue]:
    """A manifest entry's fields other than its source (which the backend stores as it needs)."""
    return {
        "file_hash": record.file_hash,
        "chunk_count": int(record.chunk_count),
        "updated_at": float(record.updated_at),
        "embedder": record.embedder,
        "root": record.root,
        "rel_path": record.rel_path,
    }


def manifest_record(source: str, fields: Mapping[str, Any] | None) -> SourceRecord:
    """The manifest entry of ``source`` stored as ``fields`` (inverse of ``manifest_fields``).
    Fields an older version did not write read as empty, and a ``chunk_count`` or
    ``updated_at`` that is not a finite number (a damaged entry) as 0: it only feeds the dry
    run's counts, so listing the sources must not fail on it."""
    fields = fields or {}
    return SourceRecord(
        source=source,
        file_hash=str(fields.get("file_hash", "")),
        chunk_count=int(_number(fields.get("chunk_count"))),
        updated_at=_number(fields.get("updated_at")),
        embedder=str(fields.get("embedder", "")),
        root=str(fields.get("root", "")),
        rel_path=str(fields.get("rel_path", "")),
    )


def _number(value: object) -> float:
    """``value`` if it is a finite int or float (not a bool), else 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    number = float(value)
    return number if math.isfinite(number) else 0.0
