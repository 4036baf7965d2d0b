"""How rag's chunks, manifest entries and filters map onto Chroma records (``rag.stores.chroma``
uses these).

- **Chunk metadata**: the chunk's metadata plus reserved keys ``rag_text`` (the chunk text),
  ``source``, ``content_hash``, ``rag_root`` and ``rag_rel_path`` (the root it was ingested
  under and its path relative to it; absent in records written before roots were recorded,
  read back as empty) and ``loc_*`` (location; ``loc_heading_path`` is a JSON array). User
  metadata keys that collide with a reserved key or that Chroma would reject or drop (empty,
  starting with ``$``, ``#`` or ``chroma:``) are stored as ``meta.<key>`` and restored on
  read. (A user key spelled ``rag_root`` or ``rag_rel_path`` in a record written before
  those were reserved reads as the root: the next ingest rewrites such a file's chunks.)
- **Manifest entries**: one record per source in ``<collection>__sources`` (id = source path)
  whose metadata holds the ``SourceRecord``'s other fields.
- **Filters**: rag's grammar (``rag.stores.base``) becomes a Chroma ``where``
  (``translate_filters``), with what Chroma cannot say itself (``$ne`` on a key that must
  exist, a filter that matches nothing) left to the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from rag.errors import ConfigError
from rag.sanitize import clean_chunk
from rag.stores.base import Filters, SourceRecord, normalize_condition, validate_filters
from rag.types import Chunk, Location, MetadataValue

__all__ = [
    "RESERVED",
    "Translation",
    "Where",
    "from_record",
    "manifest_metadata",
    "source_record",
    "stored_key",
    "to_record",
    "translate_filters",
]

TEXT = "rag_text"
ROOT = "rag_root"
REL_PATH = "rag_rel_path"
RESERVED = frozenset(
    {
        TEXT,
        ROOT,
        REL_PATH,
        "source",
        "content_hash",
        "loc_page",
        "loc_start_line",
        "loc_end_line",
        "loc_heading_path",
        "loc_record",
    }
)
USER_PREFIX = "meta."

Where = dict[str, Any]


def stored_key(key: str) -> str:
    """The Chroma metadata key for a user metadata key (escaped when it would collide)."""
    if (
        key in RESERVED
        or key.startswith(USER_PREFIX)
        or key.startswith(("chroma:", "#", "$"))
        or not key
    ):
        return USER_PREFIX + key
    return key


def to_record(chunk: Chunk) -> dict[str, MetadataValue]:
    """Chunk -> Chroma metadata (no None values, scalars only)."""
    chunk = clean_chunk(chunk)
    meta: dict[str, MetadataValue] = {stored_key(k): v for k, v in chunk.metadata.items()}
    meta[TEXT] = chunk.text
    meta["source"] = chunk.source
    meta["content_hash"] = chunk.content_hash
    if chunk.root:
        meta[ROOT] = chunk.root
        meta[REL_PATH] = chunk.rel_path
    loc = chunk.location
    if loc.page is not None:
        meta["loc_page"] = loc.page
    if loc.start_line is not None:
        meta["loc_start_line"] = loc.start_line
    if loc.end_line is not None:
        meta["loc_end_line"] = loc.end_line
    if loc.heading_path:
        meta["loc_heading_path"] = json.dumps(list(loc.heading_path), ensure_ascii=False)
    if loc.record is not None:
        meta["loc_record"] = loc.record
    return meta


def from_record(chunk_id: str, text: str | None, meta: Mapping[str, Any] | None) -> Chunk:
    """Chroma record -> Chunk (inverse of ``to_record``)."""
    meta = meta or {}
    user: dict[str, MetadataValue] = {}
    for key, value in meta.items():
        if key in RESERVED:
            continue
        user[key.removeprefix(USER_PREFIX) if key.startswith(USER_PREFIX) else key] = value
    heading = meta.get("loc_heading_path")
    location = Location(
        page=meta.get("loc_page"),
        start_line=meta.get("loc_start_line"),
        end_line=meta.get("loc_end_line"),
        heading_path=tuple(json.loads(heading)) if heading else (),
        record=meta.get("loc_record"),
    )
    if text is None:  # written by this version: the text is in the metadata
        stored = meta.get(TEXT)
        text = stored if isinstance(stored, str) else None
    return Chunk(
        id=chunk_id,
        text=text or "",
        source=str(meta.get("source", "")),
        location=location,
        content_hash=str(meta.get("content_hash", "")),
        metadata=user,
        root=str(meta.get(ROOT, "")),
        rel_path=str(meta.get(REL_PATH, "")),
    )


class Translation:
    """A filter turned into a Chroma ``where`` plus what Chroma cannot say by itself."""

    def __init__(self) -> None:
        self.clauses: list[Where] = []
        self.must_exist: set[str] = set()
        """Stored keys a record must have (Chroma's ``$ne`` also matches missing keys)."""
        self.impossible = False
        """The filter matches nothing (empty ``$in``, a list given to ``$eq``)."""

    @property
    def where(self) -> Where | None:
        if not self.clauses:
            return None
        if len(self.clauses) == 1:
            return self.clauses[0]
        return {"$and": self.clauses}


def _scalar_type(value: MetadataValue) -> type:
    return bool if isinstance(value, bool) else type(value)


def translate_filters(filters: Filters | None) -> Translation:
    """Translate the rag filter grammar (``rag.stores.base``) into a Chroma ``where``."""
    validate_filters(filters)
    out = Translation()
    for field, cond in (filters or {}).items():
        key = "source" if field == "source" else stored_key(field)
        for op, arg in normalize_condition(cond).items():
            if op == "$in":
                values = arg if isinstance(arg, list) else []
                if not values:
                    out.impossible = True
                    continue
                groups: dict[type, list[MetadataValue]] = {}
                for v in values:
                    groups.setdefault(_scalar_type(v), []).append(v)
                ors: list[Where] = [{key: {"$in": g}} for g in groups.values()]
                out.clauses.append(ors[0] if len(ors) == 1 else {"$or": ors})
            elif isinstance(arg, list):
                out.impossible = True  # a list only makes sense with $in
            elif op == "$eq":
                out.clauses.append({key: {"$eq": arg}})
            elif op == "$ne":
                if isinstance(arg, bool):
                    out.clauses.append({key: {"$eq": not arg}})
                elif isinstance(arg, int | float):
                    out.clauses.append({"$or": [{key: {"$gt": arg}}, {key: {"$lt": arg}}]})
                else:
                    out.clauses.append({key: {"$ne": arg}})
                    out.must_exist.add(key)
            else:  # $gt $gte $lt $lte
                if isinstance(arg, bool) or not isinstance(arg, int | float):
                    raise ConfigError(
                        f"filter on {field!r}: the Chroma store compares with {op} only numbers, "
                        f"got {arg!r}; use $eq/$in for text, or store a numeric field"
                    )
                out.clauses.append({key: {op: arg}})
    return out


def _number(meta: Mapping[str, Any], key: str) -> float:
    value = meta.get(key, 0)
    return float(value) if isinstance(value, int | float) else 0.0


def manifest_metadata(record: SourceRecord) -> dict[str, MetadataValue]:
    """A manifest entry's metadata (the id is ``record.source``)."""
    return {
        "file_hash": record.file_hash,
        "chunk_count": int(record.chunk_count),
        "updated_at": float(record.updated_at),
        "embedder": record.embedder,
        "root": record.root,
        "rel_path": record.rel_path,
    }


def source_record(source: str, meta: Mapping[str, Any] | None) -> SourceRecord:
    """A manifest entry from its id and metadata (inverse of ``manifest_metadata``; fields an
    older version did not write read as empty)."""
    meta = meta or {}
    return SourceRecord(
        source=source,
        file_hash=str(meta.get("file_hash", "")),
        chunk_count=int(_number(meta, "chunk_count")),
        updated_at=_number(meta, "updated_at"),
        embedder=str(meta.get("embedder", "")),
        root=str(meta.get("root", "")),
        rel_path=str(meta.get("rel_path", "")),
    )
