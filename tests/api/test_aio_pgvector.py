"""``AsyncRAG`` over pgvector (the session's real PostgreSQL): retrieval awaits the store's
async twin (``AsyncPgVectorQueries`` on ``psycopg_pool.AsyncConnectionPool``) and answers the
same hits as ``RAG`` in every mode, with filters; the executor never runs a store query; 16
concurrent retrieves keep their own hits; ``aclose`` closes the async pool."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
import pytest
from topic_corpus import TOPICS, topic, write_corpus

from rag.aio import AsyncRAG
from rag.api import RAG
from rag.chunking import TokenChunker
from rag.errors import CollectionNotFoundError
from rag.pipelines.hybrid import HybridRetriever
from rag.pipelines.hybrid_async import AsyncHybridRetriever, async_retriever
from rag.pipelines.rerank import RerankingRetriever
from rag.stores.pgvector import PgVectorStore
from rag.stores.pgvector_async import APPLICATION_NAME, AsyncPgVectorQueries
from rag.testing import FakeEmbedder, FakeReranker, ScriptedLLM, echo_question
from rag.types import Retrieval

pytestmark = [pytest.mark.integration, pytest.mark.filterwarnings("error")]

MODES = ["dense", "keyword", "hybrid"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, pg_dsn: str) -> Iterator[tuple[str, Path]]:
    """One pgvector collection ingested once (by the sync RAG): its name and the docs dir."""
    root = tmp_path_factory.mktemp("aio-pg")
    write_corpus(root / "docs")
    name = f"aio-{uuid.uuid4().hex[:10]}"
    with RAG(**settings(pg_dsn, name, root, "hybrid")) as r:
        assert r.ingest(root / "docs").chunks_written > 0
    yield name, root / "docs"
    with PgVectorStore(pg_dsn, name) as s:
        s.drop()


def settings(dsn: str, collection: str, root: Path, mode: str) -> dict[str, Any]:
    embedder = FakeEmbedder(dimension=64)
    return {
        "store": PgVectorStore(dsn, collection),
        "embedder": embedder,
        "llm": ScriptedLLM(reply=echo_question),
        "chunker": TokenChunker(embedder.tokenizer, 60, 10),
        "data_dir": root / "data",
        "top_k": 3,
        "retrieval_mode": mode,
        "answer_mode": "generative",
    }


def hits_of(r: Retrieval) -> list[tuple[str, float]]:
    return [(h.chunk.id, h.score) for h in r]


def same(got: Retrieval, want: Retrieval) -> None:
    """Same ids in the same order, scores within 1e-6, same leg ranks."""
    assert [h.chunk.id for h in got] == [h.chunk.id for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-6)
    assert [(r.dense_rank, r.keyword_rank) for r in got.ranks] == [
        (r.dense_rank, r.keyword_rank) for r in want.ranks
    ]
    assert got.mode == want.mode


class Counting:
    """Counts the sync store's query calls (the async path must make none)."""

    def __init__(self, store: PgVectorStore) -> None:
        self.calls: list[str] = []
        for name in ("query", "keyword_query"):
            real = getattr(store, name)

            def counted(*args: Any, _real: Any = real, _name: str = name, **kw: Any) -> Any:
                self.calls.append(f"{_name} on {threading.current_thread().name}")
                return _real(*args, **kw)

            setattr(store, name, counted)


