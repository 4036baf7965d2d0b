"""Async queries (``supports_async_query``): the ``AsyncQueryStore`` twin answers what the sync
store answers. Skipped for a store that does not declare the capability (haystack's
``document_store_async`` suite is the model)."""

from __future__ import annotations

import asyncio

import pytest

from rag.stores.base import AsyncQueryStore, Filters, Store, async_queries, keyword_search
from rag.testing.store_contract._base import (
    FILTER_CASES,
    SCORE_EPS,
    StoreFixture,
    make_chunk,
    unit,
)
from rag.types import ScoredChunk


def _same(got: list[ScoredChunk], want: list[ScoredChunk]) -> None:
    assert [h.chunk for h in got] == [h.chunk for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=SCORE_EPS)


class AsyncQueryTests(StoreFixture):
    """``async_queries(store)``: ``aquery``/``akeyword_query`` equal ``query``/``keyword_query``."""

    @pytest.fixture
    def async_store(self, store: Store) -> Store:
        """The store; skips when it does not declare ``supports_async_query``."""
        if not getattr(store, "supports_async_query", False):
            pytest.skip("the store does not declare supports_async_query")
        return store

    def test_async_twin_conforms(self, async_store: Store) -> None:
        """A store declaring ``supports_async_query`` makes an ``AsyncQueryStore``, and closing
        one that never queried is fine (twice).

        If this fails, implement ``async_queries()`` returning an object with ``aquery``,
        ``akeyword_query`` and ``aclose`` (``rag.stores.base.AsyncQueryStore``), or set
        ``supports_async_query = False``.
        """
        twin = async_queries(async_store)
        assert isinstance(twin, AsyncQueryStore)
        assert twin.collection == async_store.collection

        async def close() -> None:
            await twin.aclose()
            await twin.aclose()

        asyncio.run(close())

    @pytest.mark.parametrize(
        "filters",
        [None, *(f for _, f, _ in FILTER_CASES)],
        ids=["no-filter", *(name for name, _, _ in FILTER_CASES)],
    )
    def test_async_queries_equal_sync_ones(
        self, async_store: Store, filters: Filters | None
    ) -> None:
        """``aquery`` (and ``akeyword_query``, with ``supports_keyword_search``) return the same
        chunks, order and scores as ``query``/``keyword_query`` for the same arguments.

        If this fails, build the async twin's statements from the same code as the sync ones
        (pgvector shares ``rag.stores._pgsql``) and check its connections get the same
        session settings.
        """
        self._write_filter_corpus(async_store)
        kw = keyword_search(async_store)
        if kw is not None:
            kw.index_terms(
                [make_chunk("c1", "one", "/docs/a.md"), make_chunk("c3", "three", "/docs/b.md")],
                [["one", "shared"], ["three", "shared", "shared"]],
            )
        query = unit(0) + 0.5 * unit(2) + 0.25 * unit(3)
        twin = async_queries(async_store)
        assert twin is not None

        async def main() -> None:
            try:
                for k in (1, 3, 10):
                    _same(
                        await twin.aquery(query, k, filters), async_store.query(query, k, filters)
                    )
                    if kw is not None:
                        _same(
                            await twin.akeyword_query(["shared", "one"], k, filters),
                            kw.keyword_query(["shared", "one"], k, filters),
                        )
            finally:
                await twin.aclose()

        asyncio.run(main())
