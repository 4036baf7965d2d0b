"""Keyword search (``supports_keyword_search``): BM25 rows written, replaced and deleted with
their chunks. Skipped for a store that does not declare the capability."""

from __future__ import annotations

import pytest

from rag.errors import ConfigError, StoreError
from rag.stores.base import DuplicatePolicy, KeywordSearchStore, SourceRecord, Store, keyword_search
from rag.stores.bm25 import bm25_idf
from rag.testing.store_contract._base import (
    StoreFixture,
    make_chunk,
    result_ids,
    unit,
    vectors,
)

# terms are given by the caller (normally rag.keywords); these are hand-made
_CORPUS = [
    (make_chunk("k1", "the cat sat", "/docs/a.md", lang="en"), ["cat", "sat"]),
    (make_chunk("k2", "cats and a dog", "/docs/a.md", lang="en"), ["cat", "cat", "dog"]),
    (make_chunk("k3", "stock markets", "/docs/b.md", lang="de"), ["stock", "market"]),
]


class KeywordSearchTests(StoreFixture):
    """BM25 over the terms each ``write`` carried, owned by the store."""

    @pytest.fixture
    def keyword_store(self, store: Store) -> KeywordSearchStore:
        """The store as a ``KeywordSearchStore``; skips when the capability is not declared."""
        kw = keyword_search(store)
        if kw is None:
            pytest.skip("the store does not declare supports_keyword_search")
        return kw

    def _write_corpus(self, store: KeywordSearchStore) -> None:
        chunks = [c for c, _ in _CORPUS]
        terms = [t for _, t in _CORPUS]
        assert store.write(chunks, vectors(unit(0), unit(1), unit(2)), terms=terms) == 3

    def test_keyword_store_conforms(self, keyword_store: KeywordSearchStore) -> None:
        """A store declaring ``supports_keyword_search`` has every ``KeywordSearchStore`` method.

        If this fails, add ``keyword_query``, ``keyword_ids``, ``keyword_count`` and
        ``index_terms``, or set ``supports_keyword_search = False``.
        """
        assert isinstance(keyword_store, KeywordSearchStore)
        assert keyword_store.keyword_count() == 0
        assert keyword_store.keyword_query(["cat"], 3) == []

    def test_write_with_terms_is_searchable_by_bm25(
        self, keyword_store: KeywordSearchStore
    ) -> None:
        """Chunks written with ``terms`` are found by ``keyword_query``, best BM25 first, with
        the score of ``rag.stores.bm25``; chunks sharing no term are never returned.

        If this fails on the score, compare with ``bm25_idf``/``bm25_term`` (k1 = 1.2,
        b = 0.75, Lucene idf, query terms deduplicated).
        """
        self._write_corpus(keyword_store)
        hits = keyword_store.keyword_query(["cat", "cat"], 5)
        assert result_ids(hits) == ["k2", "k1"]  # k2 has "cat" twice
        assert hits[0].chunk == _CORPUS[1][0]
        assert keyword_store.keyword_query(["zebra"], 5) == []
        assert keyword_store.keyword_query([], 5) == []
        assert result_ids(keyword_store.keyword_query(["cat"], 1)) == ["k2"]
        # 'stock' in k3 only (tf 1, |d| 2, avgdl 7/3)
        (hit,) = keyword_store.keyword_query(["stock"], 5)
        idf = bm25_idf(3, 1)
        want = idf * 2.2 / (1 + 1.2 * (1 - 0.75 + 0.75 * 2 / (7 / 3)))
        assert hit.chunk.id == "k3" and hit.score == pytest.approx(want, rel=1e-6)

    def test_keyword_query_applies_filters(self, keyword_store: KeywordSearchStore) -> None:
        """``keyword_query`` filters like ``query`` does and rejects malformed filters.

        If this fails, apply ``filters`` to the BM25 candidates (before the ``k`` limit) with the
        same translation as ``query``, after ``validate_filters``.
        """
        self._write_corpus(keyword_store)
        assert keyword_store.keyword_query(["cat", "stock"], 5, {"lang": "de"})[0].chunk.id == "k3"
        assert keyword_store.keyword_query(["cat"], 5, {"source": "/docs/b.md"}) == []
        assert result_ids(keyword_store.keyword_query(["cat", "stock"], 1, {"lang": "en"})) == [
            "k2"
        ]
        with pytest.raises(ConfigError):
            keyword_store.keyword_query(["cat"], 5, {"bad field!": 1})

    def test_keyword_rows_follow_deletes(self, keyword_store: KeywordSearchStore) -> None:
        """``delete_ids`` and ``delete_source`` remove the chunks' keyword rows too.

        If this fails, delete the keyword rows in the same call (and transaction) as the
        chunks; the ingest pipeline no longer deletes them separately.
        """
        self._write_corpus(keyword_store)
        assert keyword_store.keyword_ids(["k1", "k2", "k3", "nope"]) == {"k1", "k2", "k3"}
        assert keyword_store.keyword_count() == 3
        assert keyword_store.delete_ids(["k1"]) == 1
        assert result_ids(keyword_store.keyword_query(["cat"], 5)) == ["k2"]
        keyword_store.set_source(SourceRecord("/docs/a.md", "h", 2, 1.0))
        assert keyword_store.delete_source("/docs/a.md") == 1
        assert keyword_store.keyword_query(["cat"], 5) == []
        assert keyword_store.keyword_ids(["k1", "k2", "k3"]) == {"k3"}
        assert keyword_store.keyword_count() == 1

    def test_overwrite_replaces_terms_and_write_without_terms_drops_them(
        self, keyword_store: KeywordSearchStore
    ) -> None:
        """A chunk's keyword rows come from the write that stored it: OVERWRITE with new terms
        replaces them, OVERWRITE without terms leaves the chunk unsearchable by keyword.

        If this fails, delete an overwritten id's old keyword rows in ``write``.
        """
        self._write_corpus(keyword_store)
        new = make_chunk("k2", "only zebras", "/docs/a.md")
        keyword_store.write([new], vectors(unit(1)), terms=[["zebra"]])
        assert result_ids(keyword_store.keyword_query(["cat"], 5)) == ["k1"]
        assert keyword_store.keyword_query(["zebra"], 5)[0].chunk == new
        keyword_store.write([make_chunk("k1", "no terms")], vectors(unit(0)))
        assert keyword_store.keyword_query(["cat"], 5) == []
        assert keyword_store.keyword_ids(["k1", "k2"]) == {"k2"}
        assert keyword_store.count() == 3 and keyword_store.keyword_count() == 2

    def test_skip_and_fail_keep_the_stored_terms(self, keyword_store: KeywordSearchStore) -> None:
        """SKIP keeps a stored chunk with its keyword rows (and indexes the new ones); FAIL
        writes no keyword rows at all.

        If this fails, write keyword rows only for the chunks the policy actually wrote.
        """
        self._write_corpus(keyword_store)
        written = keyword_store.write(
            [make_chunk("k1", "changed"), make_chunk("k4", "a new dog")],
            vectors(unit(3), unit(4)),
            DuplicatePolicy.SKIP,
            terms=[["changed"], ["dog"]],
        )
        assert written == 1
        assert keyword_store.keyword_query(["changed"], 5) == []
        assert set(result_ids(keyword_store.keyword_query(["dog"], 5))) == {"k2", "k4"}
        with pytest.raises(StoreError):
            keyword_store.write(
                [make_chunk("k5", "five"), make_chunk("k1", "again")],
                vectors(unit(5), unit(6)),
                DuplicatePolicy.FAIL,
                terms=[["five"], ["again"]],
            )
        assert keyword_store.keyword_query(["five", "again"], 5) == []

    def test_terms_must_match_chunks(self, keyword_store: KeywordSearchStore) -> None:
        """One term list per chunk: a mismatch raises StoreError and writes nothing.

        If this fails, compare ``len(terms)`` with ``len(chunks)`` before writing anything.
        """
        with pytest.raises(StoreError):
            keyword_store.write(
                [make_chunk("a", "alpha"), make_chunk("b", "beta")],
                vectors(unit(0), unit(1)),
                terms=[["alpha"]],
            )
        assert keyword_store.count() == 0 and keyword_store.keyword_count() == 0

    def test_index_terms_fills_stored_chunks_only(self, keyword_store: KeywordSearchStore) -> None:
        """``index_terms`` gives stored chunks keyword rows (the repair after a crash between a
        sidecar's two writes) and ignores ids that are not stored.

        If this fails, look the ids up in the chunk store before writing their keyword rows.
        """
        chunks = [c for c, _ in _CORPUS]
        keyword_store.write(chunks, vectors(unit(0), unit(1), unit(2)))
        assert keyword_store.keyword_count() == 0
        ghost = make_chunk("ghost", "never stored")
        n = keyword_store.index_terms(
            [chunks[0], chunks[2], ghost], [["cat", "sat"], ["stock"], ["ghost"]]
        )
        assert n == 2
        assert keyword_store.keyword_ids(["k1", "k2", "k3", "ghost"]) == {"k1", "k3"}
        assert keyword_store.keyword_query(["ghost"], 5) == []
        assert result_ids(keyword_store.keyword_query(["cat"], 5)) == ["k1"]

    def test_rolled_back_transaction_leaves_no_keyword_rows(
        self, keyword_store: KeywordSearchStore
    ) -> None:
        """On a store that ``supports_transactions``, keyword rows commit and roll back with
        their chunks.

        If this fails, write the keyword rows on the transaction's connection.
        """
        if not keyword_store.supports_transactions:
            pytest.skip("the store does not declare supports_transactions")
        self._write_corpus(keyword_store)
        with pytest.raises(RuntimeError, match="crash"), keyword_store.transaction():
            keyword_store.delete_ids(["k1"])
            keyword_store.write([make_chunk("k9", "dog")], vectors(unit(4)), terms=[["dog"]])
            raise RuntimeError("crash")
        assert keyword_store.keyword_ids(["k1", "k9"]) == {"k1"}
        assert result_ids(keyword_store.keyword_query(["dog"], 5)) == ["k2"]

    def test_keyword_rows_persist_across_reopen(self, keyword_store: KeywordSearchStore) -> None:
        """A persistent store's keyword rows survive closing and reopening.

        If this fails, check that the sidecar (or table) is flushed and found again by path.
        """
        if not self.persistent:
            pytest.skip("store is not persistent")
        self._write_corpus(keyword_store)
        again = self.reopen(keyword_store)
        try:
            kw = keyword_search(again)
            assert kw is not None
            assert result_ids(kw.keyword_query(["cat"], 5)) == ["k2", "k1"]
        finally:
            again.close()
