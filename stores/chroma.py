"""Chroma store: embedded (``PersistentClient`` on a directory) or a Chroma server (``url``).

Records map to Chroma like this: embedding = the unit-length chunk vector (cosine space,
so ``score = 1 - distance``), metadata = the chunk's metadata plus reserved keys
``rag_text`` (the chunk text), ``source``, ``content_hash`` and ``loc_*`` (location;
``loc_heading_path`` is a JSON array). User metadata keys that collide with a reserved
key or that Chroma would reject or drop (empty, starting with ``$``, ``#`` or ``chroma:``)
are stored as ``meta.<key>`` and restored on read. Text and metadata pass ``rag.sanitize``
first (NULs, lone surrogates, values Chroma cannot hold), as in every store.
The text is not Chroma's ``document``: that would also feed Chroma's full-text index,
which rag never queries (its BM25 index is its own), and took half of each write's time
(4.5 s against 2.4 s per 4,096 SciFact chunks). Collections written with documents by
earlier versions are read the same.

The manifest lives in a second collection ``<collection>__sources`` (id = source
path, a 1-d dummy embedding). Keyword search (BM25) is a SQLite sidecar owned by the store
(``rag.stores.bm25_sidecar``), opened on first use: a write stores the chunks in Chroma, then
their terms in the sidecar; deletes go the other way round, so a crash leaves at worst chunks
without keyword rows, which the next ingest finds (``keyword_ids``) and fills. Chroma's default embedding function is never used
(it would download an ONNX model): embeddings are always passed explicitly.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import numpy as np

from rag._lazy import require
from rag.errors import ConfigError, StoreError
from rag.sanitize import clean_chunk
from rag.stores.base import (
    DuplicatePolicy,
    Filters,
    SourceRecord,
    normalize_condition,
    validate_filters,
)
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
from rag.types import Chunk, Location, MetadataValue, ScoredChunk, Vectors

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.collection_configuration import CreateCollectionConfiguration
    from chromadb.api.models.Collection import Collection

__all__ = ["ChromaStore"]

MANIFEST_SUFFIX = "__sources"
"""The manifest of collection ``X`` is the Chroma collection ``X__sources``."""

_TEXT = "rag_text"
_RESERVED = frozenset(
    {
        _TEXT,
        "source",
        "content_hash",
        "loc_page",
        "loc_start_line",
        "loc_end_line",
        "loc_heading_path",
        "loc_record",
    }
)
_USER_PREFIX = "meta."
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,501}[A-Za-z0-9]$")
_MANIFEST_VECTOR = np.ones((1, 1), dtype=np.float32)
"""Manifest entries carry a constant 1-d embedding (Chroma requires one)."""

Where = dict[str, Any]


def _stored_key(key: str) -> str:
    """The Chroma metadata key for a user metadata key (escaped when it would collide)."""
    if (
        key in _RESERVED
        or key.startswith(_USER_PREFIX)
        or key.startswith(("chroma:", "#", "$"))
        or not key
    ):
        return _USER_PREFIX + key
    return key


def _to_record(chunk: Chunk) -> dict[str, MetadataValue]:
    """Chunk -> Chroma metadata (no None values, scalars only)."""
    chunk = clean_chunk(chunk)
    meta: dict[str, MetadataValue] = {_stored_key(k): v for k, v in chunk.metadata.items()}
    meta[_TEXT] = chunk.text
    meta["source"] = chunk.source
    meta["content_hash"] = chunk.content_hash
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


def _from_record(chunk_id: str, text: str | None, meta: Mapping[str, Any] | None) -> Chunk:
    """Chroma record -> Chunk (inverse of ``_to_record``)."""
    meta = meta or {}
    user: dict[str, MetadataValue] = {}
    for key, value in meta.items():
        if key in _RESERVED:
            continue
        user[key.removeprefix(_USER_PREFIX) if key.startswith(_USER_PREFIX) else key] = value
    heading = meta.get("loc_heading_path")
    location = Location(
        page=meta.get("loc_page"),
        start_line=meta.get("loc_start_line"),
        end_line=meta.get("loc_end_line"),
        heading_path=tuple(json.loads(heading)) if heading else (),
        record=meta.get("loc_record"),
    )
    if text is None:  # written by this version: the text is in the metadata
        stored = meta.get(_TEXT)
        text = stored if isinstance(stored, str) else None
    return Chunk(
        id=chunk_id,
        text=text or "",
        source=str(meta.get("source", "")),
        location=location,
        content_hash=str(meta.get("content_hash", "")),
        metadata=user,
    )


class _Translation:
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


def _cosine() -> CreateCollectionConfiguration:
    """Collection configuration: HNSW in cosine space (``score = 1 - distance``)."""
    return {"hnsw": {"space": "cosine"}}


def _number(meta: Mapping[str, Any], key: str) -> float:
    value = meta.get(key, 0)
    return float(value) if isinstance(value, int | float) else 0.0


def _scalar_type(value: MetadataValue) -> type:
    return bool if isinstance(value, bool) else type(value)


def translate_filters(filters: Filters | None) -> _Translation:
    """Translate the rag filter grammar (``rag.stores.base``) into a Chroma ``where``."""
    validate_filters(filters)
    out = _Translation()
    for field, cond in (filters or {}).items():
        key = "source" if field == "source" else _stored_key(field)
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


class ChromaStore:
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

    # -- collection handling ---------------------------------------------------------

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Turn chromadb exceptions into StoreError naming the collection and the action."""
        try:
            yield
        except (StoreError, ConfigError):
            raise
        except Exception as exc:
            raise StoreError(
                f"Chroma failed to {action} in collection '{self.collection}' "
                f"({self.url or self.path}): {type(exc).__name__}: {exc}"
            ) from exc

    def _get(self, name: str) -> Collection | None:
        from chromadb.errors import NotFoundError

        try:
            return self._client.get_collection(name, embedding_function=None)
        except NotFoundError:
            return None
        except ValueError as exc:  # older clients report a missing collection as ValueError
            if "does not exist" in str(exc):
                return None
            raise

    def _load_collection(self) -> None:
        with self._errors("open the collection"):
            col = self._get(self.collection)
        if col is None:
            return
        space = (col.configuration_json.get("hnsw") or {}).get("space") or (col.metadata or {}).get(
            "hnsw:space"
        )
        if space not in (None, "cosine"):
            raise StoreError(
                f"Chroma collection '{self.collection}' uses the {space!r} distance but rag needs "
                "cosine; it was not created by rag. Use another collection name"
            )
        self._col = col
        dim = (col.metadata or {}).get("dimension")
        if isinstance(dim, int):
            self._dim = dim
            return
        with self._errors("read the embedding dimension"):  # created by another tool
            got = col.get(limit=1, include=["embeddings"])["embeddings"]
        if got is not None and len(got):
            self._dim = len(got[0])

    def _collection_for_write(self, dim: int) -> Collection:
        if self._col is None:
            self._load_collection()
        if self._col is None:
            with self._errors("create the collection"):
                self._col = self._client.get_or_create_collection(
                    self.collection,
                    configuration=_cosine(),
                    metadata={"dimension": dim, "created_by": "rag"},
                    embedding_function=None,
                )
            meta_dim = (self._col.metadata or {}).get("dimension")
            self._dim = meta_dim if isinstance(meta_dim, int) else None
        if self._dim is None:
            with self._errors("record the embedding dimension"):
                self._col.modify(metadata={**(self._col.metadata or {}), "dimension": dim})
            self._dim = dim
        if dim != self._dim:
            raise dimension_error(self.collection, self._dim, dim, "write")
        return self._col

    def _manifest_col(self, create: bool) -> Collection | None:
        if self._manifest is None:
            name = self.collection + MANIFEST_SUFFIX
            with self._errors("open the manifest"):
                if create:
                    self._manifest = self._client.get_or_create_collection(
                        name,
                        configuration=_cosine(),
                        metadata={"manifest_of": self.collection},
                        embedding_function=None,
                    )
                else:
                    self._manifest = self._get(name)
        return self._manifest

    def exists(self) -> bool:
        """Whether the collection has been created (by a first write) on this backend."""
        if self._col is None:
            self._load_collection()
        return self._col is not None

    def list_collections(self) -> list[str]:
        """Names of the rag collections on this Chroma client (manifests hidden), sorted."""
        with self._errors("list collections"):
            names = [c.name for c in self._client.list_collections()]
        return sorted(n for n in names if not n.endswith(MANIFEST_SUFFIX))

    def delete_collection(self, name: str | None = None) -> bool:
        """Delete a collection (default: this one) and its manifest; False if it did not exist."""
        from chromadb.errors import NotFoundError

        target = name or self.collection
        existed = False
        for col_name in (target, target + MANIFEST_SUFFIX):
            with self._errors(f"delete collection '{col_name}'"):
                try:
                    self._client.delete_collection(col_name)
                    existed = existed or col_name == target
                except NotFoundError:
                    pass
        if target == self.collection:
            self._col, self._manifest, self._dim = None, None, None
            if (sidecar := self._sidecar_if_any()) is not None:
                sidecar.clear()
        return existed

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
            ids = [c.id for c in chunks]
            present = self._existing(col, ids)
            if present and policy is DuplicatePolicy.FAIL:
                shown = ", ".join([repr(i) for i in ids if i in present][:10])
                raise StoreError(
                    f"collection '{self.collection}' already holds chunk ids {shown}"
                    f"{' ...' if len(present) > 10 else ''} and the duplicate policy is 'fail'; "
                    "nothing was written. Use policy 'overwrite' or 'skip', or delete them first"
                )
            if present and policy is DuplicatePolicy.SKIP:
                keep = [i for i, cid in enumerate(ids) if cid not in present]
                chunks, emb, ids = [chunks[i] for i in keep], emb[keep], [ids[i] for i in keep]
            elif present:
                self._delete(col, [i for i in ids if i in present])
            if not chunks:
                return 0
            unit_rows = normalize_rows(emb)
            with self._errors("write chunks"):
                for part in _batches(len(chunks), self._max_batch):
                    col.add(
                        ids=ids[part],
                        embeddings=unit_rows[part],
                        metadatas=[_to_record(c) for c in chunks[part]],
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
                chunk=_from_record(cid, doc, meta),
                score=float(np.clip(1.0 - dist, -1.0, 1.0)),
            )
            for cid, doc, meta, dist in zip(ids, docs, metas, dists, strict=True)
        ]

    def _ids_matching(self, col: Collection, tr: _Translation) -> list[str]:
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
        out: dict[str, SourceRecord] = {}
        for source, meta in zip(got["ids"], got["metadatas"] or [], strict=True):
            meta = meta or {}
            out[source] = SourceRecord(
                source=source,
                file_hash=str(meta.get("file_hash", "")),
                chunk_count=int(_number(meta, "chunk_count")),
                updated_at=_number(meta, "updated_at"),
                embedder=str(meta.get("embedder", "")),
            )
        return out

    def set_source(self, record: SourceRecord) -> None:
        """Record (replace) the manifest entry of ``record.source``."""
        with self._lock:
            manifest = self._manifest_col(create=True)
            assert manifest is not None
            with self._errors("write the manifest"):
                manifest.upsert(
                    ids=[record.source],
                    embeddings=_MANIFEST_VECTOR,
                    metadatas=[
                        {
                            "file_hash": record.file_hash,
                            "chunk_count": int(record.chunk_count),
                            "updated_at": float(record.updated_at),
                            "embedder": record.embedder,
                        }
                    ],
                )

    # -- keyword search (the SQLite sidecar) -----------------------------------------

    def _sidecar(self) -> SQLiteBM25:
        """The BM25 sidecar, opened (and created) on first use."""
        with self._lock:
            if self._keywords is None:
                self._keywords = SQLiteBM25(self.keyword_path, self.collection)
            return self._keywords

    def _sidecar_if_any(self) -> SQLiteBM25 | None:
        """The sidecar if it exists (no file is created just to find nothing in it)."""
        if self._keywords is None and not self.keyword_path.exists():
            return None
        return self._sidecar()

    def keyword_query(
        self, terms: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """BM25 over the terms the writes carried (``rag.stores.bm25``), best first."""
        validate_filters(filters)
        sidecar = self._sidecar_if_any()
        return [] if sidecar is None else sidecar.search(terms, k, filters)

    def keyword_ids(self, ids: Sequence[str]) -> set[str]:
        """The subset of ``ids`` with keyword rows."""
        sidecar = self._sidecar_if_any()
        return set() if sidecar is None else sidecar.existing_ids(ids)

    def keyword_count(self) -> int:
        """Number of chunks with keyword rows."""
        sidecar = self._sidecar_if_any()
        return 0 if sidecar is None else sidecar.count()

    def index_terms(self, chunks: Sequence[Chunk], terms: Sequence[Sequence[str]]) -> int:
        """Replace the keyword rows of stored chunks (others are ignored)."""
        by_id = terms_by_id(chunks, terms)
        assert by_id is not None
        with self._lock:
            stored = self.existing_ids(list(by_id))
            keep = [c for c in {c.id: c for c in chunks}.values() if c.id in stored]
            return self._sidecar().add(keep, [by_id[c.id] for c in keep])

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
