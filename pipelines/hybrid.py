"""Hybrid retrieval: a dense leg (vectors) and a keyword leg (BM25), fused by a convex
combination of normalised scores (the default) or by weighted RRF.

Each leg returns up to ``candidates`` chunks. ``fusion = "convex"`` maps each leg's scores
onto [0, 1] by that list's min and max (a chunk a leg did not return gets 0 from it) and adds
them with weights ``fusion_alpha`` (dense) and ``1 - fusion_alpha`` (keyword), each times
``dense_weight`` / ``keyword_weight``::

    fused(d) = alpha * w_dense * minmax(cos(q, d)) + (1 - alpha) * w_kw * minmax(bm25(q, d))

``fusion = "rrf"`` (reciprocal rank fusion) scores a chunk by its ranks only::

    fused(d) = sum over legs L that returned d of  weight_L / (rrf_k + rank_L(d))    (rank from 1)

Why convex by default: RRF throws away how far apart the scores are, so a keyword hit far
ahead of the rest ties with the dense leg's first pick among near-equal cosines. Chosen on
SciFact's *train* claims only (809; nDCG@10 RRF 0.720, convex min-max 0.735 at alpha 0.5,
0.730-0.735 from 0.4 to 0.6; z-score normalisation the same within 0.001), then reported
once on dev (see CHANGELOG.md).

``mode="dense"`` or ``"keyword"`` runs one leg and keeps that leg's own score (cosine or BM25).

A leg that cannot inform the question gets no vote: when the embedder declares the languages
it was trained for (``Embedder.languages``; the packaged all-MiniLM-L6-v2: English) and the
question is in another, the dense leg is not run and the keyword leg ranks alone (the dense
leg is the fallback when the keyword leg finds nothing). Measured on Korean: an English-only
model's dense leg is noise there (Recall@1 0.06 against the keyword leg's 0.91 on a held-out
set), and even at a weight of 0.3 RRF let it push the right passage down. An explicit
``dense_weight_by_lang`` entry overrides the rule for its language.
Exact and near-duplicate chunks are dropped in fused order
(``pipelines.query_retrieve.near_duplicate``).

MMR (optional) re-ranks the fused candidates for diversity:
``argmax lambda * sim(q, d) - (1 - lambda) * max over picked p of sim(d, p)``, with cosine
similarity of dense vectors. The Store protocol does not return stored vectors, so MMR embeds
the query and the candidate texts (``3 * k`` candidates at most) with the embedder: one extra
batch per question. That is why it is off by default.

``retrieve`` returns a ``Retrieval`` value: the hits plus each hit's rank in each leg and its
fused score (``LegRanks``), so ``rag ask --show-prompt`` can say why a source was picked.
Nothing about a call is kept on the retriever, so one retriever serves many threads at once.
The threads that run keyword legs beside dense ones belong to the retriever: made on the
first hybrid query, shut down (and joined) by ``close()``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from rag import tracing
from rag.chunking import detect_lang
from rag.embeddings import Embedder, covers, languages_of
from rag.errors import CollectionNotFoundError, ConfigError
from rag.pipelines.query_retrieve import check_queryable, distinct_hits
from rag.stores.base import Filters, Store, validate_filters
from rag.types import LegRanks, Retrieval, ScoredChunk, Vectors

__all__ = [
    "LEG_THREAD_PREFIX",
    "HybridRetriever",
    "LegRanks",
    "convex_fuse",
    "minmax",
    "mmr_select",
    "rrf_fuse",
]

Mode = Literal["dense", "keyword", "hybrid"]
MODES: tuple[str, ...] = ("dense", "keyword", "hybrid")
FUSIONS: tuple[str, ...] = ("rrf", "convex")


class QueryTokenizer(Protocol):
    def tokenize(self, text: str) -> list[str]: ...


class KeywordSearcher(Protocol):
    """The keyword side of a ``KeywordSearchStore`` (``rag.stores.base``)."""

    def keyword_query(
        self, terms: Sequence[str], k: int, filters: Filters | None = None
    ) -> list[ScoredChunk]: ...

    def keyword_count(self) -> int: ...


LEG_THREAD_PREFIX = "rag-keyword-leg"
"""Name prefix of the threads that run keyword legs (``threading.enumerate()`` shows them)."""
LEG_THREADS = 4


def rrf_fuse(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int = 60
) -> list[tuple[str, float]]:
    """Weighted reciprocal rank fusion: ids by ``sum(w / (k + rank))``, best first.

    Ties keep the order in which ids were first seen (leg by leg, rank by rank).
    """
    if len(rankings) != len(weights):
        raise ValueError(f"{len(rankings)} rankings but {len(weights)} weights")
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, 1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))


def minmax(scores: Sequence[float]) -> list[float]:
    """Scores mapped onto [0, 1] by the list's own min and max (all 1.0 when they are equal)."""
    if not scores:
        return []
    lo, hi = min(scores), max(scores)
    if hi <= lo:
        return [1.0] * len(scores)
    return [(s - lo) / (hi - lo) for s in scores]


