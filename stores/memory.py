"""The in-memory reference store: exact cosine search over a numpy matrix, BM25 in process.

Nothing is persisted. It defines the semantics the other backends are tested
against (``rag.testing.store_contract``) and serves unit tests and small, one-off
runs (``store = "memory"``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np

from rag.errors import CollectionNotFoundError, DimensionMismatchError, StoreError
from rag.sanitize import clean_chunk
from rag.stores.base import (
    DuplicatePolicy,
    Filters,
    SourceRecord,
    apply_policy,
    chunk_fields,
    matches,
    validate_filters,
)
from rag.stores.bm25 import terms_by_id
from rag.stores.bm25_sidecar import MemoryBM25
from rag.types import Chunk, ScoredChunk, Vectors

__all__ = ["MemoryStore"]


def normalize_rows(matrix: Vectors) -> Vectors:
    """Scale each row to unit length (zero rows stay zero) so a dot product is the cosine."""
    m = np.asarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(m, axis=-1, keepdims=True)
    norms[norms == 0] = 1.0
    out: Vectors = (m / norms).astype(np.float32, copy=False)
    return out


def dedupe(
    chunks: Sequence[Chunk], embeddings: Vectors, policy: DuplicatePolicy
) -> tuple[list[Chunk], Vectors]:
    """Resolve ids repeated inside one write: OVERWRITE keeps the last, SKIP the first,
    FAIL raises StoreError."""
    positions: dict[str, int] = {}
    repeated: list[str] = []
    for i, chunk in enumerate(chunks):
        if chunk.id in positions:
            repeated.append(chunk.id)
            if policy is DuplicatePolicy.OVERWRITE:
                positions[chunk.id] = i
        else:
            positions[chunk.id] = i
    if not repeated:
        return list(chunks), embeddings
    if policy is DuplicatePolicy.FAIL:
        shown = ", ".join(repr(x) for x in sorted(set(repeated))[:10])
        raise StoreError(
            f"duplicate chunk ids within one write with policy 'fail': {shown}; "
            "give each chunk a unique id or use policy 'overwrite'/'skip'"
        )
    keep = sorted(positions.values())
    return [chunks[i] for i in keep], embeddings[keep]


def check_shape(chunks: Sequence[Chunk], embeddings: Vectors) -> Vectors:
    """Return ``embeddings`` as a float32 (n, dim) matrix, or raise if it does not fit."""
    emb = np.asarray(embeddings, dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(chunks):
        raise StoreError(
            f"write got {len(chunks)} chunks but embeddings of shape {emb.shape}; "
            "pass one embedding row per chunk as a (n, dim) matrix"
        )
    return emb


def query_vector(embedding: Vectors) -> Vectors:
    """Accept a 1-d vector or a (1, dim) row and return it as 1-d float32."""
    q = np.asarray(embedding, dtype=np.float32)
    if q.ndim == 2 and q.shape[0] == 1:
        q = q[0]
    if q.ndim != 1:
        raise StoreError(f"query takes one vector (1-d), got an array of shape {q.shape}")
    return q


def dimension_error(collection: str, stored: int, got: int, what: str) -> DimensionMismatchError:
    """The error for vectors whose size differs from the collection's, with the fix."""
    return DimensionMismatchError(
        f"collection '{collection}' holds {stored}-dimensional embeddings but this {what} has "
        f"{got} dimensions (a different embedding model?). Use the model the collection was "
        f"built with, use another collection name (--collection / RAG_COLLECTION), or delete "
        f"collection '{collection}' and re-ingest"
    )


def empty_error(collection: str) -> CollectionNotFoundError:
    """The error for querying a collection that does not exist or holds no chunks."""
    return CollectionNotFoundError(
        f"collection '{collection}' does not exist or is empty; run `rag ingest PATH` first "
        f"(with the same --collection) to add documents"
    )


