"""Shared parts of the roots tests (``test_ingest_roots*.py``): a store of every kind, the
pipelines (one that refuses to embed), a tree of files, and a store-independent snapshot
to compare with a clean ingest."""

from __future__ import annotations

import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.chunking import TokenChunker
from rag.keywords import KeywordTokenizer
from rag.pipelines.ingest import IngestParts, IngestPipeline
from rag.pipelines.ingest_estimate import IngestEstimate, estimate_ingest
from rag.stores.base import Store, keyword_search
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder
from rag.types import Chunk

EMBEDDER = FakeEmbedder()
CHUNKER = TokenChunker(EMBEDDER.tokenizer, 40, 8)
TOKENIZER = KeywordTokenizer()


STORES = ["memory", "chroma", "pgvector", "qdrant"]


def open_store(kind: str, request: pytest.FixtureRequest) -> Store:
    """A new, empty store of ``kind``: memory, Chroma and Qdrant in a temp dir (outside the
    walked folders), pgvector on the session's server."""
    if kind == "memory":
        return MemoryStore("docs")
    paths = request.getfixturevalue("tmp_path_factory")
    if kind == "chroma":
        from rag.stores.chroma import ChromaStore

        return ChromaStore("docs", path=paths.mktemp("chroma"))
    if kind == "qdrant":
        from rag.stores.qdrant import QdrantStore

        return QdrantStore("docs", path=paths.mktemp("qdrant"))
    from rag.stores.pgvector import PgVectorStore

    return PgVectorStore(request.getfixturevalue("pg_dsn"), f"roots_{uuid.uuid4().hex[:8]}")


def pipeline(store: Store, embedder: FakeEmbedder | None = None) -> IngestPipeline:
    return IngestPipeline(store, embedder or FakeEmbedder(), CHUNKER, keyword_tokenizer=TOKENIZER)


def plan(store: Store, root: Path, **kw: object) -> IngestEstimate:
    """The dry-run plan of ingesting ``root`` into ``store`` with the tests' chunker and fake
    embedder (nothing written); ``kw`` adds to or overrides those (a hosted embedder, its
    prices)."""
    options: dict[str, object] = {
        "chunker": CHUNKER,
        "tokenizer": EMBEDDER.tokenizer,
        "embedder_key": "fake",
        "embedder_label": "fake",
        "hosted": False,
    }
    return estimate_ingest(store, root, **(options | kw))  # type: ignore[arg-type]


def _refuse() -> FakeEmbedder:
    raise AssertionError("the embedder was built: something was embedded again")


def without_embedding(store: Store) -> IngestPipeline:
    """A pipeline that fails if it needs the embedder at all."""
    parts = IngestParts(_refuse, lambda: CHUNKER, lambda: TOKENIZER)
    return IngestPipeline.from_parts(store, parts)


def write_tree(root: Path) -> None:
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "a.md").write_text("# Marmots\n\nThe marmot whistles.\n\n## Burrows\n\nDeep ones.\n")
    (root / "docs" / "b.md").write_text("# Voles\n\nThe vole eats grass. " * 12)
    (root / "docs" / "deep" / "c.txt").write_text("Shrews are small. " * 40)
    (root / "docs" / "notes.txt").write_text("Hedgehogs roll up when scared.\n")


def all_chunks(store: Store) -> list[Chunk]:
    if store.count() == 0:
        return []
    [probe] = EMBEDDER.embed(["marmot vole shrew hedgehog"], input_type="query")
    return [h.chunk for h in store.query(probe, 10_000)]


def snapshot(store: Store) -> dict[str, Any]:
    """Everything that must match a clean ingest, store-independent: the manifest (but the
    time), every chunk with its root and place, each source's vectors, the keyword rows."""
    chunks = {c.id: c.model_dump(mode="json") for c in all_chunks(store)}
    manifest = {s: replace(r, updated_at=0.0) for s, r in store.sources().items()}
    by_source: dict[str, set[str]] = {}
    for c in chunks.values():
        by_source.setdefault(c["source"], set()).add(c["id"])
    assert by_source == {s: store.ids_for_source(s) for s in manifest}, "chunks without entry"
    vectors = {}
    for source in manifest:
        hashes = sorted({c["content_hash"] for c in chunks.values() if c["source"] == source})
        got = store.stored_vectors(source, hashes)
        vectors.update({(source, h): Close(v) for h, v in got.items()})
    kw = keyword_search(store)
    assert kw is not None and kw.keyword_count() == store.count() == len(chunks)
    assert kw.keyword_ids(sorted(chunks)) == set(chunks)
    hits = kw.keyword_query(TOKENIZER.tokenize("vole grass"), 100)
    keyword = sorted((h.chunk.id, h.chunk.root, h.chunk.rel_path) for h in hits)
    return {"manifest": manifest, "chunks": chunks, "vectors": vectors, "keyword": keyword}


class Close:
    """A vector that equals another within float32 rounding (stores normalise it again)."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Close) and np.allclose(self.vector, other.vector, atol=1e-5)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Close({np.round(self.vector, 4).tolist()})"


def clean(root: Path) -> dict[str, Any]:
    """The snapshot of a clean ingest of ``root`` into a new store."""
    fresh = MemoryStore("docs")
    report = pipeline(fresh).run(root)
    assert report.ok
    return snapshot(fresh)


def folder_c(tmp_path: Path) -> Path:
    """``<tmp>/work/c`` holding ``write_tree``'s files."""
    root = tmp_path / "work" / "c"
    write_tree(root)
    return root


def rel_paths(store: Store) -> dict[str, tuple[str, str]]:
    return {s: (r.root, r.rel_path) for s, r in store.sources().items()}


def all_chunks_of(root: Path) -> list[Chunk]:
    fresh = MemoryStore("x")
    pipeline(fresh).run(root)
    return all_chunks(fresh)
