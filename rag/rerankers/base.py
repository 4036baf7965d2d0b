"""The Reranker protocol: re-score a retrieval's candidates against the question, keep the best.

Contract (``rag.testing.reranker_contract`` checks it for every implementation):
``rerank(question, hits, k)`` returns at most ``k`` of the given hits, best first, each with
the reranker's own score (higher is more relevant) in place of the retrieval score. It never
invents a hit, never returns one twice, keeps the input order among equal scores, does not
modify the hits it is given, and returns ``[]`` for no hits or ``k <= 0``. A reranker keeps
nothing about a call on itself, so one instance serves many threads at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from rag.types import ScoredChunk


@runtime_checkable
class Reranker(Protocol):
    """Orders candidate hits by relevance to the question. See the module docstring."""

    name: str
    """What scored the hits (a model directory's name), for reports and eval tables."""

    def rerank(self, question: str, hits: Sequence[ScoredChunk], k: int) -> list[ScoredChunk]:
        """The ``k`` most relevant of ``hits`` for ``question``, best first, with new scores."""
        ...


def keep_best(hits: Sequence[ScoredChunk], scores: Iterable[float], k: int) -> list[ScoredChunk]:
    """The contract's ordering in one place: ``hits`` re-scored with ``scores`` (same order),
    sorted best first (a stable sort, so ties keep the input order; NaN sorts last), cut to
    ``k``, each hit given once (the first time its chunk id appears). New ``ScoredChunk``
    values: the caller's hits are not modified."""
    scored = list(zip(hits, (float(s) for s in scores), strict=True))
    scored.sort(key=lambda pair: -math.inf if math.isnan(pair[1]) else pair[1], reverse=True)
    out: list[ScoredChunk] = []
    seen: set[str] = set()
    for hit, score in scored:
        if len(out) >= k:
            break
        if hit.chunk.id not in seen:
            seen.add(hit.chunk.id)
            out.append(ScoredChunk(chunk=hit.chunk, score=score))
    return out
