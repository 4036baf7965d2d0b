"""Roots: each chunk and manifest entry keeps the root its file was ingested under and its
path relative to it, and a source's stored vectors are read back by content hash (what
ingest re-keys a moved file with instead of embedding it again)."""

from __future__ import annotations

import numpy as np
import pytest

from rag.stores.base import DuplicatePolicy, SourceRecord, Store, keyword_search
from rag.testing.store_contract._base import StoreFixture, make_chunk, unit, vectors
from rag.types import Chunk

_ROOT = "/home/u/notes"


def _rooted(chunk: Chunk, root: str, rel_path: str) -> Chunk:
    return chunk.model_copy(update={"root": root, "rel_path": rel_path})


class RootTests(StoreFixture):
    """``Chunk.root``/``Chunk.rel_path``, ``SourceRecord.root``/``rel_path`` and
    ``stored_vectors``."""

    def test_chunks_keep_their_root_and_relative_path(self, store: Store) -> None:
        """A chunk comes back from ``query`` (and ``keyword_query``) with the root and relative
        path it was written with; one written without them comes back with both empty.

        If this fails, store ``root`` and ``rel_path`` beside ``source`` (a column, payload or
        metadata key that no user metadata key can take) and read them back, empty when absent.
        """
        a = _rooted(make_chunk("a", "alpha", f"{_ROOT}/docs/a.md"), _ROOT, "docs/a.md")
        b = make_chunk("b", "beta", "/elsewhere/b.md", lang="en")
        store.write([a, b], vectors(unit(0), unit(1)), terms=[["alpha"], ["beta"]])
        (hit,) = store.query(unit(0), k=1)
        assert (hit.chunk.root, hit.chunk.rel_path) == (_ROOT, "docs/a.md")
        assert hit.chunk == a
        (hit,) = store.query(unit(1), k=1)
        assert (hit.chunk.root, hit.chunk.rel_path) == ("", "")
        assert hit.chunk.metadata == {"lang": "en"}
        keywords = keyword_search(store)
        if keywords is not None:
            (kw,) = keywords.keyword_query(["alpha"], 1)
            assert kw.chunk == a

    def test_overwriting_a_chunk_replaces_its_root(self, store: Store) -> None:
        """Writing a stored id again (OVERWRITE) replaces its root and relative path, in the
        dense and the keyword results alike (ingest rewrites a file under its new root so).

        If this fails on the keyword side, replace the keyword row's stored chunk on write.
        """
        source = f"{_ROOT}/docs/a.md"
        old = make_chunk("a", "alpha", source)
        new = _rooted(old, f"{_ROOT}/docs", "a.md")
        store.write([old], vectors(unit(0)), terms=[["alpha"]])
        store.write([new], vectors(unit(0)), DuplicatePolicy.OVERWRITE, terms=[["alpha"]])
        (hit,) = store.query(unit(0), k=1)
        assert (hit.chunk.root, hit.chunk.rel_path) == (f"{_ROOT}/docs", "a.md")
        keywords = keyword_search(store)
        if keywords is not None:
            (kw,) = keywords.keyword_query(["alpha"], 1)
            assert (kw.chunk.root, kw.chunk.rel_path) == (f"{_ROOT}/docs", "a.md")

    def test_manifest_records_root_and_relative_path(self, store: Store) -> None:
        """``set_source`` keeps the entry's root and relative path (empty when not given, as
        in entries written before roots were recorded), and replacing the entry replaces them.

        If this fails, store ``root`` and ``rel_path`` beside ``file_hash``.
        """
        rooted = SourceRecord(f"{_ROOT}/a.md", "h", 1, 1.0, "e", _ROOT, "a.md")
        bare = SourceRecord("/old/b.md", "h", 1, 1.0)
        store.set_source(rooted)
        store.set_source(bare)
        assert store.sources() == {rooted.source: rooted, bare.source: bare}
        moved = SourceRecord(bare.source, "h", 1, 2.0, "", "/old", "b.md")
        store.set_source(moved)
        assert store.sources()[bare.source] == moved

    def test_stored_vectors_by_content_hash(self, store: Store) -> None:
        """``stored_vectors(source, hashes)`` gives the stored unit vector of that source's
        chunks for each hash one of them has: other sources' chunks with the same text are
        not looked at, unknown hashes and sources give nothing, and chunks sharing a text
        give one vector.

        If this fails, filter on the source and the content hash together and return the
        stored (normalised) vector, one per hash.
        """
        assert store.stored_vectors("/docs/a.md", ["x"]) == {}  # nothing stored yet
        a1 = make_chunk("a1", "alpha", "/docs/a.md")
        a2 = make_chunk("a2", "beta", "/docs/a.md")
        a3 = make_chunk("a3", "alpha", "/docs/a.md", page=2)  # same text as a1
        b1 = make_chunk("b1", "beta", "/docs/b.md")  # same text as a2, another source
        rows = vectors(2 * unit(0), unit(1) + unit(2), unit(0), unit(3))
        store.write([a1, a2, a3, b1], rows)
        got = store.stored_vectors("/docs/a.md", [a1.content_hash, a2.content_hash, "nope"])
        assert set(got) == {a1.content_hash, a2.content_hash}
        for vec in got.values():
            assert vec.dtype == np.float32 and vec.shape == (len(unit(0)),)
        np.testing.assert_allclose(got[a1.content_hash], unit(0), atol=1e-6)
        expected = (unit(1) + unit(2)) / np.sqrt(2)
        np.testing.assert_allclose(got[a2.content_hash], expected, atol=1e-6)
        (only_b,) = store.stored_vectors("/docs/b.md", [a2.content_hash]).values()
        np.testing.assert_allclose(only_b, unit(3), atol=1e-6)
        assert store.stored_vectors("/docs/c.md", [a1.content_hash]) == {}
        assert store.stored_vectors("/docs/a.md", []) == {}

    def test_root_survives_reopen(self, store: Store) -> None:
        """Roots and relative paths are read back from storage, in chunks and the manifest."""
        if not self.persistent:
            pytest.skip("store is not persistent")
        chunk = _rooted(make_chunk("a", "alpha", f"{_ROOT}/a.md"), _ROOT, "a.md")
        record = SourceRecord(chunk.source, "h", 1, 1.0, "", _ROOT, "a.md")
        store.write([chunk], vectors(unit(0)))
        store.set_source(record)
        again = self.reopen(store)
        try:
            (hit,) = again.query(unit(0), k=1)
            assert hit.chunk == chunk
            assert again.sources() == {chunk.source: record}
        finally:
            again.close()
