"""How rag's chunks, ids and filters map onto Qdrant points (``rag.stores.qdrant`` uses these;
the fields Chroma's metadata shares are written and read by ``rag.stores._records``).

- **Point ids**: Qdrant takes only unsigned integers or UUIDs, so a chunk id becomes
  ``uuid5(CHUNK_NAMESPACE, id)`` (deterministic: the same chunk always lands on the same point;
  the rag id is kept in the payload as ``chunk_id``). A manifest entry's point is
  ``uuid5(SOURCE_NAMESPACE, source)``.
- **Payload**: ``chunk_id``, ``text``, ``source``, ``content_hash``, ``root`` and ``rel_path``
  (the root it was ingested under and its path relative to it; absent in points written
  before roots were recorded) and ``loc_*`` (location; ``loc_heading_path`` a list of
  strings) hold the chunk; each user metadata key is stored
  as ``m-<escaped key>``, so no user key collides with those and none is read as a JSON path:
  Qdrant splits filter keys at ``.`` and ``[``, so every character but ASCII letters, digits
  and ``-`` is written ``_XX`` (its UTF-8 bytes in hex; ``_`` itself too), which is
  reversible and what Qdrant's key parser accepts on the server and in local mode.
- **Manifest entries**: a vectorless point per source (``source_payload``/``source_record``).
- **Filters**: rag's grammar (``rag.stores.base``) becomes one ``Filter``: equality on text or
  bools is ``MatchValue``, on numbers a closed ``Range`` (so ``2020`` matches ``2020.0`` as in
  ``matches``; Qdrant's ``MatchValue`` takes no float), ranges a ``Range``, ``$in`` a
  ``should`` of those, and ``$ne`` a ``must_not`` plus "the key is present" (Qdrant's
  ``must_not`` alone would match chunks without the key; rag's ``$ne`` never does).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rag.stores._records import (
    FieldKeys,
    chunk_fields,
    chunk_from_fields,
    manifest_fields,
    manifest_record,
)
from rag.stores.base import Filters, SourceRecord, normalize_condition, validate_filters
from rag.types import Chunk, MetadataValue

if TYPE_CHECKING:
    from qdrant_client import models

__all__ = [
    "CHUNK_NAMESPACE",
    "SOURCE_NAMESPACE",
    "from_payload",
    "point_id",
    "source_payload",
    "source_point_id",
    "source_record",
    "stored_key",
    "to_payload",
    "translate_filters",
    "user_key",
]

CHUNK_NAMESPACE = uuid.UUID("6f1d9f3a-5a0e-5b7c-9a51-2f4e0c7d8b10")
"""uuid5 namespace of chunk point ids (fixed forever: changing it orphans stored points)."""
SOURCE_NAMESPACE = uuid.UUID("0b6e4c2d-93a7-5f18-8c3e-7d21a9f4e655")
"""uuid5 namespace of manifest entries' point ids."""

_USER = "m-"
_UNSAFE = re.compile(r"[^A-Za-z0-9-]")
_ESCAPED = re.compile(r"(?:_[0-9A-F]{2})+")
_EXACT_INT = 2**53
"""Ints up to this magnitude compare exactly as the float a ``Range`` holds."""
_KEYS = FieldKeys(text="text", root="root", rel_path="rel_path", chunk_id="chunk_id")


def point_id(chunk_id: str) -> str:
    """The Qdrant point id (a UUID) of a rag chunk id."""
    return str(uuid.uuid5(CHUNK_NAMESPACE, chunk_id))


def source_point_id(source: str) -> str:
    """The point id of ``source``'s manifest entry."""
    return str(uuid.uuid5(SOURCE_NAMESPACE, source))


def stored_key(key: str) -> str:
    """The payload key of a user metadata key: ``m-`` plus the key, escaped reversibly."""
    return _USER + _UNSAFE.sub(
        lambda m: "".join(f"_{b:02X}" for b in m.group().encode("utf-8")), key
    )


def user_key(stored: str) -> str | None:
    """The user metadata key a payload key holds (inverse of ``stored_key``), or None for
    rag's own payload keys."""
    if not stored.startswith(_USER):
        return None
    return _ESCAPED.sub(
        lambda m: bytes.fromhex(m.group().replace("_", "")).decode("utf-8"), stored[len(_USER) :]
    )


def to_payload(chunk: Chunk) -> dict[str, Any]:
    """Chunk -> Qdrant payload (after ``rag.sanitize``, as every store)."""
    return chunk_fields(chunk, _KEYS, stored_key, list)


def from_payload(payload: Mapping[str, Any] | None) -> Chunk:
    """Qdrant payload -> Chunk (inverse of ``to_payload``)."""
    payload = payload or {}
    heading = payload.get("loc_heading_path") or ()
    if isinstance(heading, str):  # tolerate a JSON-encoded list
        heading = json.loads(heading)
    return chunk_from_fields(
        payload,
        _KEYS,
        user_key,
        chunk_id=str(payload.get("chunk_id", "")),
        text=str(payload.get("text", "")),
        heading=tuple(heading),
    )


def source_payload(record: SourceRecord) -> dict[str, Any]:
    """A manifest entry's payload (its point id is ``source_point_id(record.source)``)."""
    return {"source": record.source, **manifest_fields(record)}


def source_record(payload: Mapping[str, Any] | None) -> SourceRecord:
    """A manifest entry from its payload (inverse of ``source_payload``; read as
    ``rag.stores._records.manifest_record`` says)."""
    p = payload or {}
    return manifest_record(str(p.get("source", "")), p)


def _equals(key: str, value: MetadataValue) -> models.Condition:
    """Equality with ``matches``' semantics: numbers by value (int or float), text and bools
    by ``MatchValue`` (never across types)."""
    from qdrant_client import models

    if isinstance(value, bool | str):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    if isinstance(value, int) and abs(value) > _EXACT_INT:
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))


def translate_filters(filters: Filters | None) -> tuple[models.Filter | None, bool]:
    """rag's filter grammar -> (a Qdrant ``Filter`` or None, whether it can match nothing).
    Malformed filters raise ``ConfigError`` first (``validate_filters``), as on every store."""
    validate_filters(filters)
    if not filters:
        return None, False
    from qdrant_client import models

    must: list[models.Condition] = []
    must_not: list[models.Condition] = []
    impossible = False
    for field, cond in filters.items():
        key = "source" if field == "source" else stored_key(field)
        bounds: dict[str, float] = {}
        for op, arg in normalize_condition(cond).items():
            if op == "$in":
                values = arg if isinstance(arg, list) else []
                texts = [v for v in values if isinstance(v, str)]
                alts: list[models.Condition] = [
                    _equals(key, v) for v in values if not isinstance(v, str)
                ]
                if texts:
                    alts.append(models.FieldCondition(key=key, match=models.MatchAny(any=texts)))
                if not alts:
                    impossible = True  # an empty list matches nothing
                else:
                    must.append(models.Filter(should=alts))
            elif isinstance(arg, list):
                impossible = True  # validate_filters refuses it; a list only means $in
            elif op == "$eq":
                must.append(_equals(key, arg))
            elif op == "$ne":
                must_not.append(_equals(key, arg))
                must_not.append(models.IsEmptyCondition(is_empty=models.PayloadField(key=key)))
            else:  # $gt $gte $lt $lte: validate_filters let only numbers through
                bounds[op[1:]] = float(arg)
        if bounds:
            must.append(models.FieldCondition(key=key, range=models.Range(**bounds)))
    return models.Filter(must=must or None, must_not=must_not or None), impossible
