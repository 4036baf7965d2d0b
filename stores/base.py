"""The Store protocol: where chunks and their vectors live.

Contract (every implementation passes ``rag.testing.store_contract``):

- ``write`` stores chunks with their embeddings (and, on a store that
  ``supports_keyword_search``, their keyword ``terms``, in the same call). Ids are
  deterministic, so the ``DuplicatePolicy`` decides what an id that is already stored means:
  OVERWRITE replaces it (upsert), SKIP keeps the stored one, FAIL raises
  ``StoreError`` and writes nothing of that call. A chunk's keyword rows always come from
  the write that stored it: a write without ``terms`` leaves the chunks it wrote unsearchable
  by keyword.
- The first write fixes the collection's embedding dimension; a later write or
  query with another dimension raises ``DimensionMismatchError``.
- ``query`` returns at most ``k`` chunks, closest first, with cosine similarity
  as ``score`` (1.0 = same direction), restricted by ``filters``.
- ``delete_ids``/``delete_source`` remove chunks with their keyword rows;
  ``delete_source`` removes the source's manifest entry too.
- ``transaction()`` groups calls: a store that ``supports_transactions`` (pgvector) commits
  them together or not at all; the others return a no-op context and rely on the manifest
  order below for crash safety.
- The manifest (``sources``/``set_source``) records, per source file, the hash of
  the content that was fully ingested, and the root it was ingested under with its path
  relative to that root (as every chunk does: ``Chunk.root``, ``Chunk.rel_path``). The
  ingest pipeline writes it only after all of a file's chunks are stored, so a crash leaves
  the entry missing or old, and a re-run repairs the file instead of skipping it.
- ``stored_vectors`` reads back the vectors of a source's chunks by content hash, so ingest
  re-keys a moved file (or rewrites one under a new root) without embedding it again.

Keyword search is a declared capability: a store with ``supports_keyword_search`` is a
``KeywordSearchStore`` (BM25 over the terms given to ``write``, scored as in
``rag.stores.bm25``); ``keyword_search(store)`` returns it typed as one, or None.

Async queries are a declared capability too: a store with ``supports_async_query`` (pgvector,
over ``psycopg_pool.AsyncConnectionPool``) makes an ``AsyncQueryStore``, the async twin of its
query side (``aquery``, ``akeyword_query``, ``aclose``; httpx's ``Client``/``AsyncClient``
shape: a twin, not a flag); ``async_queries(store)`` returns one, or None. Only queries have a
twin: writes (ingest) stay sync, and an async caller runs them in its executor.

Filters, one grammar for every store: a mapping of field -> condition, all of which
must hold. Fields are ``source`` or metadata keys (letters, digits, ``_``, ``.``, ``-``).
A condition is a scalar (equality), a list (membership), or a dict with any of
``$eq $ne $gt $gte $lt $lte $in`` (ranges and explicit operators). ``validate_filters``
enforces the rest before any store sees a filter, so every store answers alike or all
refuse alike (``ConfigError`` naming the field): values are ``str``/``int``/``float``/
``bool`` (never None: a filter cannot match a missing value; no NaN or infinity; no NUL or
unpaired surrogate in text); the range operators take a number (not a bool, not text);
``$in`` takes a list and the other operators a single value; an operator dict is not empty.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, cast, runtime_checkable

from rag.errors import ConfigError, StoreError
from rag.types import Chunk, MetadataValue, ScoredChunk, Vectors

Condition = MetadataValue | list[MetadataValue] | dict[str, MetadataValue | list[MetadataValue]]
Filters = Mapping[str, Condition]

FILTER_OPERATORS = frozenset({"$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in"})
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,62}$")


class DuplicatePolicy(StrEnum):
    """What ``write`` does with an id that is already stored."""

    OVERWRITE = "overwrite"
    SKIP = "skip"
    FAIL = "fail"


def duplicates_error(collection: str, stored: Sequence[str]) -> StoreError:
    """The error of a FAIL write whose chunk ids ``stored`` (in write order) are already in
    ``collection``: names the first ten and the fix. One wording for every store."""
    shown = ", ".join(repr(i) for i in stored[:10])
    return StoreError(
        f"collection '{collection}' already holds chunk ids {shown}"
        f"{' ...' if len(stored) > 10 else ''} and the duplicate policy is 'fail'; "
        "nothing was written. Use policy 'overwrite' or 'skip', or delete them first"
    )


def apply_policy(
    collection: str,
    chunks: Sequence[Chunk],
    embeddings: Vectors,
    present: Container[str],
    policy: DuplicatePolicy,
) -> tuple[list[Chunk], Vectors]:
    """The chunks (and their rows of ``embeddings``) a write stores under ``policy``, given the
    ids ``present`` in the store: FAIL raises ``duplicates_error`` if any is, SKIP drops
    them, OVERWRITE keeps all (the store replaces them). Ids must be unique (``dedupe``)."""
    stored = [c.id for c in chunks if c.id in present]
    if not stored or policy is DuplicatePolicy.OVERWRITE:
        return list(chunks), embeddings
    if policy is DuplicatePolicy.FAIL:
        raise duplicates_error(collection, stored)
    keep = [i for i, c in enumerate(chunks) if c.id not in present]
    return [chunks[i] for i in keep], embeddings[keep]


@dataclass(frozen=True)
class SourceRecord:
    """Manifest entry: the content hash of a source file whose chunks are all stored, what
    embedded them (``EmbedderIdentity.key()``; empty in entries older than that field), and
    the root it was ingested under with its path relative to it (empty in older entries)."""

    source: str
    file_hash: str
    chunk_count: int
    updated_at: float
    embedder: str = ""
    root: str = ""
    """The real directory the file was ingested under (``Chunk.root``)."""
    rel_path: str = ""
    """The file's ``/``-separated path relative to ``root`` (``Chunk.rel_path``)."""