def convex_fuse(
    legs: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float]
) -> list[tuple[str, float]]:
    """Convex combination of min-max normalised scores: ids by ``sum(w * minmax(score))``,
    best first; an id a leg did not return gets that leg's minimum (0).

    Unlike RRF it keeps how far apart the scores are: a keyword hit far ahead of the rest
    stays ahead of a dense hit that only ranks first among near-equal cosines. On a tie, an
    id more legs returned goes first (a leg's last hit scores 0, like one it did not
    return), then the order in which ids were first seen (leg by leg, rank by rank).
    """
    if len(legs) != len(weights):
        raise ValueError(f"{len(legs)} legs but {len(weights)} weights")
    scores: dict[str, float] = {}
    found_by: dict[str, int] = {}
    for leg, weight in zip(legs, weights, strict=True):
        for (item, _), norm in zip(leg, minmax([s for _, s in leg]), strict=True):
            scores[item] = scores.get(item, 0.0) + weight * norm
            found_by[item] = found_by.get(item, 0) + 1
    order = {item: i for i, item in enumerate(scores)}
    return sorted(scores.items(), key=lambda kv: (-kv[1], -found_by[kv[0]], order[kv[0]]))


def mmr_select(
    query: npt.NDArray[np.float32],
    candidates: npt.NDArray[np.float32],
    k: int,
    lambda_: float = 0.7,
) -> list[int]:
    """Maximal marginal relevance: indices of ``k`` rows of ``candidates``, picked greedily by
    ``lambda * cos(q, d) - (1 - lambda) * max cos(d, picked)``. Ties go to the earlier row."""
    if len(candidates) == 0 or k <= 0:
        return []

    def unit(m: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        m = np.asarray(m, dtype=np.float64)
        norms = np.linalg.norm(m, axis=-1, keepdims=True)
        return m / np.where(norms == 0, 1.0, norms)

    cands = unit(candidates)
    relevance = cands @ unit(query)
    pairwise = cands @ cands.T
    picked: list[int] = []
    left = list(range(len(cands)))
    while left and len(picked) < k:
        best, best_score = left[0], -np.inf
        for i in left:
            redundancy = max((pairwise[i, j] for j in picked), default=0.0)
            score = lambda_ * relevance[i] - (1.0 - lambda_) * redundancy
            if score > best_score:
                best, best_score = i, score
        picked.append(best)
        left.remove(best)
    return picked


class HybridRetriever:
    """Dense + BM25 retrieval with RRF, dedup and optional MMR; same ``retrieve`` as ``Retriever``.

    Safe to share across threads: settings are read-only after construction and every call's
    facts come back in its ``Retrieval``. ``close()`` shuts down the keyword-leg threads.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        keyword_index: KeywordSearcher | None,
        tokenizer: QueryTokenizer | None,
        *,
        mode: str = "hybrid",
        top_k: int = 4,
        candidates: int = 30,
        rrf_k: int = 60,
        dense_weight: float = 1.0,
        keyword_weight: float = 1.0,
        mmr: bool = False,
        mmr_lambda: float = 0.7,
        dense_weight_by_lang: Mapping[str, float] | None = None,
        fusion: str = "convex",
        fusion_alpha: float = 0.5,
    ) -> None:
        if mode not in MODES:
            raise ConfigError(f"setting 'retrieval_mode' is {mode!r}; use dense, keyword or hybrid")
        if fusion not in FUSIONS:
            raise ConfigError(f"setting 'fusion' is {fusion!r}; use rrf or convex")
        if not 0.0 <= fusion_alpha <= 1.0:
            raise ConfigError(f"setting 'fusion_alpha' is {fusion_alpha}; use a value in [0, 1]")
        if mode != "dense" and (keyword_index is None or tokenizer is None):
            raise ConfigError(
                f"retrieval_mode {mode!r} needs a keyword index and tokenizer; "
                "use retrieval_mode = 'dense' or pass keyword_index and tokenizer"
            )
        self.store = store
        self.embedder = embedder
        self.keyword_index = keyword_index
        self.tokenizer = tokenizer
        self.mode = mode
        self.top_k = top_k
        self.candidates = candidates
        self.rrf_k = rrf_k
        self.dense_weight = dense_weight
        self.dense_weight_by_lang = dict(dense_weight_by_lang or {})
        self.languages = languages_of(embedder)
        """The languages the dense leg can inform (None: any)."""
        self.keyword_weight = keyword_weight
        self.mmr = mmr
        self.mmr_lambda = mmr_lambda
        self.fusion = fusion
        self.fusion_alpha = fusion_alpha
        """``convex``: the dense leg's share (the keyword leg's is ``1 - fusion_alpha``)."""
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def _keyword_leg(
        self, terms: list[str], n: int, filters: Filters | None
    ) -> Future[list[ScoredChunk]]:
        """Start the keyword leg on the retriever's leg threads (made on first hybrid query;
        submitting under the lock means ``close`` waits for legs already started)."""
        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=LEG_THREADS, thread_name_prefix=LEG_THREAD_PREFIX
                )
            return self._pool.submit(tracing.bind(self._keyword_search), terms, n, filters)

    def close(self) -> None:
        """Shut down the keyword-leg threads and wait for them to end (a later hybrid query
        starts new ones)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> HybridRetriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval:
        """The ``k`` best distinct chunks for ``question``, with their leg ranks (see the
        module docstring). A follow-up question (``rag.pipelines.conversation``) brings
        ``context_terms``, keyword terms searched for besides the question's, and
        ``dense_query``, the text the dense leg embeds instead of the question."""
        validate_filters(filters)
        k = k or self.top_k
        n = self.candidates_for(k)
        dense_text = dense_query or question
        terms = self.query_terms(question, context_terms) if self.mode != "dense" else []
        dense: list[ScoredChunk] = []
        keyword: list[ScoredChunk] = []
        dense_weight = self.dense_weight_for(question) if self.mode == "hybrid" else 0.0
        if self.mode == "hybrid" and dense_weight <= 0.0:
            # no vote for the dense leg (see the module doc): keyword alone, dense if it is empty
            keyword = self.keyword_checked(self._keyword_search(terms, n, filters))
            if not keyword:
                dense = self._dense(dense_text, n, filters)
                dense_weight = self.dense_weight  # the fallback leg ranks alone
        elif self.mode == "hybrid":
            # the legs wait on different engines (onnxruntime + the vector store, SQLite or
            # PostgreSQL), all of which release the GIL: run the keyword leg alongside
            pending = self._keyword_leg(terms, n, filters)
            dense = self._dense(dense_text, n, filters)
            keyword = self.keyword_checked(pending.result())
        elif self.mode == "dense":
            dense = self._dense(dense_text, n, filters)
        else:
            keyword = self.keyword_checked(self._keyword_search(terms, n, filters))
        if not dense and not keyword:
            check_queryable(self.store, filters)  # an empty collection says so
        return self.fused(
            question,
            k,
            dense,
            keyword,
            dense_weight,
            context_terms=context_terms,
            dense_query=dense_query,
        )

    def retrieve_many(
        self, questions: Sequence[str], *, k: int | None = None, filters: Filters | None = None
    ) -> list[Retrieval | Exception]:
        """``retrieve`` for each of ``questions`` in one pass (``ask_many``): the dense legs'
        questions embedded in one call, every keyword leg on the leg threads while the dense
        legs query the store. A question's failure is its entry (the exception), never the
        batch's; bad ``filters`` are refused for all."""
        validate_filters(filters)
        k = k or self.top_k
        n = self.candidates_for(k)
        weights = [
            self.dense_weight_for(q) if self.mode == "hybrid" else float(self.mode == "dense")
            for q in questions
        ]
        embed = [i for i, w in enumerate(weights) if self.mode != "keyword" and w > 0.0]
        vectors: list[Vectors] = []
        if embed:
            vectors = list(self.embedder.embed([questions[i] for i in embed], input_type="query"))
        legs: dict[int, Future[list[ScoredChunk]]] = {}
        if self.mode != "dense":
            for i, q in enumerate(questions):
                legs[i] = self._keyword_leg(self.query_terms(q), n, filters)
        dense: dict[int, list[ScoredChunk] | Exception] = {}
        for i, vector in zip(embed, vectors, strict=True):
            try:
                dense[i] = self.store.query(vector, n, filters)
            except Exception as exc:
                dense[i] = exc
        out: list[Retrieval | Exception] = []
        for i, question in enumerate(questions):
            try:
                out.append(self._fused_one(question, k, n, filters, weights[i], legs, dense, i))
            except Exception as exc:
                out.append(exc)
        return out

    def _fused_one(
        self,
        question: str,
        k: int,
        n: int,
        filters: Filters | None,
        weight: float,
        legs: Mapping[int, Future[list[ScoredChunk]]],
        dense_hits: Mapping[int, list[ScoredChunk] | Exception],
        i: int,
    ) -> Retrieval:
        """One question of ``retrieve_many``: its legs' results fused (as ``retrieve``)."""
        found = dense_hits.get(i, [])
        if isinstance(found, Exception):
            raise found
        dense = found
        keyword = self.keyword_checked(legs[i].result()) if i in legs else []
        if self.mode == "hybrid" and weight <= 0.0 and not keyword:
            dense = self._dense(question, n, filters)  # the fallback leg ranks alone
            weight = self.dense_weight
        if not dense and not keyword:
            check_queryable(self.store, filters)
        return self.fused(question, k, dense, keyword, weight)

    def candidates_for(self, k: int) -> int:
        """How many hits each leg returns for a top-``k`` retrieval."""
        return max(self.candidates, 2 * k)

    def fused(
        self,
        question: str,
        k: int,
        dense: Sequence[ScoredChunk],
        keyword: Sequence[ScoredChunk],
        dense_weight: float,
        *,
        context_terms: Sequence[str] = (),
        dense_query: str | None = None,
    ) -> Retrieval:
        """The ``k`` best distinct chunks of the legs' hits, fused, deduplicated and (with
        ``mmr``) diversified, with each hit's leg ranks. Touches no store; only MMR embeds
        (``rag.pipelines.hybrid_async`` shares it, so both paths score the same)."""
        chunks = {h.chunk.id: h for h in keyword}
        chunks.update({h.chunk.id: h for h in dense})
        dense_rank = {h.chunk.id: i for i, h in enumerate(dense, 1)}
        keyword_rank = {h.chunk.id: i for i, h in enumerate(keyword, 1)}
        if self.mode == "hybrid" and self.fusion == "convex":
            fused = convex_fuse(
                [[(h.chunk.id, h.score) for h in dense], [(h.chunk.id, h.score) for h in keyword]],
                [
                    self.fusion_alpha * dense_weight,
                    (1.0 - self.fusion_alpha) * self.keyword_weight,
                ],
            )
            ranked = [ScoredChunk(chunk=chunks[cid].chunk, score=s) for cid, s in fused]
        elif self.mode == "hybrid":
            fused = rrf_fuse(
                [[h.chunk.id for h in dense], [h.chunk.id for h in keyword]],
                [dense_weight, self.keyword_weight],
                self.rrf_k,
            )
            ranked = [ScoredChunk(chunk=chunks[cid].chunk, score=s) for cid, s in fused]
        else:
            ranked = list(dense or keyword)
        distinct = distinct_hits(ranked, 3 * k if self.mmr else k)
        if self.mmr and len(distinct) > 1:
            distinct = self._mmr(dense_query or question, distinct, k)
        kept = tuple(distinct[:k])
        ranks = tuple(
            LegRanks(h.chunk.id, dense_rank.get(h.chunk.id), keyword_rank.get(h.chunk.id), h.score)
            for h in kept
        )
        return Retrieval(
            question,
            kept,
            ranks,
            self.mode,
            context_terms=tuple(context_terms),
            dense_query=dense_query if self.mode != "keyword" else None,
        )

    def dense_weight_for(self, question: str) -> float:
        """``dense_weight`` for the question's language: scaled by ``dense_weight_by_lang``
        when it names the language, else 0 when the embedder does not cover it."""
        lang = detect_lang(question)
        factor = self.dense_weight_by_lang.get(lang)
        if factor is None:
            factor = 1.0 if covers(self.languages, lang) else 0.0
        return self.dense_weight * factor

    def query_vector(self, text: str) -> Vectors:
        """The embedding the dense leg searches with (of the question, or a follow-up's
        ``dense_query``)."""
        with tracing.span("embed", texts=1, input_type="query"):
            vector: Vectors = self.embedder.embed([text], input_type="query")[0]
        return vector

    def _dense(self, text: str, n: int, filters: Filters | None) -> list[ScoredChunk]:
        with tracing.span("dense", candidates=n, store=type(self.store).__name__) as sp:
            hits = self.store.query(self.query_vector(text), n, filters)
            sp.set(hits=len(hits))
            return hits

    def query_terms(self, question: str, context_terms: Sequence[str] = ()) -> list[str]:
        """The keyword leg's terms: the question's, then the context terms it lacks."""
        assert self.tokenizer is not None
        tokens = self.tokenizer.tokenize(question)
        own = set(tokens)
        return tokens + [t for t in dict.fromkeys(context_terms) if t not in own]

    def _keyword_search(
        self, terms: list[str], n: int, filters: Filters | None
    ) -> list[ScoredChunk]:
        assert self.keyword_index is not None
        with tracing.span("keyword", candidates=n, terms=len(terms)) as sp:
            hits = self.keyword_index.keyword_query(terms, n, filters) if terms else []
            sp.set(hits=len(hits))
            return hits

    def keyword_checked(self, hits: list[ScoredChunk]) -> list[ScoredChunk]:
        """``hits``, after saying so when they are empty because the index is (a store call:
        it counts the keyword rows)."""
        assert self.keyword_index is not None
        if hits or self.keyword_index.keyword_count() > 0:
            return hits
        check_queryable(self.store, None)  # an empty collection: that error, not this one
        if self.mode == "keyword":
            raise CollectionNotFoundError(
                f"the keyword index of collection '{self.store.collection}' is empty; "
                "re-run `rag ingest PATH` to build it (or use --mode dense)"
            )
        warnings.warn(
            f"the keyword index of collection '{self.store.collection}' is empty, so only "
            "dense retrieval ran; re-run `rag ingest PATH` to build it",
            stacklevel=3,
        )
        return hits

    def _mmr(self, question: str, hits: list[ScoredChunk], k: int) -> list[ScoredChunk]:
        with tracing.span("mmr", candidates=len(hits), k=k):
            query = self.embedder.embed([question], input_type="query")[0]
            vectors = self.embedder.embed([h.chunk.text for h in hits], input_type="document")
            return [hits[i] for i in mmr_select(query, vectors, k, self.mmr_lambda)]
