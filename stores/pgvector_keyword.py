"""The keyword (BM25) rows of pgvector collections, in PostgreSQL beside the chunk tables.

Tables (migration 2 in ``rag.stores._pgsql``; shared by all collections, keyed by name)::

    rag_kw_docs(collection, chunk_id, source, length)      one row per indexed chunk
    rag_kw_postings(collection, term, chunk_id, tf)        one row per (term, chunk)

Terms come from the caller (the same Python tokenizer as every other store, ``rag.keywords``),
so Korean works without any PostgreSQL text-search configuration. Scores are BM25 computed in
SQL with the formula and constants of ``rag.stores.bm25`` (k1 = 1.2, b = 0.75, Lucene idf):
the same query ranks the same way on every store. Chunks are read from the collection's chunk
table, so filters use ``build_where`` (bound parameters only) and a dangling posting is never
returned.

These functions take the connection of the calling ``PgVectorStore`` method, so the keyword
rows commit or roll back with the chunks in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rag.stores._pgsql import SCORE, build_where, row_chunk
from rag.stores.base import Filters
from rag.stores.bm25 import BM25_B, BM25_K1, term_counts
from rag.types import Chunk, ScoredChunk

if TYPE_CHECKING:
    import psycopg
    from psycopg import sql

__all__ = [
    "count_keyword_rows",
    "delete_keyword_rows",
    "keyword_hits",
    "keyword_query",
    "keyword_row_ids",
    "search_keywords",
    "write_keyword_rows",
]

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
SELECT t.id, t.source, t.text, t.content_hash, t.location, t.metadata, t.root, t.rel_path,
    s.score
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


def write_keyword_rows(
    conn: psycopg.Connection[Any],
    collection: str,
    chunks: Sequence[Chunk],
    terms: Sequence[Sequence[str]],
) -> int:
    """Replace the keyword rows of ``chunks`` (``terms[i]`` are chunk i's) by COPY."""
    rows = term_counts(chunks, terms)
    if not rows:
        return 0
    delete_keyword_rows(conn, collection, ids=list(rows))
    with conn.cursor() as cur:
        with cur.copy("COPY rag_kw_docs (collection, chunk_id, source, length) FROM STDIN") as copy:
            for cid, (c, tf) in rows.items():
                copy.write_row((collection, cid, c.source, sum(tf.values())))
        with cur.copy("COPY rag_kw_postings (collection, term, chunk_id, tf) FROM STDIN") as copy:
            for cid, (_, tf) in rows.items():
                for term, n in tf.items():
                    copy.write_row((collection, term, cid, n))
    return len(rows)


def keyword_row_ids(conn: psycopg.Connection[Any], collection: str, ids: Sequence[str]) -> set[str]:
    """The subset of ``ids`` with keyword rows."""
    rows = conn.execute(
        "SELECT chunk_id FROM rag_kw_docs WHERE collection = %s AND chunk_id = ANY(%s)",
        (collection, list(ids)),
    ).fetchall()
    return {str(r[0]) for r in rows}


def count_keyword_rows(conn: psycopg.Connection[Any], collection: str) -> int:
    """Number of the collection's chunks with keyword rows."""
    row = conn.execute(
        "SELECT count(*) FROM rag_kw_docs WHERE collection = %s", (collection,)
    ).fetchone()
    return int(row[0]) if row else 0


def keyword_query(
    collection: str, table: str, terms: Sequence[str], k: int, filters: Filters | None
) -> tuple[sql.Composed, list[Any]] | None:
    """The BM25 SELECT over chunk table ``table`` for ``terms`` (filters validated), or None
    when there is nothing to search (``k <= 0`` or no terms)."""
    from psycopg import sql

    unique = list(dict.fromkeys(terms))
    if k <= 0 or not unique:
        return None
    where, where_params = build_where(filters)
    query = sql.SQL(_SEARCH).format(t=sql.Identifier(table), w=where)
    params: list[Any] = [
        collection,
        collection,
        unique,
        BM25_K1,
        BM25_K1,
        BM25_B,
        BM25_B,
        collection,
        *where_params,
        k,
    ]
    return query, params


def keyword_hits(rows: Sequence[Sequence[Any]]) -> list[ScoredChunk]:
    """Hits of a ``keyword_query``'s rows, with their BM25 scores, best first."""
    return [ScoredChunk(chunk=row_chunk(r), score=float(r[SCORE])) for r in rows]


def search_keywords(
    conn: psycopg.Connection[Any],
    collection: str,
    table: str,
    terms: Sequence[str],
    k: int,
    filters: Filters | None,
) -> list[ScoredChunk]:
    """The ``k`` best chunks of chunk table ``table`` by BM25 for ``terms`` (filters validated)."""
    query = keyword_query(collection, table, terms, k, filters)
    if query is None:
        return []
    return keyword_hits(conn.execute(*query).fetchall())