class MemoryStore:
    """Reference ``KeywordSearchStore``: chunks in a dict, unit vectors in a growable numpy
    matrix, keyword terms in its own in-process BM25 sidecar.

    Thread-safe: one lock guards every read and write.
    """

    supports_filters = True
    supports_transactions = False
    supports_keyword_search = True

    def __init__(self, collection: str = "default") -> None:
        self.collection = collection
        self._lock = threading.RLock()
        self._dim: int | None = None
        self._ids: list[str] = []
        self._rows: dict[str, int] = {}
        self._chunks: dict[str, Chunk] = {}
        self._matrix: Vectors = np.zeros((0, 0), dtype=np.float32)
        self._manifest: dict[str, SourceRecord] = {}
        self._keywords = MemoryBM25()

    def __repr__(self) -> str:
        return f"MemoryStore(collection={self.collection!r}, chunks={len(self._ids)})"

    # -- writes --------------------------------------------------------------------

    def write(
        self,
        chunks: Sequence[Chunk],
        embeddings: Vectors,
        policy: DuplicatePolicy = DuplicatePolicy.OVERWRITE,
        *,
        terms: Sequence[Sequence[str]] | None = None,
    ) -> int:
        """Store chunks with their vectors (normalized) and keyword terms; see ``DuplicatePolicy``."""
        if not chunks and np.asarray(embeddings).size == 0:
            return 0
        emb = check_shape(chunks, embeddings)
        by_id = terms_by_id(chunks, terms, policy)
        chunks, emb = dedupe(chunks, emb, policy)
        with self._lock:
            dim = emb.shape[1]
            if self._dim is not None and dim != self._dim:
                raise dimension_error(self.collection, self._dim, dim, "write")
            chunks, emb = apply_policy(self.collection, chunks, emb, self._rows, policy)
            if not chunks:
                return 0
            if self._dim is None:
                self._dim = dim
                self._matrix = np.zeros((max(64, len(chunks)), dim), dtype=np.float32)
            unit_rows = normalize_rows(emb)
            for chunk, row in zip(chunks, unit_rows, strict=True):
                index = self._rows.get(chunk.id)
                if index is None:
                    index = len(self._ids)
                    self._grow(index + 1)
                    self._ids.append(chunk.id)
                    self._rows[chunk.id] = index
                self._matrix[index] = row
                self._chunks[chunk.id] = clean_chunk(chunk)  # what every store holds
            if by_id is None:
                self._keywords.delete_ids([c.id for c in chunks])
            else:
                self._keywords.add(chunks, [by_id[c.id] for c in chunks])
            return len(chunks)

    def _grow(self, needed: int) -> None:
        if needed <= self._matrix.shape[0]:
            return
        bigger = np.zeros(
            (max(needed, 2 * self._matrix.shape[0]), self._matrix.shape[1]), np.float32
        )
        bigger[: len(self._ids)] = self._matrix[: len(self._ids)]
        self._matrix = bigger

    def delete_ids(self, ids: Sequence[str]) -> int:
        """Delete chunks by id (swap-remove keeps the matrix dense); return how many existed."""
        deleted = 0
        with self._lock:
            self._keywords.delete_ids(ids)
            for chunk_id in dict.fromkeys(ids):
                index = self._rows.pop(chunk_id, None)
                if index is None:
                    continue
                del self._chunks[chunk_id]
                last = len(self._ids) - 1
                if index != last:
                    moved = self._ids[last]
                    self._ids[index] = moved
                    self._rows[moved] = index
                    self._matrix[index] = self._matrix[last]
                self._ids.pop()
                deleted += 1
        return deleted

    def delete_source(self, source: str) -> int:
        """Delete every chunk of ``source`` and its manifest entry."""
        with self._lock:
            deleted = self.delete_ids(sorted(self.ids_for_source(source)))
            self._manifest.pop(source, None)
            return deleted

    # -- reads ---------------------------------------------------------------------

    def query(
        self, embedding: Vectors, k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """Exact cosine search: the ``k`` best of all chunks that match ``filters``."""
        validate_filters(filters)
        q = query_vector(embedding)
        with self._lock:
            n = len(self._ids)
            if n == 0 or self._dim is None:
                raise empty_error(self.collection)
            if q.shape[0] != self._dim:
                raise dimension_error(self.collection, self._dim, q.shape[0], "query")
            scores = self._matrix[:n] @ normalize_rows(q)
            candidates = np.arange(n)
            if filters:
                mask = [matches(chunk_fields(self._chunks[i]), filters) for i in self._ids]
                candidates = candidates[np.asarray(mask, dtype=bool)]
            if k <= 0 or candidates.size == 0:
                return []
            cand_scores = scores[candidates]
            if k < candidates.size:
                top = np.argpartition(-cand_scores, k - 1)[:k]
            else:
                top = np.arange(candidates.size)
            order = top[np.argsort(-cand_scores[top], kind="stable")]
            return [
                ScoredChunk(
                    chunk=self._chunks[self._ids[candidates[i]]],
                    score=float(np.clip(cand_scores[i], -1.0, 1.0)),
                )
                for i in order
            ]

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` that is stored."""
        with self._lock:
            return {i for i in ids if i in self._rows}

    def ids_for_source(self, source: str) -> set[str]:
        """Ids of every stored chunk of ``source``."""
        with self._lock:
            return {cid for cid, chunk in self._chunks.items() if chunk.source == source}

    def stored_vectors(self, source: str, content_hashes: Sequence[str]) -> dict[str, Vectors]:
        """The stored vectors of ``source``'s chunks with these content hashes, by hash."""
        wanted = set(content_hashes)
        out: dict[str, Vectors] = {}
        with self._lock:
            for cid, chunk in self._chunks.items():
                h = chunk.content_hash
                if chunk.source == source and h in wanted and h not in out:
                    out[h] = self._matrix[self._rows[cid]].copy()
        return out

    def count(self, filters: Filters | None = None) -> int:
        """Number of stored chunks matching ``filters``."""
        validate_filters(filters)
        with self._lock:
            if not filters:
                return len(self._ids)
            return sum(matches(chunk_fields(c), filters) for c in self._chunks.values())

    # -- manifest ------------------------------------------------------------------

    def sources(self) -> dict[str, SourceRecord]:
        """A copy of the manifest."""
        with self._lock:
            return dict(self._manifest)

    def set_source(self, record: SourceRecord) -> None:
        """Record (or replace) the manifest entry of ``record.source``."""
        with self._lock:
            self._manifest[record.source] = record

    # -- keyword search ------------------------------------------------------------

    def keyword_query(
        self, terms: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """BM25 over the terms the writes carried (``rag.stores.bm25``), best first."""
        return self._keywords.search(terms, k, filters)

    def keyword_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` with keyword rows."""
        return self._keywords.existing_ids(ids)

    def keyword_count(self) -> int:
        """Number of chunks with keyword rows."""
        return self._keywords.count()

    def index_terms(self, chunks: Sequence[Chunk], terms: Sequence[Sequence[str]]) -> int:
        """Replace the keyword rows of stored chunks (others are ignored)."""
        by_id = terms_by_id(chunks, terms)
        assert by_id is not None
        with self._lock:
            stored = [self._chunks[cid] for cid in by_id if cid in self._chunks]
            return self._keywords.add(stored, [by_id[c.id] for c in stored])

    def transaction(self) -> AbstractContextManager[None]:
        """No transactions here: the ingest pipeline's write order keeps a crash repairable."""
        return nullcontext()

    def close(self) -> None:
        """Nothing to release; the data stays usable until the object is dropped."""
