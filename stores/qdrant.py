"""Qdrant store: embedded local mode (``QdrantClient(path=...)``) or a Qdrant server (``url``).

Each chunk is one point of the collection (cosine distance, so ``score`` is the cosine
similarity) whose id is the uuid5 of the chunk id and whose payload holds the chunk
(``rag.stores.qdrant_records`` gives the layout, the escaping of metadata keys and the filter
translation). Text and metadata pass ``rag.sanitize`` first, as in every store.

The manifest lives in a second, vectorless collection ``<collection>__sources`` (one point per
source file); ``rag.stores.qdrant_collection`` checks, creates and deletes both, pages through
their points and turns qdrant-client's errors into ``StoreError``.
Keyword search (BM25) is the SQLite sidecar the store owns
(``rag.stores.bm25_sidecar``), as for Chroma: Qdrant's sparse vectors cannot give the BM25
scores of the other stores (their length normalisation needs the collection's current average
length at query time), and rag scores the same query alike on every store. A write stores
the points, then their terms in the sidecar; deletes go the other way round, so a crash
leaves at worst chunks without keyword rows, which the next ingest finds (``keyword_ids``)
and fills. No transactions (``supports_transactions = False``): the ingest pipeline writes
the manifest entry last, so an interrupted run is repaired by the next one.

Local mode keeps everything in one directory: Qdrant's files and the sidecar
(``<path>/rag_keyword/<collection>.sqlite``); the stores of one process on one path share
one client (``rag.stores.qdrant_local``), and another process gets a ``StoreError`` saying to
use a server. With a server (``qdrant_url``, optional ``qdrant_api_key``, held by the settings
as a secret and never shown), the sidecar lives on the machine that ingests and queries,
``<data_dir>/keyword/qdrant-<hash of the url>/``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rag._lazy import require
from rag.errors import ConfigError, StoreError
from rag.redact import redact
from rag.stores.base import DuplicatePolicy, Filters, SourceRecord, apply_policy
from rag.stores.bm25 import terms_by_id
from rag.stores.bm25_sidecar import SQLiteBM25, sidecar_path
from rag.stores.memory import (
    check_shape,
    dedupe,
    dimension_error,
    empty_error,
    normalize_rows,
    query_vector,
)
from rag.stores.qdrant_collection import MANIFEST_SUFFIX, PAGE, QdrantCollection
from rag.stores.qdrant_local import Local, open_local, release_local
from rag.stores.qdrant_records import (
    from_payload,
    point_id,
    source_payload,
    source_point_id,
    source_record,
    to_payload,
    translate_filters,
)
from rag.types import Chunk, ScoredChunk, Vectors

if TYPE_CHECKING:
    from qdrant_client import QdrantClient, models

__all__ = ["QdrantStore", "server_keyword_dir"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,250}$")
_BATCH = 256
"""Points per upsert request (well under a server's 32 MB request limit at 1,024 dims)."""


def server_keyword_dir(data_dir: Path, url: str) -> Path:
    """Where the sidecars of collections on the server at ``url`` live on this machine."""
    return data_dir / "keyword" / f"qdrant-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


class QdrantStore(QdrantCollection):
    """``KeywordSearchStore`` on Qdrant: a local directory (``path``) or a server (``url``,
    ``api_key``), with its BM25 sidecar ``<collection>.sqlite`` in ``keyword_dir`` (default:
    ``<path>/rag_keyword`` locally, ``server_keyword_dir(default data dir, url)`` with a server)."""

    supports_filters = True
    supports_transactions = False
    supports_keyword_search = True

    def __init__(
        self,
        collection: str,
        path: Path | None = None,
        url: str | None = None,
        *,
        api_key: str | None = None,
        keyword_dir: Path | None = None,
        timeout_s: int = 30,
    ) -> None:
        if (
            not _NAME_RE.match(collection)
            or collection.endswith(MANIFEST_SUFFIX)
            or collection in (".", "..")
        ):
            raise ConfigError(
                f"setting 'collection' ({collection!r}) is not a valid Qdrant collection name "
                "for rag: use letters, digits, '.', '_' or '-' (at most 251), starting with a "
                f"letter or digit, and not ending in {MANIFEST_SUFFIX!r}"
            )
        self.collection = collection
        self.url = url
        self.path: Path | None = None
        self._local: Local | None = None
        if url:
            qdrant_client = require("qdrant_client", "qdrant", "the Qdrant store")
            if not re.match(r"^https?://[^/\s]+", url):
                raise ConfigError(
                    f"setting 'qdrant_url' ({redact(url)!r}) is not a Qdrant server URL; use "
                    "http://HOST:6333 or https://HOST[:PORT]"
                )
            self._client: QdrantClient = qdrant_client.QdrantClient(
                url=url, api_key=api_key, timeout=timeout_s, check_compatibility=False
            )
            self._lock = threading.RLock()
            try:
                self._client.get_collections()
            except Exception as exc:
                self._client.close()
                raise StoreError(
                    f"cannot reach the Qdrant server at {redact(url)} (setting 'qdrant_url'): "
                    f"{type(exc).__name__}: {redact(str(exc))}. Start it, check "
                    "qdrant_api_key, or unset qdrant_url to use local mode (--qdrant-path)"
                ) from None
            if keyword_dir is None:
                from rag.config import default_data_dir

                keyword_dir = server_keyword_dir(default_data_dir(), url)
        else:
            from rag.config import default_data_dir

            self.path = Path(path) if path is not None else default_data_dir() / "qdrant"
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                self._local = open_local(self.path)
            except StoreError:
                raise
            except Exception as exc:
                raise StoreError(
                    f"cannot open the Qdrant directory {self.path}: {type(exc).__name__}: {exc}. "
                    "Check that it is writable and was written by qdrant-client's local mode"
                ) from exc
            self._client = self._local.client
            self._lock = self._local.lock
            keyword_dir = keyword_dir if keyword_dir is not None else self.path / "rag_keyword"
        self.keyword_path = sidecar_path(keyword_dir, collection)
        self._keywords: SQLiteBM25 | None = None
        self._dim: int | None = None
        self._closed = False

    def __repr__(self) -> str:
        where = redact(self.url) if self.url else str(self.path)
        return f"QdrantStore(collection={self.collection!r}, at={where!r})"

    # -- writes ----------------------------------------------------------------------

    def write(
        self,
        chunks: Sequence[Chunk],
        embeddings: Vectors,
        policy: DuplicatePolicy = DuplicatePolicy.OVERWRITE,
        *,
        terms: Sequence[Sequence[str]] | None = None,
    ) -> int:
        """Store chunks (an upsert replaces a point's whole payload), then their keyword terms;
        SKIP adds only new ids, FAIL refuses if any id is stored."""
        if not chunks and np.asarray(embeddings).size == 0:
            return 0
        emb = check_shape(chunks, embeddings)
        by_id = terms_by_id(chunks, terms, policy)
        chunks, emb = dedupe(chunks, emb, policy)
        from qdrant_client import models

        with self._lock:
            self._collection_for_write(emb.shape[1])
            present = self._existing([c.id for c in chunks])
            chunks, emb = apply_policy(self.collection, chunks, emb, present, policy)
            ids = [c.id for c in chunks]
            if not chunks:
                return 0
            rows = normalize_rows(emb).tolist()
            with self._errors("write chunks"):
                for start in range(0, len(chunks), _BATCH):
                    points = [
                        models.PointStruct(id=point_id(c.id), vector=row, payload=to_payload(c))
                        for c, row in zip(
                            chunks[start : start + _BATCH],
                            rows[start : start + _BATCH],
                            strict=True,
                        )
                    ]
                    self._client.upsert(self.collection, points, wait=True)
            if by_id is not None:
                self._sidecar().add(chunks, [by_id[c.id] for c in chunks])
            elif (sidecar := self._sidecar_if_any()) is not None:
                sidecar.delete_ids(ids)  # overwritten chunks lose their old terms
            return len(chunks)

    def _existing(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        ids = list(dict.fromkeys(ids))
        with self._errors("look up ids"):
            for start in range(0, len(ids), PAGE):
                records = self._client.retrieve(
                    self.collection,
                    ids=[point_id(i) for i in ids[start : start + PAGE]],
                    with_payload=["chunk_id"],
                    with_vectors=False,
                )
                found.update(str((r.payload or {}).get("chunk_id")) for r in records)
        return found

    def delete_ids(self, ids: Sequence[str]) -> int:
        """Delete chunks (keyword rows first) by id; return how many existed."""
        with self._lock:
            if not ids or not self.exists():
                return 0
            if (sidecar := self._sidecar_if_any()) is not None:
                sidecar.delete_ids(ids)
            present = self._existing(ids)
            self._delete_points(self.collection, [point_id(i) for i in sorted(present)])
            return len(present)

    def delete_source(self, source: str) -> int:
        """Delete every chunk of ``source`` (keyword rows first) and its manifest entry."""
        with self._lock:
            if (sidecar := self._sidecar_if_any()) is not None:
                sidecar.delete_source(source)
            ids = self.ids_for_source(source)
            if ids:
                self._delete_points(self.collection, [point_id(i) for i in sorted(ids)])
            manifest = self._manifest_name(create=False)
            if manifest is not None:
                self._delete_points(manifest, [source_point_id(source)])
            return len(ids)

    # -- reads -----------------------------------------------------------------------

    def query(
        self, embedding: Vectors, k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` nearest chunks (cosine) matching ``filters``, closest first."""
        where, impossible = translate_filters(filters)
        q = query_vector(embedding)
        with self._lock:
            if not self.exists():
                raise empty_error(self.collection)
            assert self._dim is not None
            if q.shape[0] != self._dim:
                if self._count(None) == 0:
                    raise empty_error(self.collection)
                raise dimension_error(self.collection, self._dim, q.shape[0], "query")
            points: list[Any] = []
            if not impossible and k > 0:
                with self._errors("query"):
                    points = self._client.query_points(
                        self.collection,
                        query=normalize_rows(q).tolist(),
                        query_filter=where,
                        limit=k,
                        with_payload=True,
                        with_vectors=False,
                    ).points
            if not points and self._count(None) == 0:
                raise empty_error(self.collection)
        return [
            ScoredChunk(chunk=from_payload(p.payload), score=float(np.clip(p.score, -1.0, 1.0)))
            for p in points
        ]

    def _count(self, where: models.Filter | None) -> int:
        with self._errors("count chunks"):
            return int(self._client.count(self.collection, count_filter=where, exact=True).count)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already stored."""
        with self._lock:
            if not ids or not self.exists():
                return set()
            return self._existing(ids)

    def ids_for_source(self, source: str) -> set[str]:
        """Ids of every stored chunk of ``source``."""
        from qdrant_client import models

        where = models.Filter(
            must=[models.FieldCondition(key="source", match=models.MatchValue(value=source))]
        )
        with self._lock:
            if not self.exists():
                return set()
            return {
                str((r.payload or {}).get("chunk_id")) for r in self._scroll(self.collection, where)
            }

    def stored_vectors(self, source: str, content_hashes: Sequence[str]) -> dict[str, Vectors]:
        """The stored vectors of ``source``'s chunks with these content hashes, by hash."""
        from qdrant_client import models

        hashes = sorted(set(content_hashes))
        out: dict[str, Vectors] = {}
        with self._lock:
            if not hashes or not self.exists():
                return out
            for start in range(0, len(hashes), PAGE):
                where = models.Filter(
                    must=[
                        models.FieldCondition(key="source", match=models.MatchValue(value=source)),
                        models.FieldCondition(
                            key="content_hash",
                            match=models.MatchAny(any=hashes[start : start + PAGE]),
                        ),
                    ]
                )
                for point in self._scroll(self.collection, where, vectors=True):
                    h = str((point.payload or {}).get("content_hash"))
                    out.setdefault(h, np.asarray(point.vector, dtype=np.float32))
        return out

    def count(self, filters: Filters | None = None) -> int:
        """Number of stored chunks (matching ``filters``)."""
        where, impossible = translate_filters(filters)
        with self._lock:
            if impossible or not self.exists():
                return 0
            return self._count(where)

    # -- manifest --------------------------------------------------------------------

    def sources(self) -> dict[str, SourceRecord]:
        """Every manifest entry, by source path."""
        out: dict[str, SourceRecord] = {}
        with self._lock:
            manifest = self._manifest_name(create=False)
            if manifest is None:
                return out
            for point in self._scroll(manifest, None):
                record = source_record(point.payload)
                out[record.source] = record
        return out

    def set_source(self, record: SourceRecord) -> None:
        """Record (replace) the manifest entry of ``record.source``."""
        from qdrant_client import models

        with self._lock:
            manifest = self._manifest_name(create=True)
            assert manifest is not None
            payload = source_payload(record)
            with self._errors("write the manifest"):
                self._client.upsert(
                    manifest,
                    [
                        models.PointStruct(
                            id=source_point_id(record.source), vector={}, payload=payload
                        )
                    ],
                    wait=True,
                )

    def transaction(self) -> AbstractContextManager[None]:
        """No transactions here: the ingest pipeline's write order keeps a crash repairable."""
        return nullcontext()

    def close(self) -> None:
        """Release the client (local mode: the directory's shared client closes with its last
        store) and the sidecar. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._keywords is not None:
                self._keywords.close()
                self._keywords = None
        if self._local is not None:
            release_local(self._local.key)
        else:
            self._client.close()
