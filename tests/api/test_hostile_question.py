"""Any ``str`` works as a question (issue #12 case 8): surrogates (bytes that were not UTF-8)
become U+FFFD and NULs go, at the query pipeline's entry, for RAG and AsyncRAG alike."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rag.aio import AsyncRAG
from rag.api import RAG
from rag.costs.calllog import CallLog
from rag.pipelines.query import clean_question
from rag.stores.memory import MemoryStore

HOSTILE = ["marmot \udcff", "marmot\x00 \ud800burrow \udfff", "\x00", "\udcff\udcfe"]


def test_clean_question() -> None:
    assert clean_question("marmot \udcff") == "marmot \ufffd"
    assert clean_question("a\x00b \ud800") == "ab \ufffd"
    assert clean_question("plain [bold] :smile:") == "plain [bold] :smile:"
    assert clean_question(clean_question("x\udcff")) == "x\ufffd"


@pytest.fixture
def rag(tmp_path: Path) -> RAG:
    """The default (real ONNX) embedder, whose tokenizer refused surrogates, on memory."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nThe marmot lives in a burrow.\n")
    r = RAG(store=MemoryStore("hostile"), data_dir=tmp_path / "data")
    assert r.ingest(docs).ok
    return r


@pytest.mark.parametrize("question", HOSTILE)
def test_rag_takes_any_question(rag: RAG, question: str, tmp_path: Path) -> None:
    hits = rag.retrieve(question)
    assert hits and hits[0].chunk.source.endswith("a.md")
    answer = rag.ask(question)
    assert answer.question == clean_question(question)
    assert "\x00" not in answer.question and "\udcff" not in answer.question
    assert rag.prepare(question).citations
    parts = list(rag.ask_stream(question))
    assert parts[-1].question == clean_question(question)  # type: ignore[union-attr]
    assert [c.question for c in CallLog(tmp_path / "data" / "calls.db").calls()][-1] == (
        clean_question(question)
    )


def test_async_rag_takes_any_question(rag: RAG) -> None:
    from concurrent.futures import ThreadPoolExecutor

    async def run(pool: ThreadPoolExecutor) -> None:
        a = AsyncRAG.wrap(rag, executor=pool)
        answer = await a.ask("marmot \udcff\x00")
        assert answer.question == "marmot \ufffd"
        assert (await a.retrieve("marmot \udcff"))[0].chunk.source.endswith("a.md")

    with ThreadPoolExecutor(2) as pool:
        asyncio.run(run(pool))
