"""The async twin of PgVectorStore's queries (``AsyncPgVectorQueries``) on the session's real
PostgreSQL + pgvector: the same hits, scores and order as the sync store, the same errors, its
own ``AsyncConnectionPool`` (``application_name = rag-async``) opened on the running loop and
closed by ``aclose``; a query from another loop or after ``aclose`` is refused."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import psycopg
import pytest

from rag.errors import CollectionNotFoundError, DimensionMismatchError
from rag.stores.base import AsyncQueryStore, async_queries
from rag.stores.memory import MemoryStore
from rag.stores.pgvector import PgVectorStore
from rag.stores.pgvector_async import APPLICATION_NAME, AsyncPgVectorQueries
from rag.testing.store_contract import make_chunk, unit, vectors

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("error")]

FILTERS: list[dict[str, Any] | None] = [
    None,
    {"source": "/docs/a.md"},
    {"lang": {"$in": ["en", "de"]}},
    {"source": {"$ne": "/docs/b.md"}, "lang": "en"},
]


@pytest.fixture
def store(pg_dsn: str) -> Iterator[PgVectorStore]:
    s = PgVectorStore(pg_dsn, f"a-{uuid.uuid4().hex[:12]}")
    chunks = [
        make_chunk("k1", "the cat sat", "/docs/a.md", lang="en"),
        make_chunk("k2", "cats and a dog", "/docs/a.md", lang="en"),
        make_chunk("k3", "stock markets", "/docs/b.md", lang="de"),
        make_chunk("k4", "a dog barks at the cat", "/docs/c.md", lang="en"),
    ]
    terms = [["cat", "sat"], ["cat", "cat", "dog"], ["stock", "market"], ["dog", "bark", "cat"]]
    s.write(chunks, vectors(unit(0), unit(1), unit(2), unit(0) + unit(1)), terms=terms)
    yield s
    s.drop()
    s.close()


def app_connections(dsn: str, name: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
        ).fetchone()
    return int(row[0]) if row else 0


def same_hits(got: list[Any], want: list[Any]) -> None:
    assert [h.chunk for h in got] == [h.chunk for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-6)


def test_declared_and_made_by_async_queries(store: PgVectorStore) -> None:
    """pgvector declares ``supports_async_query``; the memory store does not (no twin)."""
    twin = async_queries(store)
    assert isinstance(twin, AsyncPgVectorQueries) and isinstance(twin, AsyncQueryStore)
    assert twin.collection == store.collection
    assert async_queries(MemoryStore("m")) is None
    asyncio.run(twin.aclose())  # never opened: nothing to close, no warning


def test_same_hits_as_the_sync_store(store: PgVectorStore) -> None:
    """aquery and akeyword_query answer what query and keyword_query answer, with filters
    (filtered dense queries take the per-transaction ef_search path)."""
    q = unit(0) + 0.3 * unit(1) + 0.1 * unit(2)

    async def main() -> None:
        async with store.async_queries() as twin:
            for filters in FILTERS:
                for k in (1, 3, 10):
                    same_hits(await twin.aquery(q, k, filters), store.query(q, k, filters))
                    for terms in (["cat"], ["dog", "cat", "cat"], ["stock"], ["zebra"], []):
                        same_hits(
                            await twin.akeyword_query(terms, k, filters),
                            store.keyword_query(terms, k, filters),
                        )
            assert await twin.aquery(q, 0) == []

    asyncio.run(main())


def test_same_errors_as_the_sync_store(store: PgVectorStore, pg_dsn: str) -> None:
    """A wrong dimension, an unknown collection and bad filters raise what the sync store raises."""

    async def main() -> None:
        async with store.async_queries() as twin:
            with pytest.raises(DimensionMismatchError):
                await twin.aquery(np.ones(3, dtype=np.float32), 2)
            with pytest.raises(Exception, match="not a valid name") as bad:
                await twin.aquery(unit(0), 2, {"bad name": 1})
            with pytest.raises(type(bad.value)):
                store.query(unit(0), 2, {"bad name": 1})
        missing = PgVectorStore(pg_dsn, f"none-{uuid.uuid4().hex[:8]}")
        try:
            async with missing.async_queries() as twin:
                with pytest.raises(CollectionNotFoundError):
                    await twin.aquery(unit(0), 2)
                assert await twin.akeyword_query(["cat"], 2) == []
        finally:
            missing.close()

    asyncio.run(main())


def test_own_pool_on_the_loop_closed_by_aclose(store: PgVectorStore, pg_dsn: str) -> None:
    """The twin's connections are its own (application_name rag-async) on an
    AsyncConnectionPool; aclose closes it and they go away; later queries are refused."""
    from psycopg_pool import AsyncConnectionPool

    async def main() -> AsyncPgVectorQueries:
        twin = store.async_queries()
        assert app_connections(pg_dsn, APPLICATION_NAME) == 0
        await asyncio.gather(*(twin.aquery(unit(i % 3), 2) for i in range(8)))
        assert isinstance(twin._pool, AsyncConnectionPool)
        pool = twin._pool
        assert app_connections(pg_dsn, APPLICATION_NAME) >= 1
        await twin.aclose()
        assert pool.closed
        await twin.aclose()  # idempotent
        with pytest.raises(RuntimeError, match="closed"):
            await twin.aquery(unit(0), 2)
        return twin

    asyncio.run(main())
    for _ in range(50):  # a backend leaves pg_stat_activity just after its client hangs up
        if app_connections(pg_dsn, APPLICATION_NAME) == 0:
            break
        time.sleep(0.05)
    assert app_connections(pg_dsn, APPLICATION_NAME) == 0


def test_another_loop_is_refused(store: PgVectorStore) -> None:
    """The pool belongs to the loop that opened it: a query from another loop is an error,
    not a pool used across loops."""
    twin = store.async_queries()
    loop = asyncio.new_event_loop()
    try:
        assert len(loop.run_until_complete(twin.aquery(unit(0), 2))) == 2
        with pytest.raises(RuntimeError, match="another event loop"):
            asyncio.run(twin.aquery(unit(0), 2))
    finally:
        loop.run_until_complete(twin.aclose())
        loop.close()
