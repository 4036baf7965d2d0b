"""Write, count, duplicates, ids and deletes: what every store does."""

from __future__ import annotations

import numpy as np
import pytest

from rag.errors import CollectionNotFoundError, DimensionMismatchError, StoreError
from rag.stores.base import DuplicatePolicy, Store
from rag.testing.store_contract._base import (
    DIM,
    StoreFixture,
    make_chunk,
    result_ids,
    unit,
    vectors,
)


class WriteTests(StoreFixture):
    """Chunks in, counted, de-duplicated by policy, found by id and deleted."""

    def test_conforms_to_protocol(self, store: Store) -> None:
        """The store satisfies ``rag.stores.Store`` at runtime.

        If this fails, a method or the ``collection``/``supports_filters`` attribute is missing.
        """
        assert isinstance(store, Store)
        assert isinstance(store.collection, str) and store.collection
        assert store.supports_filters is True

    def test_new_store_is_empty(self, store: Store) -> None:
        """A fresh store holds nothing: no chunks, no manifest, no ids.

        If this fails, the ``store`` fixture did not return an empty store (clean up the
        collection/table/directory before yielding it).
        """
        assert store.count() == 0
        assert store.sources() == {}
        assert store.existing_ids(["x"]) == set()
        assert store.ids_for_source("/docs/a.md") == set()

    def test_write_and_count(self, store: Store) -> None:
        """``write`` returns the number of chunks written and ``count`` sees them all."""
        chunks = [make_chunk(f"id{i}", f"text {i}") for i in range(3)]
        assert store.write(chunks, vectors(unit(0), unit(1), unit(2))) == 3
        assert store.count() == 3

    def test_write_zero_chunks_is_noop(self, store: Store) -> None:
        """Writing no chunks changes nothing, does not fix the dimension and does not raise.

        If this fails, guard ``write`` with an early return before creating any collection
        or recording a dimension (an empty (0, dim) matrix carries no real dimension).
        """
        assert store.write([], np.zeros((0, DIM), dtype=np.float32)) == 0
        assert store.count() == 0
        with pytest.raises(CollectionNotFoundError):
            store.query(unit(0), k=3)
        # the dimension is still free: a 4-d write is accepted
        assert store.write([make_chunk("a", "alpha")], vectors(unit(0, 4))) == 1

    def test_embedding_rows_must_match_chunks(self, store: Store) -> None:
        """One embedding row per chunk: a mismatch raises and writes nothing.

        If this fails, compare ``len(chunks)`` with ``embeddings.shape[0]`` before writing.
        """
        with pytest.raises((StoreError, ValueError)):
            store.write([make_chunk("a", "alpha"), make_chunk("b", "beta")], vectors(unit(0)))
        assert store.count() == 0

    def test_overwrite_replaces_text_vector_and_metadata(self, store: Store) -> None:
        """OVERWRITE replaces the whole stored chunk: text, vector and *all* metadata.

        If this fails with leftover metadata keys, the backend merges metadata on upsert
        (Chroma does): delete the old record first or set the full metadata explicitly.
        """
        store.write([make_chunk("a", "old text", old="x", n=1)], vectors(unit(0)))
        written = store.write(
            [make_chunk("a", "new text", n=2)], vectors(unit(1)), DuplicatePolicy.OVERWRITE
        )
        assert written == 1
        assert store.count() == 1
        (hit,) = store.query(unit(1), k=1)
        assert hit.chunk.text == "new text"
        assert hit.chunk.metadata == {"n": 2}
        assert hit.score == pytest.approx(1.0, abs=1e-3)

    def test_skip_keeps_existing(self, store: Store) -> None:
        """SKIP leaves stored ids untouched, writes the new ones and counts only those."""
        store.write([make_chunk("a", "old text")], vectors(unit(0)))
        written = store.write(
            [make_chunk("a", "new text"), make_chunk("b", "beta")],
            vectors(unit(1), unit(2)),
            DuplicatePolicy.SKIP,
        )
        assert written == 1
        assert store.count() == 2
        (hit,) = store.query(unit(0), k=1)
        assert hit.chunk.id == "a" and hit.chunk.text == "old text"
        assert hit.score == pytest.approx(1.0, abs=1e-3)

    def test_fail_raises_and_writes_nothing(self, store: Store) -> None:
        """FAIL raises StoreError naming the duplicate id, and writes nothing of that call.

        If this fails because ``b`` got written, check for duplicates *before* writing
        anything (or do it in one transaction you roll back).
        """
        store.write([make_chunk("a", "old text")], vectors(unit(0)))
        with pytest.raises(StoreError) as info:
            store.write(
                [make_chunk("b", "beta"), make_chunk("a", "new text")],
                vectors(unit(1), unit(2)),
                DuplicatePolicy.FAIL,
            )
        assert "'a'" in str(info.value) or '"a"' in str(info.value)
        assert store.existing_ids(["a", "b"]) == {"a"}
        assert store.query(unit(0), k=1)[0].chunk.text == "old text"

    def test_fail_policy_writes_new_ids(self, store: Store) -> None:
        """FAIL with only new ids is a normal write."""
        assert store.write([make_chunk("a", "alpha")], vectors(unit(0)), DuplicatePolicy.FAIL) == 1
        assert store.count() == 1

    def test_duplicate_ids_within_one_write(self, store: Store) -> None:
        """Repeated ids inside one call: OVERWRITE keeps the last, SKIP the first, FAIL raises.

        If this fails, de-duplicate the batch before sending it (Chroma rejects repeated
        ids; PostgreSQL's ``ON CONFLICT DO UPDATE`` cannot touch a row twice per statement).
        """
        first, last = make_chunk("a", "first"), make_chunk("a", "last")
        assert store.write([first, last], vectors(unit(0), unit(1))) == 1
        assert store.count() == 1
        assert store.query(unit(1), k=1)[0].chunk.text == "last"

        skip = [make_chunk("b", "first b"), make_chunk("b", "last b")]
        assert store.write(skip, vectors(unit(2), unit(3)), DuplicatePolicy.SKIP) == 1
        assert store.query(unit(2), k=1)[0].chunk.text == "first b"

        with pytest.raises(StoreError):
            store.write(
                [make_chunk("c", "x"), make_chunk("c", "y")],
                vectors(unit(4), unit(5)),
                DuplicatePolicy.FAIL,
            )
        assert store.existing_ids(["c"]) == set()
        assert store.count() == 2

    def test_existing_ids(self, store: Store) -> None:
        """``existing_ids`` returns exactly the stored subset of the ids asked about."""
        store.write([make_chunk("a", "alpha"), make_chunk("b", "beta")], vectors(unit(0), unit(1)))
        assert store.existing_ids(["a", "b", "zzz"]) == {"a", "b"}
        assert store.existing_ids(["zzz"]) == set()
        assert store.existing_ids([]) == set()

    def test_ids_for_source(self, store: Store) -> None:
        """``ids_for_source`` returns every chunk id of one source and nothing else."""
        store.write(
            [
                make_chunk("a1", "x", "/docs/a.md"),
                make_chunk("a2", "y", "/docs/a.md"),
                make_chunk("b1", "z", "/docs/b.md"),
            ],
            vectors(unit(0), unit(1), unit(2)),
        )
        assert store.ids_for_source("/docs/a.md") == {"a1", "a2"}
        assert store.ids_for_source("/docs/b.md") == {"b1"}
        assert store.ids_for_source("/docs/none.md") == set()

    def test_delete_ids(self, store: Store) -> None:
        """``delete_ids`` removes the given chunks and returns how many existed.

        If this fails on the missing id, do not count (or raise for) ids that were not stored.
        """
        store.write([make_chunk(x, x) for x in ("a", "b", "c")], vectors(unit(0), unit(1), unit(2)))
        assert store.delete_ids(["a", "missing"]) == 1
        assert store.delete_ids(["missing"]) == 0
        assert store.delete_ids([]) == 0
        assert store.count() == 2
        assert store.existing_ids(["a", "b", "c"]) == {"b", "c"}
        assert "a" not in result_ids(store.query(unit(0), k=3))

    def test_dimension_mismatch_on_write(self, store: Store) -> None:
        """A write with another dimension than the first raises DimensionMismatchError,
        naming the collection and both dimensions, and writes nothing.

        If this fails, record the dimension on the first write (collection metadata, a
        column type, a side table) and compare it before writing.
        """
        store.write([make_chunk("a", "alpha")], vectors(unit(0)))
        with pytest.raises(DimensionMismatchError) as info:
            store.write([make_chunk("b", "beta")], vectors(unit(0, 4)))
        message = str(info.value)
        assert store.collection in message
        assert str(DIM) in message and "4" in message
        assert store.count() == 1

    def test_large_batch_roundtrip(self, store: Store) -> None:
        """5,000 chunks in one call are all stored and findable.

        If this fails, split writes under the backend's maximum batch size (Chroma's
        ``get_max_batch_size()``, PostgreSQL's parameter limit) inside ``write``.
        """
        n, dim = 5000, 32
        rng = np.random.default_rng(42)
        emb = rng.normal(size=(n, dim)).astype(np.float32)
        chunks = [
            make_chunk(f"big-{i}", f"chunk number {i}", f"/docs/{i % 7}.md") for i in range(n)
        ]
        assert store.write(chunks, emb) == n
        assert store.count() == n
        assert store.existing_ids([c.id for c in chunks]) == {c.id for c in chunks}
        assert len(store.ids_for_source("/docs/3.md")) == len(range(3, n, 7))
        for i in (0, 1234, n - 1):
            top = store.query(emb[i], k=3)
            assert top[0].chunk.id == f"big-{i}"
            assert top[0].score == pytest.approx(1.0, abs=1e-3)
        assert store.write(chunks[:10], emb[:10], DuplicatePolicy.SKIP) == 0
        assert store.count() == n
