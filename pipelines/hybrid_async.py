"""``AsyncHybridRetriever``: the async twin of ``HybridRetriever.retrieve`` over a store's
``AsyncQueryStore`` (``rag.stores.base``; pgvector on ``psycopg_pool.AsyncConnectionPool``).

Same legs, same fusion, same results as the sync retriever: it awaits the store queries on the
loop, the dense and keyword legs at once (``asyncio.gather``), and runs what blocks by nature
in the executor it is given: the question's embedding (ONNX/torch) and the keyword tokenizer
(each leg starts its query as soon as its own input is ready), MMR's embeddings, and the rare
store look-ups that only explain an empty result (``keyword_checked``, ``check_queryable``,
on the sync store). Fusion, dedup and leg ranks are ``HybridRetriever.fused``: one scoring
for both paths. Behind a ``RerankingRetriever`` the reranker runs in the executor too.

``async_retriever(retriever, executor)`` makes the twin when the retriever's store declares
``supports_async_query`` (and its keyword leg is that store), else returns None: the caller
then runs the sync retriever in its executor. A twin, not a flag.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

from rag import tracing
from rag.pipelines.hybrid import HybridRetriever
from rag.pipelines.query_retrieve import Retrieves, check_queryable
from rag.pipelines.rerank import RerankingRetriever
from rag.stores.base import AsyncQueryStore, Filters, async_queries, validate_filters
from rag.types import Retrieval, ScoredChunk

__all__ = ["AsyncHybridRetriever", "async_retriever"]

_T = TypeVar("_T")


def async_retriever(retriever: Retrieves, executor: Executor) -> AsyncHybridRetriever | None:
    """The async twin of ``retriever`` (a ``HybridRetriever``, or a ``RerankingRetriever`` over
    one) when its store has async queries, else None. Opens nothing: the twin's store connects
    on its first query."""
    reranking = retriever if isinstance(retriever, RerankingRetriever) else None
    inner = reranking.inner if reranking is not None else retriever
    if not isinstance(inner, HybridRetriever):
        return None
    keyword_index: object = inner.keyword_index
    if keyword_index is not None and keyword_index is not inner.store:
        return None  # a keyword index of its own (a sidecar): no async twin of it
    store = async_queries(inner.store)
    if store is None:
        return None
    return AsyncHybridRetriever(inner, store, executor, reranking=reranking)


class AsyncHybridRetriever:
    """``retrieve`` awaited: the store queries on the loop, the blocking steps in ``executor``
    (module docstring). Keeps nothing about a call; ``aclose`` closes the async store."""

    def __init__(
        self,
        retriever: HybridRetriever,
        store: AsyncQueryStore,
        executor: Executor,
        *,
        reranking: RerankingRetriever | None = None,
    ) -> None:
        self.retriever = retriever
        """The sync retriever whose settings, embedder, tokenizer and fusion this one uses."""
        self.store = store
        self.executor = executor
        self.reranking = reranking
        """The reranker in front of ``retriever``, if any (its ``inner`` is ``retriever``)."""

    @property
    def mode(self) -> str:
        return self.retriever.mode

    async def _run(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` in the executor, awaited."""
        loop = asyncio.get_running_loop()
        call = tracing.bind(functools.partial(fn, *args, **kwargs))
        return await loop.run_in_executor(self.executor, call)

    async def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval:
        """``HybridRetriever.retrieve`` (or ``RerankingRetriever.retrieve``), awaited; a
        follow-up's ``context_terms`` and ``dense_query`` as there. Traced as the sync
        ``retrieve`` stage (``rag.pipelines.query_retrieve.retrieve_follow_up``)."""
        follow = bool(context_terms or dense_query)
        with tracing.span(
            "retrieve", mode=self.mode, k=k, filtered=bool(filters), follow_up=follow
        ) as sp:
            found = await self._retrieve(question, k, filters, context_terms, dense_query)
            sp.set(hits=len(found.hits))
            return found

    async def _retrieve(
        self,
        question: str,
        k: int | None,
        filters: Filters | None,
        context_terms: Sequence[str],
        dense_query: str | None,
    ) -> Retrieval:
        if self.reranking is None:
            return await self._hybrid(question, k, filters, context_terms, dense_query)
        k = k or self.reranking.top_k
        n = self.reranking.candidates_for(k)
        found = await self._hybrid(question, n, filters, context_terms, dense_query)
        return await self._run(self.reranking.reranked, question, found, k, dense_query=dense_query)

    async def _hybrid(
        self,
        question: str,
        k: int | None,
        filters: Filters | None,
        context_terms: Sequence[str],
        dense_query: str | None,
    ) -> Retrieval:
        r = self.retriever
        validate_filters(filters)
        k = k or r.top_k
        n = r.candidates_for(k)
        text = dense_query or question  # what the dense leg embeds
        dense: list[ScoredChunk] = []
        keyword: list[ScoredChunk] = []
        dense_weight = r.dense_weight_for(question) if r.mode == "hybrid" else 0.0
        if r.mode == "hybrid" and dense_weight <= 0.0:
            # no vote for the dense leg: keyword alone, dense if it is empty (as the sync one)
            keyword = await self._checked(await self._keyword(question, context_terms, n, filters))
            if not keyword:
                dense = await self._dense(text, n, filters)
                dense_weight = r.dense_weight
        elif r.mode == "hybrid":
            legs = await asyncio.gather(
                self._dense(text, n, filters),
                self._keyword(question, context_terms, n, filters),
                return_exceptions=True,
            )
            for leg in legs:  # both awaited; the dense leg's error first, as in the sync one
                if isinstance(leg, BaseException):
                    raise leg
            dense, keyword = legs  # type: ignore[assignment]
            keyword = await self._checked(keyword)
        elif r.mode == "dense":
            dense = await self._dense(text, n, filters)
        else:
            keyword = await self._checked(await self._keyword(question, context_terms, n, filters))
        if not dense and not keyword:
            await self._run(check_queryable, r.store, filters)  # an empty collection says so
        fuse = functools.partial(
            r.fused,
            question,
            k,
            dense,
            keyword,
            dense_weight,
            context_terms=context_terms,
            dense_query=dense_query,
        )
        return await self._run(fuse) if r.mmr else fuse()  # MMR embeds the candidates

    async def _dense(self, text: str, n: int, filters: Filters | None) -> list[ScoredChunk]:
        store = type(self.retriever.store).__name__
        with tracing.span("dense", candidates=n, store=store) as sp:
            vector = await self._run(self.retriever.query_vector, text)
            hits = await self.store.aquery(vector, n, filters)
            sp.set(hits=len(hits))
            return hits

    async def _keyword(
        self, question: str, context_terms: Sequence[str], n: int, filters: Filters | None
    ) -> list[ScoredChunk]:
        with tracing.span("keyword", candidates=n) as sp:
            terms = await self._run(self.retriever.query_terms, question, context_terms)
            hits = await self.store.akeyword_query(terms, n, filters) if terms else []
            sp.set(terms=len(terms), hits=len(hits))
            return hits

    async def _checked(self, hits: list[ScoredChunk]) -> list[ScoredChunk]:
        """``HybridRetriever.keyword_checked`` (in the executor: it counts the keyword rows on
        the sync store) when there are no hits to explain; the hits themselves otherwise."""
        if hits:
            return hits
        return await self._run(self.retriever.keyword_checked, hits)

    async def aclose(self) -> None:
        """Close the async store (the sync retriever and store close with their owner)."""
        await self.store.aclose()
