"""BM25 sidecars: the keyword search a store without one of its own keeps beside its chunks.

A sidecar is owned by its store object (opened, written, deleted from and closed by it, never
by the pipeline), so a chunk's keyword rows follow its ``write``/``delete_*`` calls:

- ``MemoryBM25``: in-process postings, for ``MemoryStore``;
- ``SQLiteBM25``: a SQLite file per collection, for ``ChromaStore`` (embedded or a server:
  Chroma has no BM25 of its own, so with ``chroma_url`` the file still lives on the machine
  that ingests and queries; ``make_store`` puts it at ``<data_dir>/keyword/<collection>.sqlite``)
  and ``QdrantStore``, whose keyword methods ``SidecarKeywords`` gives both.

Each keyword row keeps its whole chunk (``Chunk`` JSON: text, source, root and relative path,
location, metadata), so a keyword hit reads as a dense one; a write or ``index_terms`` of the
chunk replaces it.

pgvector keeps its keyword rows in its own tables instead (``rag.stores.pgvector_keyword``).
All of them score with ``rag.stores.bm25``, from an explicit postings table, so the same query
gets the same scores on every store.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from rag.errors import ConfigError, StoreError
from rag.stores.base import Filters, chunk_fields, matches, validate_filters
from rag.stores.bm25 import BM25_B, BM25_K1, bm25_idf, bm25_term, term_counts, terms_by_id
from rag.types import Chunk, ScoredChunk

__all__ = ["MemoryBM25", "SQLiteBM25", "SidecarKeywords", "sidecar_path"]


# -- memory ------------------------------------------------------------------------------------


class MemoryBM25:
    """BM25 over in-process postings (term -> chunk id -> tf). Lost when the process ends."""

    def __init__(self) -> None:
        self._docs: dict[str, tuple[Chunk, int]] = {}
        self._postings: dict[str, dict[str, int]] = {}
        self._terms: dict[str, Counter[str]] = {}
        self._total_len = 0
        self._lock = threading.RLock()

    def add(self, chunks: Sequence[Chunk], tokens: Sequence[Sequence[str]]) -> int:
        rows = term_counts(chunks, tokens)
        with self._lock:
            self.delete_ids(list(rows))
            for cid, (chunk, tf) in rows.items():
                length = sum(tf.values())
                self._docs[cid] = (chunk, length)
                self._terms[cid] = tf
                self._total_len += length
                for term, n in tf.items():
                    self._postings.setdefault(term, {})[cid] = n
        return len(rows)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        with self._lock:
            return {i for i in ids if i in self._docs}

    def ids_for_source(self, source: str) -> set[str]:
        with self._lock:
            return {cid for cid, (c, _) in self._docs.items() if c.source == source}

    def delete_ids(self, ids: Sequence[str]) -> int:
        gone = 0
        with self._lock:
            for cid in ids:
                doc = self._docs.pop(cid, None)
                if doc is None:
                    continue
                gone += 1
                self._total_len -= doc[1]
                for term in self._terms.pop(cid):
                    posting = self._postings[term]
                    del posting[cid]
                    if not posting:
                        del self._postings[term]
        return gone

    def delete_source(self, source: str) -> int:
        with self._lock:
            return self.delete_ids(sorted(self.ids_for_source(source)))

    def search(
        self, tokens: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        validate_filters(filters)
        if k <= 0:
            return []
        with self._lock:
            n = len(self._docs)
            if n == 0:
                return []
            avgdl = self._total_len / n
            scores: dict[str, float] = {}
            for term in dict.fromkeys(tokens):
                posting = self._postings.get(term)
                if not posting:
                    continue
                idf = bm25_idf(n, len(posting))
                for cid, tf in posting.items():
                    scores[cid] = scores.get(cid, 0.0) + bm25_term(
                        idf, tf, self._docs[cid][1], avgdl
                    )
            ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
            out: list[ScoredChunk] = []
            for cid, score in ranked:
                chunk = self._docs[cid][0]
                if matches(chunk_fields(chunk), filters):
                    out.append(ScoredChunk(chunk=chunk, score=score))
                    if len(out) == k:
                        break
        return out

    def count(self) -> int:
        return len(self._docs)

    def clear(self) -> None:
        """Forget every chunk."""
        with self._lock:
            self._docs.clear()
            self._postings.clear()
            self._terms.clear()
            self._total_len = 0

    def close(self) -> None:
        pass


# -- SQLite ------------------------------------------------------------------------------------

_SQLITE_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, source TEXT NOT NULL, "
    "length INTEGER NOT NULL, chunk TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS docs_source ON docs (source)",
    "CREATE TABLE IF NOT EXISTS postings (term TEXT NOT NULL, id TEXT NOT NULL, "
    "tf INTEGER NOT NULL, PRIMARY KEY (term, id)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS postings_id ON postings (id)",
    # covering: counts, sums and the per-posting length lookup never read the stored chunks
    "CREATE INDEX IF NOT EXISTS docs_id_length ON docs (id, length)",
)
_SQLITE_VERSION = "1"
_SCHEMA_NAMES = frozenset(
    m.group(1)
    for statement in _SQLITE_SCHEMA
    if (m := re.match(r"CREATE (?:TABLE|INDEX) IF NOT EXISTS (\w+)", statement))
)
"""The tables and indexes ``_SQLITE_SCHEMA`` makes (all present: the file is not written)."""


def sidecar_path(directory: Path, collection: str) -> Path:
    """The SQLite sidecar of ``collection`` under ``directory``: ``<directory>/<collection>.sqlite``."""
    if "/" in collection or collection in ("", ".", ".."):
        raise ConfigError(
            f"collection name {collection!r} cannot name a keyword index file; "
            "use letters, digits, '.', '_' or '-' (setting 'collection')"
        )
    return directory / f"{collection}.sqlite"


class SQLiteBM25:
    """BM25 over a postings table in one SQLite file per collection (WAL; safe across threads).

    Each ``add``/``delete_*`` is one transaction, so a crash leaves a call's rows all there or
    all absent; the ingest pipeline asks the store (``keyword_ids``) on the next run and
    fills the gap.
    """

    def __init__(self, path: Path | str, collection: str) -> None:
        self.path = Path(path)
        self.collection = collection
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            # 16 MB of page cache instead of 2: a window's postings land all over the
            # (term, id) B-tree, and this took 40% off their insert time on SciFact
            self._db.execute("PRAGMA cache_size=-16384")
            row = self._owner()
            if row is None:  # a new file: create the schema (an existing one is not written to,
                with self._tx() as db:  # so opening it to read, as a dry run does, changes no byte)
                    for statement in _SQLITE_SCHEMA:
                        db.execute(statement)
                    row = db.execute("SELECT value FROM meta WHERE key = 'collection'").fetchone()
                    if row is None:
                        db.executemany(
                            "INSERT INTO meta (key, value) VALUES (?, ?)",
                            [("collection", collection), ("version", _SQLITE_VERSION)],
                        )
            if row is not None and row[0] != collection:
                raise StoreError(
                    f"keyword index {self.path} belongs to collection {row[0]!r}, not "
                    f"{collection!r}; delete the file to rebuild it on the next `rag ingest`"
                )
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open the keyword index {self.path}: {exc}. Check that the data dir "
                "(setting 'data_dir') is writable, or delete the file to rebuild it"
            ) from None

    def _owner(self) -> tuple[str] | None:
        """The collection row of an existing index at the current version, else None."""
        try:
            rows = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.OperationalError:  # no meta table yet
            return None
        if rows.get("version") != _SQLITE_VERSION or "collection" not in rows:
            return None
        present = {name for (name,) in self._db.execute("SELECT name FROM sqlite_master")}
        if not present >= _SCHEMA_NAMES:  # an index from before a schema object was added
            return None
        return (rows["collection"],)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT, rolled back on error)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"keyword index {self.path}: {exc}") from exc

    def add(self, chunks: Sequence[Chunk], tokens: Sequence[Sequence[str]]) -> int:
        rows = term_counts(chunks, tokens)
        if not rows:
            return 0
        with self._errors(), self._tx() as db:
            self._delete(db, list(rows))
            db.executemany(
                "INSERT INTO docs (id, source, length, chunk) VALUES (?, ?, ?, ?)",
                [
                    (cid, c.source, sum(tf.values()), c.model_dump_json())
                    for cid, (c, tf) in rows.items()
                ],
            )
            db.executemany(
                "INSERT INTO postings (term, id, tf) VALUES (?, ?, ?)",
                [(term, cid, n) for cid, (_, tf) in rows.items() for term, n in tf.items()],
            )
        return len(rows)

    @staticmethod
    def _delete(db: sqlite3.Connection, ids: list[str]) -> int:
        gone = 0
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            db.execute(f"DELETE FROM postings WHERE id IN ({marks})", part)
            gone += db.execute(f"DELETE FROM docs WHERE id IN ({marks})", part).rowcount
        return gone

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        ids = list(ids)
        with self._errors(), self._lock:
            for start in range(0, len(ids), 500):
                part = ids[start : start + 500]
                marks = ",".join("?" * len(part))
                found.update(
                    r[0]
                    for r in self._db.execute(f"SELECT id FROM docs WHERE id IN ({marks})", part)
                )
        return found

    def ids_for_source(self, source: str) -> set[str]:
        with self._errors(), self._lock:
            return {
                r[0] for r in self._db.execute("SELECT id FROM docs WHERE source = ?", (source,))
            }

    def delete_ids(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        with self._errors(), self._tx() as db:
            return self._delete(db, list(ids))

    def delete_source(self, source: str) -> int:
        with self._errors(), self._tx() as db:
            ids = [r[0] for r in db.execute("SELECT id FROM docs WHERE source = ?", (source,))]
            return self._delete(db, ids)

    def search(
        self, tokens: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        validate_filters(filters)
        terms = list(dict.fromkeys(tokens))
        if k <= 0 or not terms:
            return []
        with self._errors(), self._lock:
            n, total = self._db.execute(
                "SELECT count(*), coalesce(sum(length), 0) FROM docs"
            ).fetchone()
            if not n:
                return []
            avgdl = total / n
            marks = ",".join("?" * len(terms))
            dfs = self._db.execute(
                f"SELECT term, count(*) FROM postings WHERE term IN ({marks}) GROUP BY term", terms
            ).fetchall()
            if not dfs:
                return []
            values = ",".join("(?, ?)" for _ in dfs)
            params: list[object] = [x for term, df in dfs for x in (term, bm25_idf(n, df))]
            # constant SQL text; terms, idfs and constants are bound parameters
            sql = (
                f"WITH q(term, idf) AS (VALUES {values}) "
                "SELECT p.id, sum(q.idf * p.tf * (? + 1.0) / (p.tf + ? * (1.0 - ? + ? * d.length / ?)))"
                " AS score FROM postings p JOIN q ON p.term = q.term"
                " JOIN docs d INDEXED BY docs_id_length ON d.id = p.id "
                "GROUP BY p.id ORDER BY score DESC, p.id"
            )
            params += [BM25_K1, BM25_K1, BM25_B, BM25_B, avgdl]
            if not filters:
                sql += " LIMIT ?"
                params.append(k)
            out: list[ScoredChunk] = []
            cursor = self._db.execute(sql, params)
            while len(out) < k:
                batch = cursor.fetchmany(max(k, 64))
                if not batch:
                    break
                for chunk in self._chunks([r[0] for r in batch], [r[1] for r in batch], filters):
                    out.append(chunk)
                    if len(out) == k:
                        break
        return out

    def _chunks(
        self, ids: list[str], scores: list[float], filters: Filters | None
    ) -> Iterator[ScoredChunk]:
        marks = ",".join("?" * len(ids))
        stored = dict(
            self._db.execute(f"SELECT id, chunk FROM docs WHERE id IN ({marks})", ids).fetchall()
        )
        for cid, score in zip(ids, scores, strict=True):
            chunk = Chunk.model_validate_json(stored[cid])
            if matches(chunk_fields(chunk), filters):
                yield ScoredChunk(chunk=chunk, score=float(score))

    def count(self) -> int:
        with self._errors(), self._lock:
            return int(self._db.execute("SELECT count(*) FROM docs").fetchone()[0])

    def clear(self) -> None:
        """Forget every chunk (the file stays, with its collection name)."""
        with self._errors(), self._tx() as db:
            db.execute("DELETE FROM postings")
            db.execute("DELETE FROM docs")

    def close(self) -> None:
        self._db.close()


# -- the keyword side of a store with a SQLite sidecar ------------------------------------------


class SidecarKeywords:
    """``KeywordSearchStore``'s four methods for a store whose BM25 rows live in a
    ``SQLiteBM25`` sidecar it owns (Chroma, Qdrant), opened on first use. The store sets
    ``collection``, ``keyword_path``, ``_keywords`` (None until opened) and ``_lock``, and
    implements ``existing_ids``."""

    collection: str
    keyword_path: Path
    _keywords: SQLiteBM25 | None
    _lock: AbstractContextManager[Any]

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        raise NotImplementedError  # pragma: no cover - the store's own

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
