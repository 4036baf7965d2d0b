"""The manifest: ``sources``/``set_source``, and ``delete_source`` removing an entry."""

from __future__ import annotations

import pytest

from rag.stores.base import SourceRecord, Store
from rag.testing.store_contract._base import (
    StoreFixture,
    make_chunk,
    unit,
    vectors,
)


class ManifestTests(StoreFixture):
    """The per-source manifest the ingest pipeline relies on for incremental, crash-safe runs."""

    def test_delete_source_removes_chunks_and_manifest(self, store: Store) -> None:
        """``delete_source`` deletes the source's chunks *and* its manifest entry, nothing else.

        If this fails on the manifest, delete the manifest row/record in ``delete_source``
        too: a stale entry makes the next ingest skip the file.
        """
        store.write(
            [
                make_chunk("a1", "x", "/docs/a.md"),
                make_chunk("a2", "y", "/docs/a.md"),
                make_chunk("b1", "z", "/docs/b.md"),
            ],
            vectors(unit(0), unit(1), unit(2)),
        )
        store.set_source(SourceRecord("/docs/a.md", "hash-a", 2, 100.0))
        store.set_source(SourceRecord("/docs/b.md", "hash-b", 1, 101.0))
        assert store.delete_source("/docs/a.md") == 2
        assert store.ids_for_source("/docs/a.md") == set()
        assert set(store.sources()) == {"/docs/b.md"}
        assert store.ids_for_source("/docs/b.md") == {"b1"}
        assert store.count() == 1
        assert store.delete_source("/docs/unknown.md") == 0

    def test_delete_source_without_chunks_removes_manifest(self, store: Store) -> None:
        """A manifest entry whose chunks are gone is still removed by ``delete_source``."""
        store.set_source(SourceRecord("/docs/empty.md", "h", 0, 1.0))
        assert store.delete_source("/docs/empty.md") == 0
        assert store.sources() == {}

    def test_manifest_roundtrip_and_overwrite(self, store: Store) -> None:
        """``set_source`` then ``sources`` gives the record back; setting again replaces it.

        If ``updated_at`` differs, store it as a double (seconds since the epoch), not float32.
        """
        path = "/docs/한국어 노트/spaced name.md"
        first = SourceRecord(path, "sha-1", 3, 1_700_000_000.25)
        store.set_source(first)
        assert store.sources() == {path: first}
        second = SourceRecord(path, "sha-2", 5, 1_700_000_123.5)
        store.set_source(second)
        got = store.sources()
        assert set(got) == {path}
        assert got[path].file_hash == "sha-2"
        assert got[path].chunk_count == 5
        assert got[path].updated_at == pytest.approx(1_700_000_123.5, abs=1e-3)

    def test_manifest_is_independent_of_chunks(self, store: Store) -> None:
        """Manifest entries do not count as chunks and chunks do not appear in the manifest."""
        store.set_source(SourceRecord("/docs/a.md", "h", 1, 1.0))
        assert store.count() == 0
        store.write([make_chunk("a", "alpha")], vectors(unit(0)))
        assert set(store.sources()) == {"/docs/a.md"}
        assert store.count() == 1

    def test_manifest_records_the_embedder(self, store: Store) -> None:
        """The entry keeps the identity of the embedder that embedded the source (so a query
        with an incompatible embedder is noticed), and replacing the entry replaces it.

        If this fails, store ``embedder`` beside ``file_hash`` (empty string when unset).
        """
        identity = "all-MiniLM-L6-v2|onnx|s8-reduced|onnxruntime 1.23.2|x86-64"
        store.set_source(SourceRecord("/docs/a.md", "h", 1, 1.0, identity))
        store.set_source(SourceRecord("/docs/b.md", "h", 1, 1.0))
        got = store.sources()
        assert got["/docs/a.md"].embedder == identity
        assert got["/docs/b.md"].embedder == ""
        store.set_source(SourceRecord("/docs/a.md", "h2", 1, 2.0, "other|torch|fp32||cpu"))
        assert store.sources()["/docs/a.md"].embedder == "other|torch|fp32||cpu"
