"""``PgCollection``: a pgvector collection's registry row, chunk table and HNSW index.

Kept apart from ``rag.stores.pgvector`` so finding, creating and indexing the table is one place.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rag.errors import CollectionNotFoundError, DimensionMismatchError
from rag.stores._pgsql import COLLECTION_SQL, TableInfo, any_rows_sql, table_name
from rag.stores.pgvector_conn import PgConnections
from rag.stores.pgvector_schema import LOCK_CLASS, create_chunk_table

if TYPE_CHECKING:
    import psycopg

__all__ = ["PgCollection"]


class PgCollection(PgConnections):
    """Base of ``PgVectorStore``: its collection's table (cached) and HNSW index, built when due."""

    hnsw_m: int
    hnsw_ef_construction: int
    hnsw_min_rows: int | None
    build_memory: str
    _meta: TableInfo | None
    _indexed: bool

    # -- schema ------------------------------------------------------------------------------

    def _collection(self, conn: psycopg.Connection[Any]) -> TableInfo | None:
        if self._meta is not None:
            return self._meta
        row = conn.execute(COLLECTION_SQL, (self.collection,)).fetchone()
        if row is None:
            return None
        meta = TableInfo(str(row[0]), int(row[1]))
        if self._local.conn is None:  # read outside an open transaction: committed, cacheable
            self._meta = meta
        return meta

    def _ensure_collection(self, conn: psycopg.Connection[Any], dim: int) -> TableInfo:
        meta = self._collection(conn)
        if meta is None:
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (LOCK_CLASS, self.collection)
            )
            meta = self._collection(conn)
        if meta is None:
            meta = TableInfo(table_name(self.collection), dim)
            conn.execute(
                "INSERT INTO rag_collections (name, table_name, dimension) VALUES (%s, %s, %s)",
                (self.collection, meta.table, dim),
            )
            self._create_table(conn, meta)
        if meta.dimension != dim:
            raise self._mismatch(meta.dimension, dim)
        return meta

    def _create_table(self, conn: psycopg.Connection[Any], meta: TableInfo) -> None:
        create_chunk_table(conn, meta.table, meta.dimension)
        if self.hnsw_min_rows == 0:
            self._build_index(conn, meta)

    def _mismatch(self, stored: int, got: int) -> DimensionMismatchError:
        return DimensionMismatchError(
            f"collection {self.collection!r} (pgvector at {self._where['addr']}) holds "
            f"{stored}-dimensional vectors, but these are {got}-dimensional: the embedding model "
            "changed. Use the model the collection was built with (setting 'embed_model'), ingest "
            "into another collection (--collection / RAG_COLLECTION), or delete this collection "
            "and ingest again."
        )

    def _any_rows(self, conn: psycopg.Connection[Any], meta: TableInfo) -> bool:
        row = conn.execute(any_rows_sql(meta.table)).fetchone()
        return bool(row and row[0])

    def _not_found(self) -> CollectionNotFoundError:
        return CollectionNotFoundError(
            f"collection {self.collection!r} in PostgreSQL at {self._where['addr']} holds no "
            "chunks: run `rag ingest PATH --store pgvector` first (with the same --collection "
            "and --dsn)"
        )

    # -- HNSW index --------------------------------------------------------------------------

    def _index_name(self, meta: TableInfo) -> str:
        return meta.table + "_hnsw"

    def _has_index(self, conn: psycopg.Connection[Any], meta: TableInfo) -> bool:
        if self._indexed:
            return True
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (self._index_name(meta),)
        ).fetchone()
        found = bool(row and row[0])
        if found and self._local.conn is None:
            self._indexed = True
        return found

    def _build_index(self, conn: psycopg.Connection[Any], meta: TableInfo) -> None:
        from psycopg import sql

        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (self.build_memory,))
        conn.execute(
            sql.SQL(
                "CREATE INDEX IF NOT EXISTS {i} ON {t} USING hnsw (embedding vector_cosine_ops) "
                "WITH (m = {m}, ef_construction = {ef})"
            ).format(
                i=sql.Identifier(self._index_name(meta)),
                t=sql.Identifier(meta.table),
                m=sql.Literal(self.hnsw_m),
                ef=sql.Literal(self.hnsw_ef_construction),
            )
        )
        # fresh statistics let the planner choose between the index and an exact filtered scan
        conn.execute(sql.SQL("ANALYZE {t}").format(t=sql.Identifier(meta.table)))

    def _maybe_index(self, conn: psycopg.Connection[Any], meta: TableInfo) -> None:
        """Build the HNSW index once the collection reaches ``hnsw_min_rows`` chunks."""
        from psycopg import sql

        if self.hnsw_min_rows is None or self._has_index(conn, meta):
            return
        row = conn.execute(
            sql.SQL("SELECT count(*) FROM {t}").format(t=sql.Identifier(meta.table))
        ).fetchone()
        if not row or row[0] < self.hnsw_min_rows:
            return
        # try-lock: if another writer is building it, let it (waiting could deadlock on the table)
        got = conn.execute(
            "SELECT pg_try_advisory_xact_lock(%s, hashtext(%s))",
            (LOCK_CLASS, "index:" + self.collection),
        ).fetchone()
        if got and got[0] and not self._has_index(conn, meta):
            self._build_index(conn, meta)

    def create_index(self) -> float:
        """Build the HNSW index now if it is missing; return the seconds it took (0 if present)."""
        start = time.perf_counter()
        with self._conn() as conn:
            meta = self._collection(conn)
            if meta is None or self._has_index(conn, meta):
                return 0.0
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                (LOCK_CLASS, "index:" + self.collection),
            )
            self._build_index(conn, meta)
        return time.perf_counter() - start

    def has_index(self) -> bool:
        """Whether the collection's HNSW index exists (else queries scan exactly)."""
        with self._conn(tx=False) as conn:
            meta = self._collection(conn)
            return meta is not None and self._has_index(conn, meta)

    def _index_if_due(self) -> None:
        """Build the HNSW index, in a transaction of its own, once the collection is big enough."""
        if self.hnsw_min_rows is None or self._indexed:
            return
        with self._errors(), self._pool.connection() as conn, conn.transaction():
            meta = self._collection(conn)
            if meta is not None:
                self._maybe_index(conn, meta)
