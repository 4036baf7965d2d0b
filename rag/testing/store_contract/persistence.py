"""Persistence: data survives reopening, collections are isolated (skipped when
``persistent`` is False)."""

from __future__ import annotations

import pytest

from rag.errors import DimensionMismatchError
from rag.stores.base import SourceRecord, Store
from rag.testing.store_contract._base import (
    StoreFixture,
    make_chunk,
    unit,
    vectors,
)


class PersistenceTests(StoreFixture):
    """What a persistent store keeps across instances, per collection."""

    def test_persistence_across_reopen(self, store: Store) -> None:
        """Chunks, manifest and the fixed dimension survive closing and reopening.

        If this fails, make sure writes are committed/flushed before ``write`` returns and
        that the dimension is read back from storage, not kept only in memory.
        """
        if not self.persistent:
            pytest.skip("store is not persistent")
        store.write(
            [make_chunk("a", "alpha", page_no=1), make_chunk("b", "beta")],
            vectors(unit(0), unit(1)),
        )
        store.set_source(SourceRecord("/docs/a.md", "h1", 2, 123.5))
        again = self.reopen(store)
        try:
            assert again.count() == 2
            (hit,) = again.query(unit(0), k=1)
            assert hit.chunk == make_chunk("a", "alpha", page_no=1)
            assert again.sources() == {"/docs/a.md": SourceRecord("/docs/a.md", "h1", 2, 123.5)}
            with pytest.raises(DimensionMismatchError):
                again.write([make_chunk("c", "gamma")], vectors(unit(0, 4)))
        finally:
            again.close()

    def test_collections_are_isolated(self, store: Store) -> None:
        """Two collections on the same backend share neither chunks nor manifest nor dimension.

        If this fails, scope every read, write, delete and manifest entry by collection.
        """
        if not self.persistent:
            pytest.skip("store is not persistent")
        other = self.sibling(store, store.collection + "-other")
        try:
            store.write([make_chunk("a", "alpha")], vectors(unit(0)))
            store.set_source(SourceRecord("/docs/a.md", "h", 1, 1.0))
            assert other.count() == 0
            assert other.sources() == {}
            assert other.existing_ids(["a"]) == set()
            other.write([make_chunk("a", "other alpha")], vectors(unit(0, 4)))
            assert other.delete_source("/docs/a.md") == 1
            assert store.count() == 1
            assert set(store.sources()) == {"/docs/a.md"}
            assert store.query(unit(0), k=1)[0].chunk.text == "alpha"
        finally:
            other.close()