def app_connections(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (APPLICATION_NAME,),
        ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.parametrize("mode", MODES)
def test_same_hits_as_rag(mode: str, corpus: tuple[str, Path], pg_dsn: str, tmp_path: Path) -> None:
    """AsyncRAG.retrieve (and the prompt of prepare) over pgvector equal RAG's, with and
    without filters, and its ask answers from the same sources."""
    name, docs = corpus
    sync = RAG(**settings(pg_dsn, name, tmp_path / "s", mode))
    source = sorted(str(p.absolute()) for p in (docs / "t03").iterdir())[0]
    cases: list[tuple[str, dict[str, Any] | None]] = [
        (f"What about {topic(3)}?", None),
        (f"What about {topic(3)} and {topic(5)}?", None),
        (f"What about {topic(3)} and {topic(5)}?", {"source": source}),
        (f"{topic(7)} w7x1y2", {"source": {"$ne": source}}),
    ]

    async def main() -> None:
        async with AsyncRAG(**settings(pg_dsn, name, tmp_path / "a", mode)) as r:
            for question, filters in cases:
                for k in (None, 1, 5):
                    got = await r.retrieve(question, k=k, filters=filters)
                    same(got, sync.retrieve(question, k=k, filters=filters))
            history = [("user", f"Tell me about {topic(6)}"), ("assistant", "It matters.")]
            for question, filters in cases[:3]:  # follow-ups: the previous question's context
                got = await r.retrieve("And w6x0y1?", k=3, filters=filters, history=history)
                want = sync.retrieve("And w6x0y1?", k=3, filters=filters, history=history)
                same(got, want)
                assert (got.context_terms, got.dense_query) == (
                    want.context_terms,
                    want.dense_query,
                )
                prompt = await r.prepare(question, filters=filters, history=history)
                assert prompt.text == sync.prepare(question, filters=filters, history=history).text
            question, filters = cases[2]
            prepared = await r.prepare(question, filters=filters)
            assert prepared.text == sync.prepare(question, filters=filters).text
            answer = await r.ask(question, filters=filters)
            assert [c.source for c in answer.citations] == [
                c.source for c in sync.ask(question, filters=filters).citations
            ]
            assert isinstance(r._aretriever, AsyncHybridRetriever)

    asyncio.run(main())
    sync.close()


def test_store_queries_run_on_the_async_pool(
    corpus: tuple[str, Path], pg_dsn: str, tmp_path: Path
) -> None:
    """No store query runs on the sync store (so none in the executor): the twin's
    AsyncConnectionPool answers them, and 16 concurrent retrieves all get their topic's hits."""
    from psycopg_pool import AsyncConnectionPool

    name, _ = corpus
    async_parts = settings(pg_dsn, name, tmp_path / "a", "hybrid")
    counting = Counting(async_parts["store"])

    async def main() -> list[Retrieval]:
        async with AsyncRAG(**async_parts) as r:
            found = await asyncio.gather(
                *(r.retrieve(f"What about {topic(i)}?", k=2) for i in range(TOPICS))
            )
            twin = r._aretriever
            assert isinstance(twin, AsyncHybridRetriever)
            assert isinstance(twin.store, AsyncPgVectorQueries)
            assert isinstance(twin.store._pool, AsyncConnectionPool)
            assert app_connections(pg_dsn) >= 1
            return list(found)

    found = asyncio.run(main())
    assert counting.calls == []
    for i, hits in enumerate(found):
        assert len(hits) == 2
        assert {Path(h.chunk.source).parent.name for h in hits} == {f"t{i:02d}"}, hits_of(hits)


def test_async_retrieval_is_timed(corpus: tuple[str, Path], pg_dsn: str, tmp_path: Path) -> None:
    """A retrieval on the store's async queries carries its seconds, which an ask given it
    (or the prompt packed from it) reports as the answer's retrieval time."""
    name, _ = corpus

    async def main() -> None:
        async with AsyncRAG(**settings(pg_dsn, name, tmp_path, "hybrid")) as r:
            question = f"What about {topic(4)}?"
            found = await r.retrieve(question, history=[("user", f"And {topic(2)}?")])
            assert isinstance(r._aretriever, AsyncHybridRetriever)
            assert found.seconds > 0 and found.dense_query is not None
            found = await r.retrieve(question)
            assert found.seconds > 0
            assert (await r.ask(question, retrieval=found)).retrieval_latency_s == found.seconds
            prepared = await r.prepare(question)
            assert prepared.retrieval_seconds > 0
            answer = await r.ask(question, prepared=prepared)
            assert answer.retrieval_latency_s == prepared.retrieval_seconds
            assert (await r.ask(question)).retrieval_latency_s > 0

    asyncio.run(main())


@pytest.mark.parametrize("mode", MODES)
def test_empty_collection_says_so_like_rag(mode: str, pg_dsn: str, tmp_path: Path) -> None:
    """Over a collection never ingested, AsyncRAG raises what RAG raises (the explanation of
    an empty result runs on the sync store, in the executor)."""
    name = f"empty-{uuid.uuid4().hex[:8]}"
    with (
        RAG(**settings(pg_dsn, name, tmp_path / "s", mode)) as sync,
        pytest.raises(CollectionNotFoundError) as want,
    ):
        sync.retrieve(f"What about {topic(2)}?")

    async def main() -> None:
        async with AsyncRAG(**settings(pg_dsn, name, tmp_path / "a", mode)) as r:
            with pytest.raises(CollectionNotFoundError) as got:
                await r.retrieve(f"What about {topic(2)}?")
            assert str(got.value) == str(want.value)
            assert isinstance(r._aretriever, AsyncHybridRetriever)

    asyncio.run(main())


def test_aclose_closes_the_async_pool(
    corpus: tuple[str, Path], pg_dsn: str, tmp_path: Path
) -> None:
    """aclose closes the twin's pool (no warning: warnings are errors here) and its
    connections leave the server."""
    name, _ = corpus

    async def main() -> Any:
        r = AsyncRAG(**settings(pg_dsn, name, tmp_path / "a", "hybrid"))
        await r.retrieve(f"What about {topic(1)}?")
        assert r._aretriever is not None
        pool = r._aretriever.store._pool  # type: ignore[attr-defined]
        assert pool is not None and not pool.closed
        await r.aclose()
        assert pool.closed
        with pytest.raises(RuntimeError, match="closed"):
            await r.retrieve("again?")
        return pool

    asyncio.run(main())
    for _ in range(50):
        if app_connections(pg_dsn) == 0:
            break
        time.sleep(0.05)
    assert app_connections(pg_dsn) == 0


def test_a_light_wrapper_opens_no_pool(
    corpus: tuple[str, Path], pg_dsn: str, tmp_path: Path
) -> None:
    """An AsyncRAG made without ``__init__`` over a RAG it does not own (the shape of a
    per-request wrapper in ``rag serve``) retrieves in the executor and opens no async pool,
    which it could not close."""
    from concurrent.futures import ThreadPoolExecutor

    name, _ = corpus
    before = app_connections(pg_dsn)  # others' closed pools may still be leaving
    with (
        RAG(**settings(pg_dsn, name, tmp_path / "s", "hybrid")) as sync,
        ThreadPoolExecutor(2) as executor,
    ):
        wrapper = AsyncRAG.__new__(AsyncRAG)
        wrapper.rag, wrapper.settings, wrapper.executor = sync, sync.settings, executor
        wrapper._views, wrapper._closed = {}, False
        question = f"What about {topic(8)}?"
        got = asyncio.run(wrapper.retrieve(question))
        assert wrapper._aretriever is None
        same(got, sync.retrieve(question))
        assert app_connections(pg_dsn) <= before


def test_reranking_retriever_twin(corpus: tuple[str, Path], pg_dsn: str) -> None:
    """Behind a reranker the twin retrieves the candidates itself and reranks them in the
    executor: the same result as RerankingRetriever.retrieve."""
    from concurrent.futures import ThreadPoolExecutor

    from rag.keywords import KeywordTokenizer

    name, _ = corpus
    store = PgVectorStore(pg_dsn, name)
    embedder = FakeEmbedder(dimension=64)
    hybrid = HybridRetriever(store, embedder, store, KeywordTokenizer(), top_k=2)
    reranking = RerankingRetriever(hybrid, FakeReranker(), candidates=6, top_k=2)
    question = f"What about {topic(4)} and {topic(9)} matters?"

    async def main(executor: ThreadPoolExecutor) -> Sequence[Retrieval]:
        twin = async_retriever(reranking, executor)
        assert twin is not None and twin.reranking is reranking
        try:
            return [await twin.retrieve(question, k=k) for k in (None, 3)]
        finally:
            await twin.aclose()

    with ThreadPoolExecutor(2) as executor:
        got = asyncio.run(main(executor))
    same(got[0], reranking.retrieve(question))
    same(got[1], reranking.retrieve(question, k=3))
    hybrid.close()
    store.close()
