"""How rag's chunks, manifest entries and filters map onto Chroma records (``rag.stores.chroma``
uses these; the fields Qdrant's payload shares are written and read by ``rag.stores._records``).

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
from rag.stores._records import (
    LOCATION_KEYS,
    FieldKeys,
    chunk_fields,
    chunk_from_fields,
    manifest_fields,
    manifest_record,
)
from rag.stores.base import Filters, SourceRecord, normalize_condition, validate_filters
from rag.types import Chunk, MetadataValue

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
RESERVED = frozenset({TEXT, ROOT, REL_PATH, "source", "content_hash", *LOCATION_KEYS})
USER_PREFIX = "meta."
_KEYS = FieldKeys(text=TEXT, root=ROOT, rel_path=REL_PATH)

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


def _user_key(stored: str) -> str | None:
    """The user metadata key a Chroma metadata key holds (inverse of ``stored_key``), or None
    for the reserved keys."""
    return None if stored in RESERVED else stored.removeprefix(USER_PREFIX)


def _heading_json(heading: tuple[str, ...]) -> str:
    """Chroma holds scalars only: the heading path is stored as a JSON array."""
    return json.dumps(list(heading), ensure_ascii=False)


def to_record(chunk: Chunk) -> dict[str, MetadataValue]:
    """Chunk -> Chroma metadata (no None values, scalars only)."""
    return chunk_fields(chunk, _KEYS, stored_key, _heading_json)


def from_record(chunk_id: str, text: str | None, meta: Mapping[str, Any] | None) -> Chunk:
    """Chroma record -> Chunk (inverse of ``to_record``)."""
    meta = meta or {}
    heading = meta.get("loc_heading_path")
    heading_path = tuple(json.loads(heading)) if heading else ()
    if text is None:  # written by this version: the text is in the metadata
        stored = meta.get(TEXT)
        text = stored if isinstance(stored, str) else None
    return chunk_from_fields(
        meta, _KEYS, _user_key, chunk_id=chunk_id, text=text or "", heading=heading_path
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


def manifest_metadata(record: SourceRecord) -> dict[str, MetadataValue]:
    """A manifest entry's metadata (the id is ``record.source``)."""
    return manifest_fields(record)


def source_record(source: str, meta: Mapping[str, Any] | None) -> SourceRecord:
    """A manifest entry from its id and metadata (inverse of ``manifest_metadata``; read as
    ``rag.stores._records.manifest_record`` says)."""
    return manifest_record(source, meta)
