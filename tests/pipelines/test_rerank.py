"""RerankingRetriever: candidates from the inner retriever, reordered by the reranker, cut to
k, leg ranks kept; wired into RAG by the ``reranker_path`` setting (off by default)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from rag import RAG
from rag.chunking import TokenChunker
from rag.config import load_settings
from rag.errors import ConfigError
from rag.pipelines.hybrid import HybridRetriever
from rag.pipelines.rerank import RerankingRetriever
from rag.stores.base import Filters
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, FakeReranker, ScriptedLLM
from rag.testing.reranker_contract import make_hits
from rag.types import LegRanks, Retrieval, ScoredChunk

QUESTION = "how do I switch to pgvector"
TEXTS = [
    "chroma is the embedded default store",
    "the call log keeps tokens and cost",
    "switch to pgvector with a postgres dsn",  # best by overlap, last in retrieval order
]


class ListRetriever:
    """An inner retriever returning fixed hits with leg ranks, recording each call's k."""

    mode = "hybrid"

    def __init__(self, hits: list[ScoredChunk], *, with_ranks: bool = True) -> None:
        self.hits = hits
        self.with_ranks = with_ranks
        self.asked: list[tuple[int | None, Filters | None]] = []
        self.closed = False

    def retrieve(
        self, question: str, *, k: int | None = None, filters: Filters | None = None
    ) -> Retrieval:
        self.asked.append((k, filters))
        hits = tuple(self.hits[: k or 4])
        ranks = tuple(
            LegRanks(h.chunk.id, i, None, h.score) for i, h in enumerate(hits, 1) if self.with_ranks
        )
        return Retrieval(question, hits, ranks, "hybrid")

    def close(self) -> None:
        self.closed = True


def test_retrieves_candidates_and_keeps_the_rerankers_best_k() -> None:
    inner = ListRetriever(make_hits(TEXTS))
    retriever = RerankingRetriever(inner, FakeReranker(), candidates=20, top_k=2)
    found = retriever.retrieve(QUESTION, filters={"lang": "en"})
    assert inner.asked == [(20, {"lang": "en"})], "asks the inner retriever for the candidates"
    assert [h.chunk.id for h in found] == ["c2", "c0"]
    assert found.hits[0].score == pytest.approx(3 / 6)  # FakeReranker: share of question words
    assert found.question == QUESTION and found.mode == "hybrid"
    # each hit keeps its leg ranks from the inner retrieval (c2 was dense #3)
    assert [r.chunk_id for r in found.ranks] == ["c2", "c0"]
    assert found.rank_of("c2") == LegRanks("c2", 3, None, pytest.approx(0.98))


def test_k_over_candidates_asks_for_k_and_no_ranks_when_inner_has_none() -> None:
    inner = ListRetriever(make_hits(TEXTS), with_ranks=False)
    retriever = RerankingRetriever(inner, FakeReranker(), candidates=2)
    found = retriever.retrieve(QUESTION, k=3)
    assert inner.asked[0][0] == 3 and len(found) == 3 and found.ranks == ()


def test_calls_are_values_and_close_reaches_the_inner_retriever() -> None:
    inner = ListRetriever(make_hits(TEXTS))
    with RerankingRetriever(inner, FakeReranker(), candidates=3, top_k=1) as retriever:
        a = retriever.retrieve(QUESTION)
        b = retriever.retrieve("where is the call log with tokens and cost")
        assert [h.chunk.id for h in a] == ["c2"] and [h.chunk.id for h in b] == ["c1"]
        assert retriever.mode == "hybrid"
    assert inner.closed
    with pytest.raises(ValueError):
        RerankingRetriever(inner, FakeReranker(), candidates=0)


class RecordingReranker:
    """Records how many candidates it was handed (a test double, not shared across tests)."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[int] = []

    def rerank(self, question: str, hits: Sequence[ScoredChunk], k: int) -> list[ScoredChunk]:
        self.seen.append(len(hits))
        return FakeReranker().rerank(question, hits, k)


def _rag(tmp_path: Path, **overrides: object) -> RAG:
    embedder = FakeEmbedder()
    return RAG(
        store=MemoryStore("docs"),
        embedder=embedder,
        llm=ScriptedLLM(["Use pgvector [1]."]),
        chunker=TokenChunker(embedder.tokenizer, 40, 5),
        data_dir=tmp_path / "data",
        **overrides,  # type: ignore[arg-type]
    )


def test_reranking_is_off_by_default(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.reranker_path is None and settings.rerank_candidates == 20
    assert isinstance(_rag(tmp_path).retriever, HybridRetriever)


def test_a_bad_reranker_path_fails_when_the_retriever_is_built(tmp_path: Path) -> None:
    r = _rag(tmp_path, reranker_path=tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="reranker_path"):
        r.retriever  # noqa: B018


def test_hybrid_candidates_reach_the_reranker_end_to_end(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    topics = ["apples", "rivers", "violins", "glaciers", "kites", "lanterns", "comets"]
    for i, topic in enumerate(topics):
        (docs / f"d{i}.md").write_text(f"# Doc {i}\n\nHow {topic} work, and what to do.\n")
    (docs / "pg.md").write_text("# pgvector\n\nSwitch to pgvector with a postgres dsn.\n")
    r = _rag(tmp_path)
    r.ingest(docs)
    reranker = RecordingReranker()
    retriever = RerankingRetriever(r.retriever, reranker, candidates=6, top_k=2)
    found = retriever.retrieve(QUESTION)
    assert reranker.seen == [6] and len(found) == 2
    assert "pgvector" in found[0].chunk.text
    assert len(found.ranks) == 2 and found.mode == "hybrid"