@runtime_checkable
class Store(Protocol):
    """A collection of chunks with vectors. See the module docstring for the contract."""

    collection: str
    supports_filters: bool
    supports_transactions: bool
    supports_keyword_search: bool

    def write(
        self,
        chunks: Sequence[Chunk],
        embeddings: Vectors,
        policy: DuplicatePolicy = DuplicatePolicy.OVERWRITE,
        *,
        terms: Sequence[Sequence[str]] | None = None,
    ) -> int:
        """Store chunks (row i of ``embeddings`` is chunk i's vector, ``terms[i]`` its keyword
        terms, ignored without ``supports_keyword_search``); return how many were written."""
        ...

    def query(
        self, embedding: Vectors, k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` closest chunks to a 1-d query vector, closest first."""
        ...

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already stored."""
        ...

    def ids_for_source(self, source: str) -> set[str]:
        """Ids of every stored chunk of one source."""
        ...

    def stored_vectors(self, source: str, content_hashes: Sequence[str]) -> dict[str, Vectors]:
        """The stored (unit-length, float32, 1-d) vector of ``source``'s chunks by content hash,
        for the hashes of ``content_hashes`` that one of its chunks has (one vector per hash:
        chunks with the same text have the same vector)."""
        ...

    def delete_ids(self, ids: Sequence[str]) -> int:
        """Delete chunks (and their keyword rows) by id; return how many existed."""
        ...

    def delete_source(self, source: str) -> int:
        """Delete a source's chunks and manifest entry; return how many chunks were deleted."""
        ...

    def count(self, filters: Filters | None = None) -> int:
        """Number of stored chunks (matching ``filters``)."""
        ...

    def sources(self) -> dict[str, SourceRecord]:
        """The manifest: every fully ingested source file."""
        ...

    def set_source(self, record: SourceRecord) -> None:
        """Record that all chunks of ``record.source`` at ``record.file_hash`` are stored."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose calls commit together (a no-op without ``supports_transactions``)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class KeywordSearchStore(Store, Protocol):
    """A store that ``supports_keyword_search``: BM25 over the terms its writes carried."""

    def keyword_query(
        self, terms: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` best chunks by BM25 for the query ``terms``, best first, restricted by
        ``filters``. Chunks sharing no term with the query are never returned; an empty
        collection returns ``[]``."""
        ...

    def keyword_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` whose keyword rows are stored."""
        ...

    def keyword_count(self) -> int:
        """Number of chunks with keyword rows."""
        ...

    def index_terms(self, chunks: Sequence[Chunk], terms: Sequence[Sequence[str]]) -> int:
        """Replace the keyword rows of chunks that are already stored (repairs a gap left by a
        crash or by writes without terms; ids not stored are ignored); return how many."""
        ...


def keyword_search(store: Store) -> KeywordSearchStore | None:
    """``store`` as a ``KeywordSearchStore`` if it declares ``supports_keyword_search``."""
    if getattr(store, "supports_keyword_search", False):
        return cast(KeywordSearchStore, store)
    return None


@runtime_checkable
class AsyncQueryStore(Protocol):
    """The async twin of a store's query side, for an event loop: the same results as
    ``Store.query`` and ``KeywordSearchStore.keyword_query`` for the same arguments, awaited.
    Opened on the running loop by its first query and tied to that loop; ``aclose`` releases
    its connections (the sync store it came from stays open, and closes on its own)."""

    collection: str

    async def aquery(
        self, embedding: Vectors, k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """``Store.query``, awaited."""
        ...

    async def akeyword_query(
        self, terms: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """``KeywordSearchStore.keyword_query``, awaited (on a store that
        ``supports_keyword_search``)."""
        ...

    async def aclose(self) -> None:
        """Release the twin's connections. Idempotent."""
        ...


@runtime_checkable
class AsyncQueryable(Store, Protocol):
    """A store that ``supports_async_query``: it makes the async twin of its query side."""

    def async_queries(self) -> AsyncQueryStore:
        """A new ``AsyncQueryStore`` over this store's collection (its owner ``aclose``s it);
        cheap: it connects on its first query, on the loop that awaits it."""
        ...


def async_queries(store: Store) -> AsyncQueryStore | None:
    """A new async twin of ``store``'s query side if it declares ``supports_async_query``."""
    if getattr(store, "supports_async_query", False):
        return cast(AsyncQueryable, store).async_queries()
    return None


def validate_filters(filters: Filters | None) -> None:
    """Reject malformed filters (bad field names, unknown operators, values a store would
    treat differently: see the module docstring) before any store sees them."""
    if not filters:
        return
    if not isinstance(filters, Mapping):
        raise ConfigError(
            f"filters must be a mapping of field -> condition, not {type(filters).__name__}"
        )
    for field, cond in filters.items():
        if not isinstance(field, str) or not _FIELD_RE.match(field):
            raise ConfigError(
                f"filter field {field!r} is not a valid name: use letters, digits, '_', '.' or '-' "
                "(starting with a letter or '_')"
            )
        if isinstance(cond, dict):
            if not cond:
                raise ConfigError(
                    f"filter on {field!r} is an empty operator dict; give a value or an "
                    f"operator such as {{'$eq': ...}}"
                )
            for op, arg in cond.items():
                if op not in FILTER_OPERATORS:
                    raise ConfigError(
                        f"filter on {field!r} uses unknown operator {op!r}; "
                        f"use one of {', '.join(sorted(FILTER_OPERATORS))}"
                    )
                _check_argument(field, op, arg)
        elif isinstance(cond, list):
            _check_argument(field, "$in", cond)
        else:
            _check_argument(field, "$eq", cond)


_RANGE_OPERATORS = frozenset({"$gt", "$gte", "$lt", "$lte"})


def _check_argument(field: str, op: str, arg: object) -> None:
    """One operator's argument: a list for ``$in``, a number for ranges, else one value."""
    if op == "$in":
        if not isinstance(arg, list):
            raise ConfigError(
                f"filter on {field!r}: $in takes a list of values, not {type(arg).__name__}"
            )
        for item in arg:
            _check_value(field, op, item)
        return
    if isinstance(arg, list):
        raise ConfigError(
            f"filter on {field!r}: {op} takes one value, not a list (use $in for membership)"
        )
    _check_value(field, op, arg)
    if op in _RANGE_OPERATORS and (isinstance(arg, bool) or not isinstance(arg, int | float)):
        raise ConfigError(
            f"filter on {field!r}: every store compares with {op} only numbers, got {arg!r}; "
            "use $eq/$in for text, or store a numeric field"
        )


def _check_value(field: str, op: str, value: object) -> None:
    if value is None:
        raise ConfigError(
            f"filter on {field!r}: None cannot be matched (a filter never matches a missing "
            "value); leave the field out of the filter instead"
        )
    if not isinstance(value, str | int | float | bool):
        raise ConfigError(
            f"filter on {field!r}: {op} value {value!r} is a {type(value).__name__}; "
            "use text, a number or a bool"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"filter on {field!r}: {op} value {value!r} is not a finite number")
    if isinstance(value, str) and (
        "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value)
    ):
        raise ConfigError(
            f"filter on {field!r}: {op} value {value!r} contains a NUL or an unpaired "
            "surrogate (bytes that were not UTF-8); no stored text holds one"
        )


def normalize_condition(cond: Condition) -> dict[str, MetadataValue | list[MetadataValue]]:
    """Turn the shorthand forms (scalar, list) into the explicit operator dict."""
    if isinstance(cond, dict):
        return cond
    if isinstance(cond, list):
        return {"$in": cond}
    return {"$eq": cond}


def matches(values: Mapping[str, MetadataValue], filters: Filters | None) -> bool:
    """Evaluate ``filters`` against one chunk's fields in Python (reference semantics)."""
    if not filters:
        return True
    for field, cond in filters.items():
        if field not in values:
            return False
        value = values[field]
        for op, arg in normalize_condition(cond).items():
            if not _check(op, value, arg):
                return False
    return True


def _check(op: str, value: MetadataValue, arg: MetadataValue | list[MetadataValue]) -> bool:
    if op == "$in":
        return isinstance(arg, list) and value in arg
    if isinstance(arg, list):
        return False
    if op == "$eq":
        return value == arg
    if op == "$ne":
        return value != arg
    try:
        if op == "$gt":
            return value > arg  # type: ignore[operator]
        if op == "$gte":
            return value >= arg  # type: ignore[operator]
        if op == "$lt":
            return value < arg  # type: ignore[operator]
        if op == "$lte":
            return value <= arg  # type: ignore[operator]
    except TypeError:
        return False
    return False


def chunk_fields(chunk: Chunk) -> dict[str, MetadataValue]:
    """The filterable fields of a chunk: its metadata plus ``source``."""
    return {**chunk.metadata, "source": chunk.source}
