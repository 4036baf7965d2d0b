"""The rows rag writes to and reads back from a pgvector collection, beside its queries.

- ``copy_chunks``: chunks with their vectors by binary COPY into a staging table (one per
  transaction, emptied after each call), then one ``INSERT ... ON CONFLICT`` under the
  duplicate policy;
- ``read_sources`` / ``write_source``: the manifest (``rag_sources``: hash, chunk count, time,
  embedder, root and relative path per source);
- ``stored_vectors``: a source's stored vectors by content hash (ingest re-keys a moved file
  with them instead of embedding it again).

Each takes the connection of the calling ``PgVectorStore`` method, so its statements commit
or roll back with the rest of that method's transaction. Table names come from
``rag.stores._pgsql.table_name`` and always pass through ``psycopg.sql.Identifier``; every
value is a bound parameter.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.sanitize import clean_chunk
from rag.stores._pgsql import COLUMNS, conflict_clause
from rag.stores.base import DuplicatePolicy, SourceRecord
from rag.stores.memory import normalize_rows
from rag.types import Chunk, Vectors

if TYPE_CHECKING:
    import psycopg

__all__ = ["copy_chunks", "read_sources", "stored_vectors", "write_source"]

_COPY_TYPES = ["text", "text", "text", "text", "jsonb", "jsonb", "vector", "text", "text"]
"""The COPY types of ``COLUMNS``, in order."""


def copy_chunks(
    conn: psycopg.Connection[Any],
    table: str,
    rows: list[tuple[Chunk, Vectors]],
    policy: DuplicatePolicy,
) -> set[str] | None:
    """Insert ``rows`` into chunk table ``table`` (sanitised: see ``rag.sanitize``); return the
    ids written under SKIP (None: all of them). Under FAIL a stored id raises psycopg's
    ``UniqueViolation``."""
    from psycopg import sql

    t = sql.Identifier(table)
    stage = sql.Identifier(_stage_name(table))
    # one staging table per chunk table and transaction, emptied after each call: a temp
    # table created (and dropped) per call holds its locks until the transaction ends, and a
    # file written in hundreds of parts in one transaction ran out of PostgreSQL's lock table
    # ("out of shared memory ... max_locks_per_transaction", SciFact x10 on --engine ray)
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS {s} (LIKE {t} INCLUDING DEFAULTS) ON COMMIT DROP"
        ).format(s=stage, t=t)
    )
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in COLUMNS)
    with conn.cursor() as cur:
        copy_sql = sql.SQL("COPY {s} ({c}) FROM STDIN (FORMAT BINARY)").format(s=stage, c=cols)
        with cur.copy(copy_sql) as copy:
            copy.set_types(_COPY_TYPES)
            for chunk, vec in rows:
                c = clean_chunk(chunk)  # no NUL nor lone surrogate: see rag.sanitize
                location = c.location.model_dump(mode="json", exclude_defaults=True)
                text = (c.id, c.source, c.text, c.content_hash)
                copy.write_row((*text, location, c.metadata, vec, c.root, c.rel_path))
        skip = policy is DuplicatePolicy.SKIP
        cur.execute(
            sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {s} ORDER BY id {x}{r}").format(
                t=t,
                c=cols,
                s=stage,
                x=conflict_clause(policy),
                r=sql.SQL(" RETURNING id" if skip else ""),
            )
        )
        written = {str(r[0]) for r in cur.fetchall()} if skip else None
    conn.execute(sql.SQL("TRUNCATE {s}").format(s=stage))
    return written


def _stage_name(table: str) -> str:
    """The staging table of chunk table ``table`` (tables differ in vector dimension)."""
    return "rag_stage_" + hashlib.blake2b(table.encode(), digest_size=6).hexdigest()


def read_sources(conn: psycopg.Connection[Any], collection: str) -> dict[str, SourceRecord]:
    """Every manifest entry of ``collection``, by source."""
    rows = conn.execute(
        "SELECT source, file_hash, chunk_count, updated_at, embedder, root, rel_path "
        "FROM rag_sources WHERE collection = %s",
        (collection,),
    ).fetchall()
    return {r[0]: SourceRecord(r[0], r[1], int(r[2]), float(r[3]), r[4], r[5], r[6]) for r in rows}


def write_source(conn: psycopg.Connection[Any], collection: str, record: SourceRecord) -> None:
    """Record (or replace) ``record`` in ``collection``'s manifest."""
    conn.execute(
        "INSERT INTO rag_sources "
        "(collection, source, file_hash, chunk_count, updated_at, embedder, root, rel_path) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (collection, source) DO UPDATE SET "
        "file_hash = EXCLUDED.file_hash, chunk_count = EXCLUDED.chunk_count, "
        "updated_at = EXCLUDED.updated_at, embedder = EXCLUDED.embedder, "
        "root = EXCLUDED.root, rel_path = EXCLUDED.rel_path",
        (
            collection,
            record.source,
            record.file_hash,
            record.chunk_count,
            record.updated_at,
            record.embedder,
            record.root,
            record.rel_path,
        ),
    )


def stored_vectors(
    conn: psycopg.Connection[Any], table: str, source: str, content_hashes: Sequence[str]
) -> dict[str, Vectors]:
    """The stored vectors of ``source``'s chunks in chunk table ``table`` with these content
    hashes, one per hash (found through the ``source`` index), at unit length."""
    from psycopg import sql

    rows = conn.execute(
        sql.SQL(
            "SELECT DISTINCT ON (content_hash) content_hash, embedding FROM {t} "
            "WHERE source = %s AND content_hash = ANY(%s)"
        ).format(t=sql.Identifier(table)),
        (source, sorted(set(content_hashes))),
    ).fetchall()
    # pgvector keeps vectors as written (cosine ignores length): unit length, as elsewhere
    return {str(r[0]): normalize_rows(np.asarray(r[1].to_numpy(), np.float32)) for r in rows}
