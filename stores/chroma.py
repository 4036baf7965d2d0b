"""Chroma store: embedded (``PersistentClient`` on a directory) or a Chroma server (``url``).

Records map to Chroma as ``rag.stores.chroma_records`` says: embedding = the unit-length
chunk vector (cosine space, so ``score = 1 - distance``), metadata = the chunk's metadata plus
reserved keys (the text, source, content hash, root, relative path and location), user keys
escaped where they would collide. Text and metadata pass ``rag.sanitize`` first (NULs, lone
surrogates, values Chroma cannot hold), as in every store.
The text is not Chroma's ``document``: that would also feed Chroma's full-text index,
which rag never queries (its BM25 index is its own), and took half of each write's time
(4.5 s against 2.4 s per 4,096 SciFact chunks). Collections written with documents by
earlier versions are read the same.

The manifest lives in a second collection ``<collection>__sources`` (id = source
path, a 1-d dummy embedding); ``rag.stores.chroma_collection`` opens, creates and deletes
both and turns Chroma's errors into ``StoreError``.
Keyword search (BM25) is a SQLite sidecar owned by the store
(``rag.stores.bm25_sidecar``), opened on first use: a write stores the chunks in Chroma, then
their terms in the sidecar; deletes go the other way round, so a crash leaves at worst chunks
without keyword rows, which the next ingest finds (``keyword_ids``) and fills. Chroma's default embedding function is never used
(it would download an ONNX model): embeddings are always passed explicitly.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import numpy as np

from rag._lazy import require
from rag.errors import ConfigError, StoreError
from rag.stores.base import DuplicatePolicy, Filters, SourceRecord, apply_policy
from rag.stores.bm25 import terms_by_id
from rag.stores.bm25_sidecar import SQLiteBM25, sidecar_path
from rag.stores.chroma_collection import MANIFEST_SUFFIX, ChromaCollection
from rag.stores.chroma_records import (
    Translation,
    Where,
    from_record,
    manifest_metadata,
    source_record,
    to_record,
    translate_filters,
)
from rag.stores.memory import (
    check_shape,
    dedupe,
    dimension_error,
    empty_error,
    normalize_rows,
    query_vector,
)
from rag.types import Chunk, ScoredChunk, Vectors

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

__all__ = ["ChromaStore", "translate_filters"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,501}[A-Za-z0-9]$")
_MANIFEST_VECTOR = np.ones((1, 1), dtype=np.float32)
"""Manifest entries carry a constant 1-d embedding (Chroma requires one)."""


def _parse_url(url: str) -> tuple[str, int, bool]:
    """``http(s)://host[:port]`` -> (host, port, ssl) for ``chromadb.HttpClient``."""
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ConfigError(
            f"setting 'chroma_url' ({url!r}) is not a Chroma server URL; "
            "use http://HOST:PORT or https://HOST[:PORT]"
        )
    ssl = parts.scheme == "https"
    try:
        port = parts.port or (443 if ssl else 8000)
    except ValueError:
        raise ConfigError(f"setting 'chroma_url' ({url!r}) has an invalid port") from None
    return parts.hostname, port, ssl


