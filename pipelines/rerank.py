"""Reranking: retrieve more candidates than needed, let a reranker re-score them, keep ``k``.

``RerankingRetriever`` wraps any retriever (``pipelines.query_retrieve.Retrieves``: dense or hybrid)
and is one itself, so the query pipeline, ``RAG.retrieve`` and ``rag eval`` use it unchanged.
The inner retriever returns ``candidates`` distinct hits (after its own fusion, dedup and
MMR); the reranker (``rag.rerankers.Reranker``) orders them and keeps the best ``k``. Each hit
carries the reranker's score; its ``LegRanks`` (rank in each retrieval leg, fused score) are
the inner retrieval's, so ``rag ask --show-prompt`` still says why it was a candidate.

Off by default (setting ``reranker_path``): rag ships no cross-encoder model, and a
cross-encoder costs one forward pass per candidate on every question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rag import tracing
from rag.pipelines.query_retrieve import Retrieves
from rag.rerankers.base import Reranker
from rag.stores.base import Filters
from rag.types import Retrieval

__all__ = ["RerankingRetriever"]


class RerankingRetriever:
    """Retrieves ``candidates`` hits with ``inner`` and returns the ``k`` the reranker scores
    best. Keeps nothing about a call, so one instance serves many threads at once."""

    def __init__(
        self,
        inner: Retrieves,
        reranker: Reranker,
        *,
        candidates: int = 20,
        top_k: int = 4,
    ) -> None:
        if candidates < 1 or top_k < 1:
            raise ValueError(f"candidates and top_k must be >= 1 (got {candidates}, {top_k})")
        self.inner = inner
        self.reranker = reranker
        self.candidates = candidates
        self.top_k = top_k

    @property
    def mode(self) -> str:
        """The inner retriever's mode (dense, keyword or hybrid)."""
        return str(getattr(self.inner, "mode", "dense"))

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval:
        """The ``k`` best of ``max(candidates, k)`` inner hits, by the reranker's scores. A
        follow-up's context goes to the inner retriever, and the reranker scores the hits
        against ``dense_query`` (the question with its previous turn) when there is one."""
        k = k or self.top_k
        n = self.candidates_for(k)
        if context_terms or dense_query:
            found = self.inner.retrieve(
                question, k=n, filters=filters, context_terms=context_terms, dense_query=dense_query
            )
        else:
            found = self.inner.retrieve(question, k=n, filters=filters)
        return self.reranked(question, found, k, dense_query=dense_query)

    def candidates_for(self, k: int) -> int:
        """How many inner hits a top-``k`` retrieval reranks."""
        return max(self.candidates, k)

    def reranked(
        self, question: str, found: Retrieval, k: int, *, dense_query: str | None = None
    ) -> Retrieval:
        """The ``k`` of ``found`` the reranker scores best (against ``dense_query`` when a
        follow-up has one), with their inner leg ranks (the async twin,
        ``rag.pipelines.hybrid_async``, retrieves ``found`` itself)."""
        with tracing.span("rerank", candidates=len(found.hits), k=k) as sp:
            hits = tuple(self.reranker.rerank(dense_query or question, found.hits, k))
            sp.set(hits=len(hits))
        ranks = tuple(r for r in (found.rank_of(h.chunk.id) for h in hits) if r is not None)
        if len(ranks) != len(hits):
            ranks = ()  # the inner retriever reports no legs (or not for every hit)
        return replace(found, hits=hits, ranks=ranks)

    def close(self) -> None:
        """Close the inner retriever (its threads), if it has anything to close."""
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> RerankingRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
