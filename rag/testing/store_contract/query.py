"""Vector query: cosine order, ``k``, empty collections, dimensions and round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rag.errors import CollectionNotFoundError, DimensionMismatchError
from rag.stores.base import Store
from rag.testing.store_contract._base import (
    DIM,
    SCORE_EPS,
    StoreFixture,
    make_chunk,
    result_ids,
    unit,
    vectors,
)
from rag.types import Location


class QueryTests(StoreFixture):
    """``query``: closest first by cosine, at most ``k``, chunks back exactly as written."""

    def test_query_orders_by_cosine_similarity(self, store: Store) -> None:
        """The exact nearest chunk comes first and ``score`` is the cosine similarity.

        If this fails, check the distance -> score conversion (cosine distance d gives
        score 1 - d; inner product on normalized vectors is the score itself), that the
        index uses the cosine space, and that results are sorted closest first.
        """
        chunks = [make_chunk(x, f"text {x}") for x in ("same", "diag", "orth", "opposite")]
        diag = ((unit(0) + unit(1)) / 2).astype(np.float32)  # cos = 1/sqrt(2) with e0
        store.write(chunks, vectors(unit(0), diag, unit(1), -unit(0)))
        results = store.query(unit(0), k=4)
        assert result_ids(results) == ["same", "diag", "orth", "opposite"]
        expected = [1.0, 1 / math.sqrt(2), 0.0, -1.0]
        for r, want in zip(results, expected, strict=True):
            assert r.score == pytest.approx(want, abs=1e-3)
            assert -1 - SCORE_EPS <= r.score <= 1 + SCORE_EPS
        scores = [r.score for r in results]
        assert scores == sorted(scores, reverse=True)

    def test_vector_length_does_not_matter(self, store: Store) -> None:
        """Vectors are compared by direction only (cosine), whatever their length.

        If this fails, normalize vectors on write and on query, or use a cosine index.
        """
        store.write(
            [make_chunk("long", "long"), make_chunk("short", "short")],
            vectors(unit(0) * 50.0, unit(1) * 0.01),
        )
        top = store.query(unit(0) * 0.001, k=1)
        assert result_ids(top) == ["long"]
        assert top[0].score == pytest.approx(1.0, abs=1e-3)
        top = store.query(unit(1) * 1000.0, k=1)
        assert result_ids(top) == ["short"]
        assert top[0].score == pytest.approx(1.0, abs=1e-3)

    def test_query_respects_k(self, store: Store) -> None:
        """At most ``k`` results; asking for more than stored returns everything.

        If this fails, pass ``k`` as the limit and do not pad or error when fewer exist.
        """
        rng = np.random.default_rng(7)
        store.write(
            [make_chunk(f"id{i}", f"t{i}") for i in range(10)],
            rng.normal(size=(10, DIM)).astype(np.float32),
        )
        assert len(store.query(unit(0), k=3)) == 3
        assert len(store.query(unit(0), k=1)) == 1
        assert len(store.query(unit(0), k=100)) == 10

    def test_query_accepts_row_vector(self, store: Store) -> None:
        """A (1, dim) query matrix is treated like the 1-d vector it holds."""
        store.write([make_chunk("a", "alpha"), make_chunk("b", "beta")], vectors(unit(0), unit(1)))
        assert result_ids(store.query(vectors(unit(1)), k=1)) == ["b"]

    def test_empty_store_query_raises_collection_not_found(self, store: Store) -> None:
        """Querying a store with no chunks raises CollectionNotFoundError naming the collection
        and telling the user to run ``rag ingest PATH`` first.

        If this fails, check for an empty/missing collection before (or after an empty)
        search and raise ``CollectionNotFoundError`` rather than returning ``[]``: the
        ``rag ask`` command turns it into advice.
        """
        with pytest.raises(CollectionNotFoundError) as info:
            store.query(unit(0), k=3)
        assert store.collection in str(info.value)
        assert "rag ingest" in str(info.value)

    def test_query_after_deleting_everything_raises(self, store: Store) -> None:
        """A store whose chunks were all deleted is empty again for ``query``."""
        store.write([make_chunk("a", "alpha")], vectors(unit(0)))
        store.delete_ids(["a"])
        with pytest.raises(CollectionNotFoundError):
            store.query(unit(0), k=1)

    def test_dimension_mismatch_on_query(self, store: Store) -> None:
        """A query vector of another dimension raises DimensionMismatchError (not a crash,
        not an empty result), naming the collection and both dimensions."""
        store.write([make_chunk("a", "alpha")], vectors(unit(0)))
        with pytest.raises(DimensionMismatchError) as info:
            store.query(unit(0, 16), k=1)
        message = str(info.value)
        assert store.collection in message
        assert str(DIM) in message and "16" in message

    def test_location_and_metadata_roundtrip(self, store: Store) -> None:
        """A stored chunk comes back equal to what was written: text (Korean included),
        source, content hash, every location field and every metadata value with its type.

        If this fails on ``heading_path``, the encoding of the heading tuple is not
        reversible (escape the separator, or store JSON/an array); on metadata, check that
        ints stay ints, floats floats and bools bools.
        """
        location = Location(
            page=3,
            start_line=10,
            end_line=24,
            heading_path=("서론", "A > B / C | D", "back\\slash", "tab\tand\x1fsep", ""),
            record="row-7",
        )
        chunk = make_chunk(
            "kor-1",
            "한국어 텍스트입니다. 검색 증강 생성(RAG)은 문서를 찾아 답합니다.\n둘째 줄 — ünïcode ✓",
            "/docs/노트/파일 이름.md",
            location=location,
            title="제목: 테스트",
            year=2024,
            ratio=0.25,
            draft=False,
            empty="",
        )
        plain = make_chunk("plain", "no location at all")
        store.write([chunk, plain], vectors(unit(0), unit(1)))
        (hit,) = store.query(unit(0), k=1)
        assert hit.chunk == chunk
        assert type(hit.chunk.metadata["year"]) is int
        assert type(hit.chunk.metadata["ratio"]) is float
        assert type(hit.chunk.metadata["draft"]) is bool
        (hit,) = store.query(unit(1), k=1)
        assert hit.chunk == plain
        assert hit.chunk.location == Location()

    def test_metadata_keys_named_like_internal_fields(self, store: Store) -> None:
        """Metadata keys such as ``source`` or ``content_hash`` are the user's and round-trip;
        the ``source`` filter still means the chunk's source.

        If this fails, keep your own bookkeeping fields apart from user metadata (a
        separate column, or escape colliding keys).
        """
        chunk = make_chunk(
            "m",
            "meta",
            "/docs/real.md",
            source="frontmatter",
            content_hash="user-value",
            loc_page=9,
        )
        store.write([chunk], vectors(unit(0)))
        (hit,) = store.query(unit(0), k=1)
        assert hit.chunk == chunk
        assert store.count({"source": "/docs/real.md"}) == 1
        assert store.count({"source": "frontmatter"}) == 0