def _batches(n: int, size: int) -> Iterator[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


class ChromaStore(ChromaCollection):
    """``KeywordSearchStore`` on Chroma: a directory (default ``data_dir/chroma``) or a server
    ``url``, with its BM25 sidecar ``<collection>.sqlite`` in ``keyword_dir`` (default:
    ``<path>/rag_keyword`` when embedded, ``<data_dir>/keyword`` with a server; ``make_store``
    always uses ``<data_dir>/keyword``)."""

    supports_filters = True
    supports_transactions = False
    supports_keyword_search = True

    def __init__(
        self,
        collection: str,
        path: Path | None = None,
        url: str | None = None,
        *,
        keyword_dir: Path | None = None,
    ) -> None:
        if not _NAME_RE.match(collection) or collection.endswith(MANIFEST_SUFFIX):
            raise ConfigError(
                f"setting 'collection' ({collection!r}) is not a valid Chroma collection name: "
                "use 3-512 letters, digits, '.', '_' or '-', starting and ending with a letter "
                f"or digit, and not ending in {MANIFEST_SUFFIX!r}"
            )
        chromadb = require("chromadb", "chroma", "the Chroma store")
        from chromadb.config import Settings as ChromaSettings

        self.collection = collection
        self.url = url
        self.path: Path | None = None
        self._lock = threading.RLock()
        settings = ChromaSettings(anonymized_telemetry=False)
        if url:
            host, port, ssl = _parse_url(url)
            try:
                self._client: ClientAPI = chromadb.HttpClient(
                    host=host, port=port, ssl=ssl, settings=settings
                )
                self._client.heartbeat()
            except ConfigError:
                raise
            except Exception as exc:
                raise StoreError(
                    f"cannot reach the Chroma server at {url} (setting 'chroma_url'): {exc}. "
                    "Start it (`chroma run --path DIR --port PORT`) or unset chroma_url to use "
                    "the embedded store"
                ) from exc
        else:
            from rag.config import default_data_dir

            self.path = Path(path) if path is not None else default_data_dir() / "chroma"
            try:
                self.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            except Exception as exc:
                raise StoreError(
                    f"cannot open the Chroma store in {self.path}: {exc}. Check that the "
                    "directory is writable and not used by another Chroma version, or set "
                    "data_dir to another directory"
                ) from exc
        if keyword_dir is None:
            from rag.config import default_data_dir

            keyword_dir = self.path / "rag_keyword" if self.path else default_data_dir() / "keyword"
        self.keyword_path = sidecar_path(keyword_dir, collection)
        self._keywords: SQLiteBM25 | None = None
        self._max_batch = max(1, int(self._client.get_max_batch_size()))
        self._col: Collection | None = None
        self._manifest: Collection | None = None
        self._dim: int | None = None
        self._load_collection()

    def __repr__(self) -> str:
        where = self.url or str(self.path)
        return f"ChromaStore(collection={self.collection!r}, at={where!r})"

    # -- writes ----------------------------------------------------------------------

    def write(
        self,
        chunks: Sequence[Chunk],
        embeddings: Vectors,
        policy: DuplicatePolicy = DuplicatePolicy.OVERWRITE,
        *,
        terms: Sequence[Sequence[str]] | None = None,
    ) -> int:
        """Store chunks, then their keyword terms; OVERWRITE replaces whole records (Chroma's
        upsert would merge metadata), SKIP adds only new ids, FAIL refuses if any id is stored."""
        if not chunks and np.asarray(embeddings).size == 0:
            return 0
        emb = check_shape(chunks, embeddings)
        by_id = terms_by_id(chunks, terms, policy)
        chunks, emb = dedupe(chunks, emb, policy)
        with self._lock:
            col = self._collection_for_write(emb.shape[1])
            present = self._existing(col, [c.id for c in chunks])
            chunks, emb = apply_policy(self.collection, chunks, emb, present, policy)
            ids = [c.id for c in chunks]
            if present and policy is DuplicatePolicy.OVERWRITE:
                self._delete(col, [i for i in ids if i in present])
            if not chunks:
                return 0
            unit_rows = normalize_rows(emb)
            with self._errors("write chunks"):
                for part in _batches(len(chunks), self._max_batch):
                    col.add(
                        ids=ids[part],
                        embeddings=unit_rows[part],
                        metadatas=[to_record(c) for c in chunks[part]],
                    )
            if by_id is not None:
                self._sidecar().add(chunks, [by_id[c.id] for c in chunks])
            elif (sidecar := self._sidecar_if_any()) is not None:
                sidecar.delete_ids(ids)  # overwritten chunks lose their old terms
            return len(chunks)

    def _existing(self, col: Collection, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._errors("look up ids"):
            for part in _batches(len(ids), self._max_batch):
                found.update(col.get(ids=list(ids[part]), include=[])["ids"])
        return found

    def _delete(self, col: Collection, ids: Sequence[str]) -> None:
        with self._errors("delete chunks"):
            for part in _batches(len(ids), self._max_batch):
                col.delete(ids=list(ids[part]))

    def delete_ids(self, ids: Sequence[str]) -> int:
        """Delete chunks by id; return how many existed."""
        with self._lock:
            if not ids or not self.exists():
                return 0
            if (sidecar := self._sidecar_if_any()) is not None:
                sidecar.delete_ids(ids)
            assert self._col is not None
            present = self._existing(self._col, list(dict.fromkeys(ids)))
            self._delete(self._col, sorted(present))
            return len(present)

    def delete_source(self, source: str) -> int:
        """Delete every chunk of ``source`` and its manifest entry."""
        with self._lock:
            if (sidecar := self._sidecar_if_any()) is not None:
                sidecar.delete_source(source)
            ids = self.ids_for_source(source)
            if ids:
                assert self._col is not None
                self._delete(self._col, sorted(ids))
            manifest = self._manifest_col(create=False)
            if manifest is not None:
                with self._errors("delete a manifest entry"):
                    manifest.delete(ids=[source])
            return len(ids)

    # -- reads -----------------------------------------------------------------------

    def query(
        self, embedding: Vectors, k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """The ``k`` nearest chunks (HNSW, cosine) matching ``filters``, closest first."""
        tr = translate_filters(filters)
        q = query_vector(embedding)
        if not self.exists():
            raise empty_error(self.collection)
        assert self._col is not None
        col = self._col
        if self._dim is None or q.shape[0] != self._dim:
            if self._dim is None or col.count() == 0:
                raise empty_error(self.collection)
            raise dimension_error(self.collection, self._dim, q.shape[0], "query")
        restrict: list[str] | None = None
        if tr.impossible:
            restrict = []
        elif tr.must_exist:
            restrict = self._ids_matching(col, tr)
        if restrict == [] or k <= 0:
            if col.count() == 0:
                raise empty_error(self.collection)
            return []
        with self._errors("query"):
            res = col.query(
                query_embeddings=[normalize_rows(q)],  # type: ignore[arg-type]
                n_results=k,
                where=None if restrict is not None else tr.where,
                ids=restrict,
                include=["documents", "metadatas", "distances"],
            )
        ids = res["ids"][0]
        if not ids:
            if col.count() == 0:
                raise empty_error(self.collection)
            return []
        docs = (res["documents"] or [[]])[0]
        metas = (res["metadatas"] or [[]])[0]
        dists = (res["distances"] or [[]])[0]
        return [
            ScoredChunk(
                chunk=from_record(cid, doc, meta),
                score=float(np.clip(1.0 - dist, -1.0, 1.0)),
            )
            for cid, doc, meta, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def _ids_matching(self, col: Collection, tr: Translation) -> list[str]:
        """Ids matching a translation whose ``$ne`` needs the key to exist (checked here)."""
        with self._errors("filter chunks"):
            got = col.get(where=tr.where, include=["metadatas"])
        metas = got["metadatas"] or []
        return [
            cid
            for cid, meta in zip(got["ids"], metas, strict=True)
            if meta and all(key in meta for key in tr.must_exist)
        ]

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` already stored."""
        if not ids or not self.exists():
            return set()
        assert self._col is not None
        return self._existing(self._col, list(dict.fromkeys(ids)))

    def ids_for_source(self, source: str) -> set[str]:
        """Ids of every stored chunk of ``source``."""
        if not self.exists():
            return set()
        assert self._col is not None
        with self._errors("list a source's chunks"):
            return set(self._col.get(where={"source": source}, include=[])["ids"])

    def stored_vectors(self, source: str, content_hashes: Sequence[str]) -> dict[str, Vectors]:
        """The stored vectors of ``source``'s chunks with these content hashes, by hash."""
        hashes = sorted(set(content_hashes))
        out: dict[str, Vectors] = {}
        if not hashes or not self.exists():
            return out
        assert self._col is not None
        with self._errors("read stored vectors"):
            for part in _batches(len(hashes), self._max_batch):
                where: Where = {
                    "$and": [{"source": source}, {"content_hash": {"$in": hashes[part]}}]
                }
                got = self._col.get(where=where, include=["embeddings", "metadatas"])
                rows = got["embeddings"] if got["embeddings"] is not None else []
                for meta, row in zip(got["metadatas"] or [], rows, strict=True):
                    out.setdefault(
                        str((meta or {}).get("content_hash")), np.asarray(row, np.float32)
                    )
        return out

    def count(self, filters: Filters | None = None) -> int:
        """Number of stored chunks (matching ``filters``)."""
        tr = translate_filters(filters)
        if not self.exists():
            return 0
        assert self._col is not None
        with self._errors("count chunks"):
            if tr.impossible:
                return 0
            if tr.must_exist:
                return len(self._ids_matching(self._col, tr))
            if tr.where is None:
                return self._col.count()
            return len(self._col.get(where=tr.where, include=[])["ids"])

    # -- manifest --------------------------------------------------------------------

    def sources(self) -> dict[str, SourceRecord]:
        """Every manifest entry, by source path."""
        manifest = self._manifest_col(create=False)
        if manifest is None:
            return {}
        with self._errors("read the manifest"):
            got = manifest.get(include=["metadatas"])
        metas = got["metadatas"] or []
        return {s: source_record(s, meta) for s, meta in zip(got["ids"], metas, strict=True)}

    def set_source(self, record: SourceRecord) -> None:
        """Record (replace) the manifest entry of ``record.source``."""
        with self._lock:
            manifest = self._manifest_col(create=True)
            assert manifest is not None
            with self._errors("write the manifest"):
                manifest.upsert(
                    ids=[record.source],
                    embeddings=_MANIFEST_VECTOR,
                    metadatas=[manifest_metadata(record)],
                )

    def transaction(self) -> AbstractContextManager[None]:
        """No transactions here: the ingest pipeline's write order keeps a crash repairable."""
        return nullcontext()

    def close(self) -> None:
        """Release the client (the embedded database closes when its last client does)."""
        close = getattr(self._client, "close", None)
        if callable(close):
            close()
        self._col = self._manifest = None
        with self._lock:
            if self._keywords is not None:
                self._keywords.close()
                self._keywords = None
