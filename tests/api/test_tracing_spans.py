"""OpenTelemetry spans of ask and ingest (``rag.tracing``), with the real SDK and its in-memory
exporter: the span tree of every stage, its attributes, the same tree from ``AsyncRAG``, a
bounded span count on ingest, and no secret or user text in any attribute unless
``trace_content`` is on."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from topic_corpus import topic, write_corpus

from rag import tracing
from rag.aio import AsyncRAG
from rag.api import RAG
from rag.chunking import TokenChunker
from rag.errors import LLMError
from rag.pipelines.hybrid import HybridRetriever
from rag.pipelines.ingest import IngestPipeline
from rag.pipelines.rerank import RerankingRetriever
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, FakeReranker, ScriptedLLM, echo_question

PASSWORD = "pw-Zq81xK"
API_KEY = "sk-test-9f8e7d6c5b4a"
QUESTION_WORD = "Quokkaquestion"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Spans of the real SDK, kept in memory; tracing off again after the test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.enable(provider)
    yield exporter
    tracing.disable()
    provider.shutdown()


def parts(tmp_path: Path, **more: Any) -> dict[str, Any]:
    embedder = FakeEmbedder(dimension=256)
    return {
        "store": MemoryStore("traced"),
        "embedder": embedder,
        "llm": ScriptedLLM(reply=echo_question, cost_per_call=Decimal("0.0125")),
        "chunker": TokenChunker(embedder.tokenizer, 60, 10),
        "data_dir": tmp_path / "data",
        "collection": "traced",
        "top_k": 2,
        "answer_mode": "generative",
        "tracing": True,
        **more,
    }


class RerankedRAG(RAG):
    """A RAG whose retriever reranks with ``FakeReranker`` (no cross-encoder model needed)."""

    def _build_retriever(self) -> HybridRetriever | RerankingRetriever:
        inner = super()._build_retriever()
        return RerankingRetriever(inner, FakeReranker(), candidates=6, top_k=2)


def by_id(finished: Sequence[ReadableSpan]) -> dict[int, ReadableSpan]:
    return {s.context.span_id: s for s in finished}


def paths(finished: Sequence[ReadableSpan]) -> set[str]:
    """Every span as the path of names from its root: ``ask/retrieve/dense``."""
    ids = by_id(finished)

    def path(s: ReadableSpan) -> str:
        parent = ids.get(s.parent.span_id) if s.parent is not None else None
        return s.name if parent is None else f"{path(parent)}/{s.name}"

    return {path(s) for s in finished}


def children(finished: Sequence[ReadableSpan], parent: ReadableSpan) -> list[ReadableSpan]:
    """The spans under ``parent``, in the order they started."""
    kids = [
        s for s in finished if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]
    return sorted(kids, key=lambda s: s.start_time or 0)


def one(finished: Sequence[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in finished if s.name == name]
    assert len(found) == 1, [s.name for s in finished]
    return found[0]


def attrs(s: ReadableSpan) -> dict[str, Any]:
    return dict(s.attributes or {})


ASK_PATHS = {
    "ask",
    "ask/retrieve",
    "ask/retrieve/dense",
    "ask/retrieve/dense/embed",
    "ask/retrieve/keyword",
    "ask/retrieve/rerank",
    "ask/prepare",
    "ask/generate",
    "ask/check",
}


def test_ask_span_tree_and_attributes(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    """``ask > retrieve (dense > embed, keyword, rerank) > prepare > generate > check``: one
    trace, stages in order, with the collection, counts, tokens, cost and model."""
    docs = tmp_path / "docs"
    write_corpus(docs)
    r = RerankedRAG(**parts(tmp_path))
    r.ingest(docs)
    spans.clear()
    answer = r.ask(f"What about {topic(3)}?")
    finished = spans.get_finished_spans()
    assert paths(finished) == ASK_PATHS
    assert len({s.context.trace_id for s in finished}) == 1
    ask = one(finished, "ask")
    assert [s.name for s in children(finished, ask)] == ["retrieve", "prepare", "generate", "check"]
    a = attrs(ask)
    assert a["rag.collection"] == "traced"
    assert a["rag.citations"] == len(answer.citations)
    assert a["gen_ai.usage.input_tokens"] == answer.usage.input_tokens > 0
    assert a["gen_ai.usage.output_tokens"] == answer.usage.output_tokens > 0
    assert a["rag.cost_usd"] == pytest.approx(0.0125)
    assert a["rag.model"] == "fake:scripted"
    g = attrs(one(finished, "generate"))
    assert g["gen_ai.request.model"] == "scripted"
    assert g["gen_ai.provider.name"] == "fake"
    assert g["gen_ai.usage.input_tokens"] == answer.usage.input_tokens
    assert g["rag.cost_usd"] == pytest.approx(0.0125) and g["rag.cost_known"] is True
    retrieve = attrs(one(finished, "retrieve"))
    assert retrieve["rag.mode"] == "hybrid" and retrieve["rag.hits"] == 2
    dense = attrs(one(finished, "dense"))
    assert dense["rag.store"] == "MemoryStore" and dense["rag.hits"] > 0
    assert attrs(one(finished, "keyword"))["rag.terms"] > 0
    rerank = attrs(one(finished, "rerank"))
    assert rerank["rag.k"] == 2 and rerank["rag.hits"] == 2
    prepare = attrs(one(finished, "prepare"))
    assert prepare["rag.sources"] == len(answer.citations)
    assert prepare["rag.context_tokens"] > 0
    r.close()


def test_stream_and_async_give_the_same_spans(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    """``RAG.ask_stream``, ``AsyncRAG.ask`` and ``AsyncRAG.ask_stream`` (its executor and the
    keyword leg's threads) produce the tree ``RAG.ask`` does, with the same attribute names."""
    docs = tmp_path / "docs"
    write_corpus(docs)
    q = f"What about {topic(2)}?"
    sync = RAG(**parts(tmp_path / "s"))
    sync.ingest(docs)
    spans.clear()
    sync.ask(q)
    reference = spans.get_finished_spans()
    want = paths(reference) - {"ask/retrieve/rerank"}
    assert want == ASK_PATHS - {"ask/retrieve/rerank"}
    names = {s.name: set(attrs(s)) for s in reference}

    spans.clear()
    pieces = list(sync.ask_stream(q))
    assert isinstance(pieces[-1], object)
    assert paths(spans.get_finished_spans()) == want

    async def main() -> None:
        async with AsyncRAG(**parts(tmp_path / "a")) as r:
            await r.ingest(docs)
            spans.clear()
            await r.ask(q)
            got["ask"] = spans.get_finished_spans()
            spans.clear()
            async for _ in r.ask_stream(q):
                pass
            got["stream"] = spans.get_finished_spans()

    got: dict[str, Sequence[ReadableSpan]] = {}
    asyncio.run(main())
    for how, finished in got.items():
        assert paths(finished) == want, how
        assert len({s.context.trace_id for s in finished}) == 1, how
        assert {s.name: set(attrs(s)) for s in finished} == names, how
    sync.close()


def test_extractive_answer_is_the_generate_stage(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    docs = tmp_path / "docs"
    write_corpus(docs)
    r = RAG(**parts(tmp_path, answer_mode="extractive"))
    r.ingest(docs)
    spans.clear()
    r.ask(f"What about {topic(1)}?")
    finished = spans.get_finished_spans()
    assert [s.name for s in children(finished, one(finished, "ask"))] == [
        "retrieve",
        "prepare",
        "generate",
    ]
    assert attrs(one(finished, "generate"))["rag.answer_mode"] == "extractive"


def test_ingest_span_tree_is_bounded(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    """``ingest > plan, load, chunk, keywords, embed, commit``: 40 small files are one batch,
    so one span per stage (never one per file or chunk); the embedding thread's span is
    under ``ingest``; counts as attributes."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(40):
        (docs / f"f{i:02}.md").write_text(f"# File {i}\n\nmarmot {i} lives in burrow {i}.\n")
    r = RAG(**parts(tmp_path))
    report = r.ingest(docs)
    finished = spans.get_finished_spans()
    stages = ["plan", "load", "chunk", "keywords", "embed", "commit"]
    assert paths(finished) == {"ingest", *(f"ingest/{s}" for s in stages)}
    assert sorted(s.name for s in finished) == sorted(["ingest", *stages])
    ingest = attrs(one(finished, "ingest"))
    assert ingest["rag.collection"] == "traced" and ingest["rag.store"] == "MemoryStore"
    assert ingest["rag.files_new"] == 40 == report.files_new
    assert ingest["rag.chunks_written"] == report.chunks_written > 0
    assert attrs(one(finished, "load"))["rag.files"] == 40
    assert attrs(one(finished, "chunk"))["rag.chunks"] == report.chunks_total
    assert attrs(one(finished, "embed"))["rag.texts"] == report.chunks_embedded
    assert attrs(one(finished, "commit"))["rag.files"] == 40
    load, chunk = one(finished, "load"), one(finished, "chunk")
    assert load.end_time == chunk.start_time  # they tile the batch's reading
    # a re-run over the unchanged tree: plan and load, nothing embedded
    spans.clear()
    r.ingest(docs)
    assert sorted(s.name for s in spans.get_finished_spans()) == ["ingest", "load", "plan"]


def test_ingest_of_a_large_file_has_spans_per_window(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    """A file of several windows: load/chunk/embed/commit once per window, then the commit
    that finishes the file."""
    big = tmp_path / "big.md"
    big.write_text("\n\n".join(f"paragraph {i} " + "word " * 50 for i in range(30)))
    embedder = FakeEmbedder(dimension=64)
    chunker = TokenChunker(embedder.tokenizer, 40, 0)
    pipeline = IngestPipeline(MemoryStore("big"), embedder, chunker, window_chunks=10)
    with tracing.scope(True):
        report = pipeline.run(big)
    windows = -(-report.chunks_total // 10)
    assert windows >= 3
    finished = spans.get_finished_spans()
    count = {name: sum(1 for s in finished if s.name == name) for name in {"embed", "commit"}}
    assert count == {"embed": windows, "commit": windows + 1}
    assert paths(finished) <= {"ingest", *(f"ingest/{s}" for s in ("plan", "load", "chunk"))} | {
        "ingest/embed",
        "ingest/commit",
    }


def all_text(finished: Sequence[ReadableSpan]) -> str:
    """Every attribute value, status description and event attribute of every span."""
    out: list[str] = []
    for s in finished:
        out.append(s.name)
        out.extend(f"{k}={v}" for k, v in attrs(s).items())
        out.append(s.status.description or "")
        for event in s.events:
            out.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
        out.extend(f"{k}={v}" for k, v in (s.resource.attributes or {}).items())
    return "\n".join(out)


def secret_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", API_KEY)
    return parts(tmp_path, pg_dsn=f"postgresql://alice:{PASSWORD}@db:5432/rag")


@pytest.mark.parametrize("content", [False, True])
def test_no_secret_or_user_text_in_attributes(
    tmp_path: Path,
    spans: InMemorySpanExporter,
    monkeypatch: pytest.MonkeyPatch,
    content: bool,
) -> None:
    """With ``trace_content`` off no attribute, status or event holds the question, the
    documents' text, the DSN's password or an API key, even when generation fails with a
    message quoting the question; with it on the question and answer are there (the secrets
    never are)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Zebrafishdoc\n\nThe zebrafishdoc regrows its fins.\n")
    question = f"{QUESTION_WORD}: does the zebrafishdoc regrow fins?"
    r = RAG(**secret_settings(tmp_path, monkeypatch), trace_content=content)
    r.ingest(docs)
    r.ask(question)
    list(r.ask_stream(question))
    r.retrieve(question)

    def fail(messages: Any) -> str:
        raise LLMError(f"the model refused {question!r} with key {API_KEY}")

    failing = RAG(**secret_settings(tmp_path / "f", monkeypatch), trace_content=content)
    failing.ingest(docs)
    failing._llm = ScriptedLLM(reply=fail)  # the RAG's own LLM: the error path
    with pytest.raises(LLMError):
        failing.ask(question)
    finished = spans.get_finished_spans()
    text = all_text(finished)
    assert PASSWORD not in text and API_KEY not in text
    assert "zebrafishdoc regrows" not in text.lower()  # document text
    failed = [s for s in finished if s.status.status_code is StatusCode.ERROR]
    assert {s.name for s in failed} == {"ask", "generate"}
    assert all(attrs(s)["error.type"] == "LLMError" for s in failed)
    if content:
        asks = [attrs(s) for s in finished if s.name == "ask"]
        assert all(a["rag.question"] == question for a in asks)
        assert any(QUESTION_WORD in a.get("rag.answer", "") for a in asks)
    else:
        assert QUESTION_WORD not in text
        assert "zebrafishdoc" not in text.lower()


def test_a_rag_with_tracing_off_makes_no_spans(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    """Tracing on in the process (another RAG) does not trace a RAG whose setting is off."""
    docs = tmp_path / "docs"
    write_corpus(docs)
    r = RAG(**parts(tmp_path, tracing=False))
    r.ingest(docs)
    r.ask(f"What about {topic(1)}?")
    assert spans.get_finished_spans() == ()


def test_the_callers_span_is_the_parent(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    """An application's own span (a web request, say) holds rag's ``ask``."""
    from opentelemetry import trace

    docs = tmp_path / "docs"
    write_corpus(docs)
    r = RAG(**parts(tmp_path))
    r.ingest(docs)
    spans.clear()
    tracer = trace.get_tracer("app", tracer_provider=tracing_provider(spans))
    with tracer.start_as_current_span("request"):
        r.ask(f"What about {topic(1)}?")
    finished = spans.get_finished_spans()
    assert "request/ask/retrieve" in paths(finished)


def tracing_provider(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider
