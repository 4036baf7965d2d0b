"""``AsyncPgVectorQueries``: the async twin of ``PgVectorStore``'s query side, on
``psycopg_pool.AsyncConnectionPool``.

    queries = store.async_queries()          # cheap: no connection yet
    hits = await queries.aquery(vector, 10, filters)
    hits = await queries.akeyword_query(terms, 10, filters)
    await queries.aclose()

The same SQL as the sync store (``rag.stores._pgsql.dense_query``,
``rag.stores.pgvector_keyword.keyword_query``), the same per-connection settings
(``session_settings``: custom plans, ``hnsw.ef_search``, iterative scans), the same errors
(the sync store's messages), so a query answers the same hits, scores and order either way.
Nothing here blocks the loop: connecting, the vector adapters and every query are awaited.

The pool is opened by the first query, on the running loop, and belongs to that loop: a query
from another loop is refused (``RuntimeError``), never served on a pool bound elsewhere.
``aclose`` closes it. Its connections say ``application_name = rag-async`` (the sync pool's say
``rag``), so ``pg_stat_activity`` tells them apart. Only queries have a twin: ingest (writes,
the manifest, deletes) stays on the sync store, which an async caller runs in its executor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

from rag.errors import CollectionNotFoundError, DimensionMismatchError, StoreError
from rag.stores._pgsql import (
    COLLECTION_SQL,
    EF_SEARCH_SQL,
    TableInfo,
    any_rows_sql,
    dense_hits,
    dense_query,
    first_line,
    session_settings,
)
from rag.stores.base import Filters, validate_filters
from rag.stores.memory import query_vector
from rag.stores.pgvector_keyword import keyword_hits, keyword_query
from rag.stores.pgvector_schema import SETTING_HINT
from rag.types import ScoredChunk, Vectors

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool

__all__ = ["APPLICATION_NAME", "AsyncPgVectorQueries", "SyncSide"]

APPLICATION_NAME = "rag-async"
"""``application_name`` of the async pool's connections (``pg_stat_activity`` shows it)."""


class SyncSide(Protocol):
    """What the twin shares with the ``PgVectorStore`` that made it: its collection, search
    settings, cached table, connection string and messages (a protocol, so this module never
    imports ``rag.stores.pgvector``, which imports it)."""

    collection: str
    ef_search: int
    _meta: TableInfo | None
    _iterative: bool
    _connect_timeout: int
    _where: dict[str, str]

    def _conninfo(self) -> str: ...

    def _query_ef(self, k: int, filters: Filters | None) -> int | None: ...

    def _errors(self) -> AbstractContextManager[None]: ...

    def _not_found(self) -> CollectionNotFoundError: ...

    def _mismatch(self, stored: int, got: int) -> DimensionMismatchError: ...


class AsyncPgVectorQueries:
    """``aquery`` and ``akeyword_query`` of one pgvector collection over an async pool (see the
    module docstring). Safe to share across the tasks of the loop that opened it."""

    def __init__(self, store: SyncSide, *, pool_size: int = 4) -> None:
        if pool_size < 1:
            raise ValueError(f"pool_size must be >= 1 (got {pool_size})")
        self.store = store
        """The sync store whose collection, settings and messages this twin shares."""
        self.collection = store.collection
        self.pool_size = pool_size
        self._pool: AsyncConnectionPool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None
        self._closed = False

    # -- the pool ----------------------------------------------------------------------------

    async def _opened(self) -> AsyncConnectionPool:
        """The pool, opened on the running loop by the first caller (the others wait for it)."""
        loop = asyncio.get_running_loop()
        if self._closed:
            raise RuntimeError(f"the async queries of collection {self.collection!r} are closed")
        if self._loop is None:
            self._loop, self._opening = loop, asyncio.Lock()
        elif self._loop is not loop:
            raise RuntimeError(
                f"the async pool of pgvector collection {self.collection!r} was opened on "
                "another event loop; use one AsyncRAG (or store.async_queries()) per loop"
            )
        assert self._opening is not None
        async with self._opening:
            if self._pool is None:
                self._pool = await self._open()
        return self._pool

    async def _open(self) -> AsyncConnectionPool:
        from psycopg.conninfo import make_conninfo
        from psycopg_pool import AsyncConnectionPool

        store = self.store
        conninfo = make_conninfo(store._conninfo(), application_name=APPLICATION_NAME)
        pool: AsyncConnectionPool = AsyncConnectionPool(
            conninfo,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name=f"rag-async-{self.collection}",
        )
        try:
            await pool.open(wait=True, timeout=store._connect_timeout + 5)
        except Exception as exc:
            await pool.close()
            raise StoreError(
                f"cannot open an async connection pool to PostgreSQL at "
                f"{store._where['addr']}: {first_line(exc)} ({SETTING_HINT})"
            ) from None
        return pool

    async def _configure(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Per pooled connection: the vector adapters and the sync pool's session settings."""
        from pgvector.psycopg import register_vector_async

        await register_vector_async(conn)
        for statement, params in session_settings(self.store.ef_search, self.store._iterative):
            await conn.execute(statement, params)

    async def _collection(self, conn: psycopg.AsyncConnection[Any]) -> TableInfo | None:
        """The collection's table and dimension: the sync store's cached entry when it has
        one, else read (and cached there: a committed read, the same for both)."""
        if self.store._meta is not None:
            return self.store._meta
        cur = await conn.execute(COLLECTION_SQL, (self.collection,))
        row = await cur.fetchone()
        if row is None:
            return None
        meta = self.store._meta = TableInfo(str(row[0]), int(row[1]))
        return meta

    # -- queries -----------------------------------------------------------------------------

    async def aquery(
        self, embedding: Vectors, k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """``PgVectorStore.query``, awaited: top ``k`` by cosine similarity, filtered in SQL."""
        store = self.store
        validate_filters(filters)
        q = query_vector(embedding)
        if k <= 0:
            return []
        ef = store._query_ef(k, filters)
        pool = await self._opened()
        with store._errors():
            async with pool.connection() as conn:
                meta = await self._collection(conn)
                if meta is None:
                    raise store._not_found()
                if q.shape[0] != meta.dimension:
                    raise store._mismatch(meta.dimension, int(q.shape[0]))
                if ef is None:
                    cur = await conn.execute(*dense_query(meta.table, q, k, filters))
                    rows = await cur.fetchall()
                else:
                    async with conn.transaction():  # ef_search for this transaction only
                        await conn.execute(EF_SEARCH_SQL, (str(ef),))
                        cur = await conn.execute(*dense_query(meta.table, q, k, filters))
                        rows = await cur.fetchall()
                if not rows:
                    cur = await conn.execute(any_rows_sql(meta.table))
                    found = await cur.fetchone()
                    if not (found and found[0]):
                        raise store._not_found()
        return dense_hits(rows)

    async def akeyword_query(
        self, terms: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """``PgVectorStore.keyword_query``, awaited: BM25 in SQL over the stored terms."""
        store = self.store
        validate_filters(filters)
        pool = await self._opened()
        with store._errors():
            async with pool.connection() as conn:
                meta = await self._collection(conn)
                if meta is None:
                    return []
                query = keyword_query(self.collection, meta.table, terms, k, filters)
                if query is None:
                    return []
                cur = await conn.execute(*query)
                return keyword_hits(await cur.fetchall())

    # -- closing -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the async pool (the sync store stays open). Idempotent; later queries raise."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> AsyncPgVectorQueries:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
