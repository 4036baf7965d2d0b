"""The Store contract suite: every store backend runs these tests.

Subclass ``StoreContract`` in your backend's test module and override the ``store``
fixture so it returns an *empty* store; override ``reopen`` (and ``sibling``) when
the backend persists data::

    from rag.testing.store_contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            s = MyStore("contract", path=tmp_path)
            yield s
            s.close()

        def reopen(self, store):
            store.close()
            return MyStore(store.collection, path=store.path)

Each test's docstring says what to check when it fails. The tests use small
hand-built vectors (dimension ``DIM``), so no embedder is involved, and need only
pytest and numpy: this module never imports a backend.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from rag.errors import CollectionNotFoundError, ConfigError, DimensionMismatchError, StoreError
from rag.stores.base import DuplicatePolicy, Filters, SourceRecord, Store, Vectors
from rag.types import Chunk, Location, MetadataValue

__all__ = ["DIM", "StoreContract", "make_chunk", "unit", "vectors"]

DIM = 8
"""Embedding dimension used by the contract tests."""

_EPS = 1e-4


def make_chunk(
    id: str,
    text: str,
    source: str = "/docs/a.md",
    /,
    *,
    location: Location | None = None,
    **meta: MetadataValue,
) -> Chunk:
    """A chunk with ``content_hash`` computed from ``text``; keyword arguments become metadata
    (``id``, ``text`` and ``source`` are positional, so ``source=...`` is a metadata key)."""
    return Chunk(
        id=id,
        text=text,
        source=source,
        location=location or Location(),
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        metadata=dict(meta),
    )


def unit(i: int, dim: int = DIM) -> Vectors:
    """The i-th basis vector (float32), handy for vectors whose cosine is known exactly."""
    v = np.zeros(dim, dtype=np.float32)
    v[i] = 1.0
    return v


def vectors(*rows: Sequence[float] | Vectors) -> Vectors:
    """Stack rows into the float32 (n, dim) matrix ``Store.write`` takes."""
    return np.asarray([np.asarray(r, dtype=np.float32) for r in rows], dtype=np.float32)


def _ids(results: Sequence[Any]) -> list[str]:
    return [r.chunk.id for r in results]


# Chunks for the filter tests: (chunk, vector). c5 has no metadata at all.
def _filter_corpus() -> list[tuple[Chunk, Vectors]]:
    return [
        (
            make_chunk("c1", "one", "/docs/a.md", lang="en", year=2019, score=0.5, draft=False),
            unit(0),
        ),
        (
            make_chunk("c2", "two", "/docs/a.md", lang="en", year=2020, score=1.5, draft=True),
            unit(1),
        ),
        (make_chunk("c3", "three", "/docs/b.md", lang="ko", year=2021, score=2.5), unit(2)),
        (make_chunk("c4", "four", "/docs/b.md", lang="de", year=2022, score=3.0), unit(3)),
        (make_chunk("c5", "five", "/docs/c.md"), unit(4)),
    ]


FILTER_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("str-eq", {"lang": "en"}, {"c1", "c2"}),
    ("explicit-eq", {"lang": {"$eq": "ko"}}, {"c3"}),
    ("int-eq", {"year": 2021}, {"c3"}),
    ("bool-eq", {"draft": True}, {"c2"}),
    ("list-membership", {"lang": ["ko", "de"]}, {"c3", "c4"}),
    ("explicit-in", {"lang": {"$in": ["ko"]}}, {"c3"}),
    ("empty-list-matches-nothing", {"lang": []}, set()),
    ("str-ne-excludes-missing", {"lang": {"$ne": "en"}}, {"c3", "c4"}),
    ("int-ne-excludes-missing", {"year": {"$ne": 2020}}, {"c1", "c3", "c4"}),
    ("int-gte", {"year": {"$gte": 2020}}, {"c2", "c3", "c4"}),
    ("int-lt", {"year": {"$lt": 2021}}, {"c1", "c2"}),
    ("int-range", {"year": {"$gt": 2020, "$lte": 2022}}, {"c3", "c4"}),
    ("float-range", {"score": {"$gte": 1.5, "$lt": 3.0}}, {"c2", "c3"}),
    ("float-gt", {"score": {"$gt": 0.75}}, {"c2", "c3", "c4"}),
    ("float-field-int-bound", {"score": {"$gte": 2}}, {"c3", "c4"}),
    ("two-fields", {"lang": "en", "year": {"$gte": 2020}}, {"c2"}),
    ("source-eq", {"source": "/docs/b.md"}, {"c3", "c4"}),
    ("source-in", {"source": ["/docs/a.md", "/docs/c.md"]}, {"c1", "c2", "c5"}),
    ("source-and-meta", {"source": "/docs/a.md", "lang": "en", "draft": False}, {"c1"}),
    ("no-match", {"lang": "fr"}, set()),
    ("missing-field", {"nonexistent": "x"}, set()),
]


class StoreContract:
    """Base class of the contract tests. Override ``store``; override ``reopen``/``sibling``
    for persistent backends, or set ``persistent = False`` to skip those tests."""

    persistent: ClassVar[bool] = True
    """False for stores that keep nothing after ``close`` (the in-memory store)."""

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """An empty store. Subclasses must override this fixture."""
        raise NotImplementedError("override the `store` fixture in your StoreContract subclass")
        yield  # pragma: no cover

    def reopen(self, store: Store) -> Store:
        """Close ``store`` and return a new instance on the same backing data."""
        raise NotImplementedError("override `reopen` or set `persistent = False`")

    def sibling(self, store: Store, collection: str) -> Store:
        """A store on the same backend (same path/database) but another collection."""
        raise NotImplementedError("override `sibling` or set `persistent = False`")

    # -- helpers -------------------------------------------------------------------

    def _write_filter_corpus(self, store: Store) -> None:
        corpus = _filter_corpus()
        store.write([c for c, _ in corpus], vectors(*[v for _, v in corpus]))

    # -- basics --------------------------------------------------------------------

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

    # -- query ---------------------------------------------------------------------

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
        assert _ids(results) == ["same", "diag", "orth", "opposite"]
        expected = [1.0, 1 / math.sqrt(2), 0.0, -1.0]
        for r, want in zip(results, expected, strict=True):
            assert r.score == pytest.approx(want, abs=1e-3)
            assert -1 - _EPS <= r.score <= 1 + _EPS
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
        assert _ids(top) == ["long"]
        assert top[0].score == pytest.approx(1.0, abs=1e-3)
        top = store.query(unit(1) * 1000.0, k=1)
        assert _ids(top) == ["short"]
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
        assert _ids(store.query(vectors(unit(1)), k=1)) == ["b"]

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

    # -- duplicates ----------------------------------------------------------------

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

    # -- ids and deletion ----------------------------------------------------------

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
        assert "a" not in _ids(store.query(unit(0), k=3))

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

    # -- manifest ------------------------------------------------------------------

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

    # -- filters -------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("filters", "expected"),
        [(f, e) for _, f, e in FILTER_CASES],
        ids=[name for name, _, _ in FILTER_CASES],
    )
    def test_filters(self, store: Store, filters: Filters, expected: set[str]) -> None:
        """``query`` and ``count`` apply the filter grammar of ``rag.stores.base`` exactly like
        ``rag.stores.base.matches`` (the reference semantics).

        If this fails, compare your translation with ``matches``: a missing field never
        matches (not even ``$ne``), a list means membership, an empty list matches nothing,
        several operators on one field all apply, ``source`` is the chunk's source (not a
        metadata key), and numeric ranges compare ints and floats by value.
        """
        self._write_filter_corpus(store)
        results = store.query(unit(0), k=10, filters=filters)
        assert set(_ids(results)) == expected
        assert store.count(filters) == len(expected)

    def test_filtered_query_still_ranks(self, store: Store) -> None:
        """Filters restrict the candidates; the order is still by similarity."""
        self._write_filter_corpus(store)
        query = unit(3) + 0.5 * unit(2)
        results = store.query(query, k=1, filters={"source": "/docs/b.md"})
        assert _ids(results) == ["c4"]
        results = store.query(query, k=5, filters={"lang": ["ko", "de", "en"]})
        assert _ids(results)[:2] == ["c4", "c3"]

    @pytest.mark.parametrize(
        "filters",
        [
            {"a'; drop table x; --": 1},
            {"lang": {"$regex": ".*"}},
            {"$or": [{"lang": "en"}]},
        ],
        ids=["injection-field", "unknown-operator", "top-level-operator"],
    )
    def test_invalid_filters_raise_config_error(self, store: Store, filters: Filters) -> None:
        """A malformed filter raises ConfigError and changes nothing.

        If this fails, call ``rag.stores.base.validate_filters`` first in ``query`` and
        ``count``; never splice a field name into SQL or a backend query unchecked.
        """
        self._write_filter_corpus(store)
        with pytest.raises(ConfigError):
            store.query(unit(0), k=3, filters=filters)
        with pytest.raises(ConfigError):
            store.count(filters)
        assert store.count() == 5
        assert len(store.query(unit(0), k=10)) == 5

    # -- dimension -----------------------------------------------------------------

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

    def test_dimension_mismatch_on_query(self, store: Store) -> None:
        """A query vector of another dimension raises DimensionMismatchError (not a crash,
        not an empty result), naming the collection and both dimensions."""
        store.write([make_chunk("a", "alpha")], vectors(unit(0)))
        with pytest.raises(DimensionMismatchError) as info:
            store.query(unit(0, 16), k=1)
        message = str(info.value)
        assert store.collection in message
        assert str(DIM) in message and "16" in message

    # -- round trips ---------------------------------------------------------------

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

    def test_concurrent_writers(self, store: Store) -> None:
        """Four threads write to one store at once (their own chunks plus a shared id set,
        each inside ``transaction()``): no error, every chunk stored once, every manifest entry.

        If this fails, guard shared client state with a lock, or give each thread its own
        connection (a pool), and make overwrites of the same id idempotent.
        """
        import threading

        errors: list[BaseException] = []
        barrier = threading.Barrier(4, timeout=60)
        shared = [make_chunk(f"shared-{i}", "shared text", "/docs/shared.md") for i in range(10)]

        def writer(w: int) -> None:
            rng = np.random.default_rng(w)
            try:
                barrier.wait()
                for part in range(3):
                    own = [
                        make_chunk(
                            f"w{w}-{part}-{i}", f"writer {w} part {part} chunk {i}", f"/docs/{w}.md"
                        )
                        for i in range(40)
                    ]
                    with store.transaction():
                        store.write(own, rng.normal(size=(len(own), DIM)).astype(np.float32))
                        store.write(shared, rng.normal(size=(len(shared), DIM)).astype(np.float32))
                        store.set_source(SourceRecord(f"/docs/{w}.md", f"h{part}", 120, 1.0))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not errors, errors
        assert store.count() == 4 * 3 * 40 + len(shared)
        assert len(store.sources()) == 4
        assert all(len(store.ids_for_source(f"/docs/{w}.md")) == 120 for w in range(4))

    # -- persistence ---------------------------------------------------------------

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
