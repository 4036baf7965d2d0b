"""Query retrieval: the ``Retrieves`` protocol, the dense ``Retriever``, follow-up retrieval,
and the empty-collection check and de-duplication every retriever shares. Apart from
``query.py`` so the hybrid and reranking retrievers need not import the answering pipeline.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from rag import tracing
from rag.embeddings import Embedder
from rag.errors import CollectionNotFoundError
from rag.llms.base import Message
from rag.pipelines.conversation import Terms, Turn, check_history, follow_up, rewritten
from rag.stores.base import Filters, Store, validate_filters
from rag.types import Retrieval, ScoredChunk

__all__ = [
    "Retriever",
    "Retrieves",
    "Rewriter",
    "check_queryable",
    "distinct_hits",
    "near_duplicate",
    "retrieve_follow_up",
]

_WORDS = re.compile(r"\w+", re.UNICODE)


class Retrieves(Protocol):
    """Anything that finds the sources for a question (dense or hybrid), returning them as a
    value (and keeping nothing about the call on itself).

    ``context_terms`` and ``dense_query`` carry a follow-up question's context
    (``rag.pipelines.conversation``): keyword terms to search for besides the question's, and
    the text a dense leg embeds instead of the question. They are passed only for a
    follow-up, so a retriever written before them keeps working for standalone questions."""

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval: ...


def near_duplicate(a: str, b: str, threshold: float = 0.8) -> bool:
    """True when the smaller text's words are mostly contained in the other's."""
    return _overlapping((a, _word_set(a)), (b, _word_set(b)), threshold)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(_WORDS.findall(text.lower()))


def _overlapping(
    a: tuple[str, frozenset[str]], b: tuple[str, frozenset[str]], threshold: float = 0.8
) -> bool:
    (ta, wa), (tb, wb) = a, b
    if not wa or not wb:
        return ta == tb
    return len(wa & wb) / min(len(wa), len(wb)) >= threshold


class Retriever:
    """Dense retrieval over one store, with near-duplicates dropped."""

    def __init__(self, store: Store, embedder: Embedder, *, top_k: int = 4) -> None:
        self.store = store
        self.embedder = embedder
        self.top_k = top_k

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval:
        """The ``k`` best distinct chunks for ``question`` (one leg: no leg ranks); a
        follow-up embeds ``dense_query`` (there is no keyword leg for ``context_terms``)."""
        validate_filters(filters)
        k = k or self.top_k
        with tracing.span("dense", candidates=k * 2, store=type(self.store).__name__) as sp:
            vector = self.embedder.embed([dense_query or question], input_type="query")[0]
            hits = self.store.query(vector, k * 2, filters)
            sp.set(hits=len(hits))
        if not hits:
            check_queryable(self.store, filters)
        return Retrieval(question, tuple(distinct_hits(hits, k)), dense_query=dense_query)


Rewriter = Callable[[str, Sequence[Message]], "str | None"]
"""(follow-up, history) -> the model's standalone rewrite, or None to use the rule."""


def retrieve_follow_up(
    retriever: Retrieves,
    terms: Terms,
    question: str,
    *,
    k: int | None = None,
    filters: Filters | None = None,
    history: Sequence[Turn] | None = None,
    rewriter: Rewriter | None = None,
) -> Retrieval:
    """``retriever.retrieve(question)``, with a follow-up's context when ``history`` has a
    user turn (``rag.pipelines.conversation.follow_up``; ``terms``: the keyword tokenizer's):
    the model's rewrite when a ``rewriter`` gives one, else the rule. Timed: its ``seconds``
    (the rewrite included) travel with it, so an ``ask`` given it reports them."""
    started = time.perf_counter()
    turns = check_history(history)
    with tracing.span(
        "retrieve", mode=getattr(retriever, "mode", "dense"), k=k, filtered=bool(filters)
    ) as sp:
        follow = follow_up(question, turns, terms) if turns else None
        sp.set(follow_up=follow is not None)
        if follow is None:
            found = retriever.retrieve(question, k=k, filters=filters)
        else:
            rewrite = rewriter(question, turns) if rewriter is not None else None
            if rewrite is not None:
                follow = rewritten(question, turns, rewrite, terms)
            found = retriever.retrieve(
                question,
                k=k,
                filters=filters,
                context_terms=follow.context_terms,
                dense_query=follow.dense_query,
            )
            if follow.rewritten:
                found = replace(found, rewritten=True)
        sp.set(hits=len(found.hits))
        return replace(found, seconds=time.perf_counter() - started)


def check_queryable(store: Store, filters: Filters | None) -> None:
    """Reject malformed filters, and a query on an empty or missing collection."""
    validate_filters(filters)
    if store.count() == 0:
        raise CollectionNotFoundError(
            f"collection '{store.collection}' is empty or does not exist; "
            "run `rag ingest PATH` first (or pick another with --collection)"
        )


def distinct_hits(hits: Sequence[ScoredChunk], limit: int) -> list[ScoredChunk]:
    """The first ``limit`` hits, skipping exact and near duplicates of those already kept."""
    kept: list[ScoredChunk] = []
    seen: set[str] = set()
    words: list[tuple[str, frozenset[str]]] = []
    for hit in hits:
        if hit.chunk.content_hash in seen:
            continue
        mine = (hit.chunk.text, _word_set(hit.chunk.text))
        if any(_overlapping(mine, other) for other in words):
            continue
        kept.append(hit)
        seen.add(hit.chunk.content_hash)
        words.append(mine)
        if len(kept) == limit:
            break
    return kept
