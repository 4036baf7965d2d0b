"""Shared parts of the store contract: hand-built chunks and vectors, and the fixture base."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np
import pytest

from rag.stores.base import Store
from rag.types import Chunk, Location, MetadataValue, Vectors

__all__ = [
    "DIM",
    "FILTER_CASES",
    "SCORE_EPS",
    "StoreFixture",
    "filter_corpus",
    "make_chunk",
    "result_ids",
    "unit",
    "vectors",
]

DIM = 8
"""Embedding dimension used by the contract tests."""

SCORE_EPS = 1e-4


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


def result_ids(results: Sequence[Any]) -> list[str]:
    return [r.chunk.id for r in results]


# Chunks for the filter tests: (chunk, vector). c5 has no metadata at all.
def filter_corpus() -> list[tuple[Chunk, Vectors]]:
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


class StoreFixture:
    """What every contract mixin needs from the backend's test class: override ``store``;
    override ``reopen``/``sibling`` for persistent backends, or set ``persistent = False``."""

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

    def _write_filter_corpus(self, store: Store) -> None:
        corpus = filter_corpus()
        store.write([c for c, _ in corpus], vectors(*[v for _, v in corpus]))
