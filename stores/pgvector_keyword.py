"""The keyword (BM25) index of a pgvector collection, in PostgreSQL beside its chunk table.

Tables (migration 2 in ``rag.stores._pgsql``; shared by all collections, keyed by name)::

    rag_kw_docs(collection, chunk_id, source, length)      one row per indexed chunk
    rag_kw_postings(collection, term, chunk_id, tf)        one row per (term, chunk)

Terms come from the same Python tokenizer as every other store (``rag.keywords``), so Korean
works without any PostgreSQL text-search configuration. Scores are BM25 computed in SQL with the
formula and constants of ``rag.stores.keyword`` (k1 = 1.2, b = 0.75, Lucene idf): the same query
ranks the same way on every store. Chunks are read from the collection's chunk table, so filters
use the store's ``build_where`` (bound parameters only) and a dangling posting is never returned.

Every call goes through the store's ``_conn()``: inside ``with store.transaction():`` the index
rows commit or roll back together with the chunks and the manifest entry. The store's own
``delete_ids``/``delete_source``/``drop`` remove the keyword rows too (``delete_keyword_rows``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.stores._pgsql import build_where, row_chunk
from rag.stores.base import Filters, validate_filters
from rag.stores.keyword import BM25_B, BM25_K1, _latest
from rag.types import Chunk, ScoredChunk

if TYPE_CHECKING:
    import psycopg

    from rag.stores.pgvector import PgVectorStore

__all__ = ["PgKeywordIndex", "delete_keyword_rows"]

_SEARCH = """
WITH stats AS (
    SELECT count(*)::float8 AS n, coalesce(avg(length), 0)::float8 AS avgdl
    FROM rag_kw_docs WHERE collection = %s),
q AS (
    SELECT p.term, ln(1.0 + (stats.n - count(*) + 0.5) / (count(*) + 0.5)) AS idf
    FROM rag_kw_postings p CROSS JOIN stats
    WHERE p.collection = %s AND p.term = ANY(%s)
    GROUP BY p.term, stats.n),
s AS (
    SELECT p.chunk_id, sum(q.idf * p.tf * (%s + 1.0)
        / (p.tf + %s * (1.0 - %s + %s * d.length / greatest(stats.avgdl, 1e-9)))) AS score
    FROM rag_kw_postings p
    JOIN q ON p.term = q.term
    JOIN rag_kw_docs d ON d.collection = p.collection AND d.chunk_id = p.chunk_id
    CROSS JOIN stats
    WHERE p.collection = %s
    GROUP BY p.chunk_id)
SELECT t.id, t.source, t.text, t.content_hash, t.location, t.metadata, s.score
FROM s JOIN {t} t ON t.id = s.chunk_id
WHERE {w}
ORDER BY s.score DESC, t.id COLLATE "C"
LIMIT %s
"""


def delete_keyword_rows(
    conn: psycopg.Connection[Any],
    collection: str,
    *,
    ids: Sequence[str] | None = None,
    source: str | None = None,
) -> int:
    """Delete a collection's keyword rows: by ``ids``, by ``source``, or all when neither."""
    params: list[Any]
    if ids is not None:
        where, params = "chunk_id = ANY(%s)", [list(ids)]
    elif source is not None:
        where, params = "source = %s", [source]
    else:
        where, params = "TRUE", []
    # constant SQL text: ``where`` is one of the three literals above
    cur = conn.execute(
        "DELETE FROM rag_kw_docs WHERE collection = %s AND " + where + " RETURNING chunk_id",
        [collection, *params],
    )
    gone = [str(r[0]) for r in cur.fetchall()]
    if ids is None and source is None:
        conn.execute("DELETE FROM rag_kw_postings WHERE collection = %s", (collection,))
    elif gone:
        conn.execute(
            "DELETE FROM rag_kw_postings WHERE collection = %s AND chunk_id = ANY(%s)",
            (collection, gone),
        )
    return len(gone)


class PgKeywordIndex:
    """BM25 over ``rag_kw_*`` tables for one ``PgVectorStore`` collection (shares its connections)."""

    def __init__(self, store: PgVectorStore) -> None:
        self.store = store
        self.collection = store.collection

    def add(self, chunks: Sequence[Chunk], tokens: Sequence[list[str]]) -> int:
        rows = _latest(chunks, tokens)
        if not rows:
            return 0
        with self.store._conn() as conn:
            delete_keyword_rows(conn, self.collection, ids=list(rows))
            with conn.cursor() as cur:
                with cur.copy(
                    "COPY rag_kw_docs (collection, chunk_id, source, length) FROM STDIN"
                ) as copy:
                    for cid, (c, tf) in rows.items():
                        copy.write_row((self.collection, cid, c.source, sum(tf.values())))
                with cur.copy(
                    "COPY rag_kw_postings (collection, term, chunk_id, tf) FROM STDIN"
                ) as copy:
                    for cid, (_, tf) in rows.items():
                        for term, n in tf.items():
                            copy.write_row((self.collection, term, cid, n))
        return len(rows)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        with self.store._conn(tx=False) as conn:
            rows = conn.execute(
                "SELECT chunk_id FROM rag_kw_docs WHERE collection = %s AND chunk_id = ANY(%s)",
                (self.collection, list(ids)),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def ids_for_source(self, source: str) -> set[str]:
        with self.store._conn(tx=False) as conn:
            rows = conn.execute(
                "SELECT chunk_id FROM rag_kw_docs WHERE collection = %s AND source = %s",
                (self.collection, source),
            ).fetchall()
        return {str(r[0]) for r in rows}

    def delete_ids(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0
        with self.store._conn() as conn:
            return delete_keyword_rows(conn, self.collection, ids=ids)

    def delete_source(self, source: str) -> int:
        with self.store._conn() as conn:
            return delete_keyword_rows(conn, self.collection, source=source)

    def search(
        self, tokens: list[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        from psycopg import sql

        validate_filters(filters)
        terms = list(dict.fromkeys(tokens))
        if k <= 0 or not terms:
            return []
        where, where_params = build_where(filters)
        with self.store._conn(tx=False) as conn:
            meta = self.store._collection(conn)
            if meta is None:
                return []
            query = sql.SQL(_SEARCH).format(t=sql.Identifier(meta.table), w=where)
            params: list[Any] = [
                self.collection,
                self.collection,
                terms,
                BM25_K1,
                BM25_K1,
                BM25_B,
                BM25_B,
                self.collection,
                *where_params,
                k,
            ]
            rows = conn.execute(query, params).fetchall()
        return [ScoredChunk(chunk=row_chunk(r), score=float(r[6])) for r in rows]

    def count(self) -> int:
        with self.store._conn(tx=False) as conn:
            row = conn.execute(
                "SELECT count(*) FROM rag_kw_docs WHERE collection = %s", (self.collection,)
            ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        """Nothing to release: the connections belong to the store."""
