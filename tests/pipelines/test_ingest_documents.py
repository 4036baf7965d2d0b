"""``RAG.ingest_documents`` and ``rag.pipelines.ingest_documents``: rag Documents get the ids
``rag ingest`` gives, the metadata round-trips exactly, and the async twin."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rag import RAG, AsyncRAG
from rag.chunking import SPAN_KEY, TokenChunker
from rag.config import load_settings
from rag.connectors import default_loaders
from rag.pipelines.ingest_documents import (
    METADATA_KEY,
    SourceChunker,
    stored_metadata,
    to_document,
    user_metadata,
)
from rag.testing import FakeEmbedder, WhitespaceTokenizer
from rag.types import Chunk, Document


def memory_rag() -> RAG:
    return RAG(
        load_settings(store="memory", chunk_tokens=40, chunk_overlap=0), embedder=FakeEmbedder()
    )


CODE = """def install(widget):
    \"\"\"Install the widget with the wrench. It takes ten minutes.\"\"\"
    return widget.fit(wrench=True)


def care(widget):
    \"\"\"Clean the widget with a dry cloth. Oil it once a month. Keep it dry.\"\"\"
    widget.clean()
    widget.oil()
"""


def test_rag_documents_get_the_ids_rag_ingest_gives(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    path = tmp_path / "docs" / "widget.py"
    path.write_text(CODE)
    source = str(path.resolve())
    by_file = memory_rag()
    by_file.ingest(tmp_path / "docs")
    loaded = default_loaders().load_file(path, path.read_bytes())
    assert all(d.metadata for d in loaded)  # the loader's own metadata (language)
    by_docs = memory_rag()
    report = by_docs.ingest_documents(loaded, source=source)
    assert report.files_new == 1
    assert by_docs.store.ids_for_source(source) == by_file.store.ids_for_source(source)
    # and a later `rag ingest` of the file finds every chunk stored: nothing embedded
    again = by_docs.ingest(tmp_path / "docs")
    assert (again.files_changed, again.chunks_embedded, again.chunks_deleted) == (1, 0, 0)


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"a": 1, "b": "x", "c": 1.5, "d": False},
        {"tags": ["x", 1], "nested": {"k": None}, "none": None},
        {"lang": "fr"},
        {"_rag_id": "x", "_rag_metadata": "y"},
        {"flag": True, "one": 1, "float_one": 1.0},
        {"text": "Hangul 한국어 and a NUL \x00 inside"},
    ],
)
def test_metadata_round_trips_exactly(metadata: dict[str, Any]) -> None:
    stored = stored_metadata(metadata)
    with_lang = {"lang": "en", **stored}  # what the chunker adds
    back = user_metadata(with_lang)
    assert back == metadata
    assert [type(v) for v in back.values()] == [type(v) for v in metadata.values()]


def test_the_span_leaves_the_ids_of_documents_with_metadata_as_they_were() -> None:
    """A document ingested with metadata folds that metadata into its chunk ids; the span the
    chunker records beside it says where a chunk sits, not what it holds, so ids stay as
    they were before spans were recorded (a re-ingest duplicates nothing) and show no
    reserved key as user metadata."""
    doc = Document(source="/docs/a.md", text="One sentence here.", metadata={"year": 2020})
    chunker = TokenChunker(WhitespaceTokenizer(), 50, 5)
    (chunk,) = SourceChunker(chunker, {"/docs/a.md"}).chunk([doc])
    assert SPAN_KEY in chunk.metadata and user_metadata(chunk.metadata) == {"year": 2020}

    class Unplaced:  # a chunker as it was before spans
        def chunk(self, documents: list[Document]) -> list[Chunk]:
            return [
                c.model_copy(update={"metadata": {"lang": "en", "year": 2020}})
                for c in chunker.chunk(documents)
            ]

    (before,) = SourceChunker(Unplaced(), {"/docs/a.md"}).chunk([doc])  # type: ignore[arg-type]
    assert before.id == chunk.id


def test_plain_metadata_is_stored_as_is() -> None:
    assert stored_metadata({"year": 2020, "title": "x"}) == {"year": 2020, "title": "x"}
    assert METADATA_KEY in stored_metadata({"tags": ["a"]})


class _LlamaLike:
    def __init__(self, text: str, metadata: dict[str, Any]) -> None:
        self.text = text
        self.metadata = metadata
        self.id_ = "random-per-load"


def test_sources_by_duck_typing() -> None:
    assert to_document(_LlamaLike("t", {"file_path": "/a/b.txt"})).source == "/a/b.txt"
    assert to_document(_LlamaLike("t", {"file_name": "b.txt"})).source == "b.txt"
    assert to_document(_LlamaLike("t", {"source": "s", "file_path": "p"})).source == "s"
    assert to_document(_LlamaLike("t", {"source": "s"}), source="given").source == "given"
    one, two = to_document(_LlamaLike("t", {})), to_document(_LlamaLike("t", {}))
    assert one.source == two.source and one.source.startswith("document:")
    assert to_document(Document(source="/x", text="t")).source == "/x"
    # a given source is sanitised like every stored string (#12): no NUL, no lone surrogate
    assert to_document(_LlamaLike("t", {"source": "a\x00b\udfff"})).source == "ab\ufffd"
    with pytest.raises(TypeError, match="LangChain Documents"):
        to_document(object())


def test_async_ingest_documents_is_incremental() -> None:
    async def main() -> tuple[int, int]:
        async with AsyncRAG(load_settings(store="memory"), embedder=FakeEmbedder()) as r:
            docs = [_LlamaLike("alpha beta", {"source": "a"}), _LlamaLike("gamma", {})]
            first = await r.ingest_documents(docs)
            again = await r.ingest_documents(docs)
            return first.chunks_embedded, again.chunks_embedded

    assert asyncio.run(main()) == (2, 0)
