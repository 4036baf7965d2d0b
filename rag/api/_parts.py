"""``Parts``: what a ``RAG`` holds (store, embedder, LLM, chunker, loaders, keyword tokenizer,
retriever, call log, query pipeline), each built from its settings on first use, once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

from rag import tracing
from rag.config import Settings, load_settings

if TYPE_CHECKING:
    from rag.chunking import Chunker
    from rag.connectors import LoaderRegistry
    from rag.costs.calllog import CallLogLike
    from rag.embeddings import Embedder
    from rag.keywords import KeywordTokenizer
    from rag.llms.base import LLM
    from rag.pipelines.hybrid import HybridRetriever
    from rag.pipelines.query import QueryPipeline
    from rag.pipelines.rerank import RerankingRetriever
    from rag.stores.base import Store
    from rag.types import AnswerMode

_T = TypeVar("_T")
_SHARED_PARTS = frozenset(
    {
        "_store",
        "_embedder",
        "_chunker",
        "_loaders",
        "_keyword_tokenizer",
        "_call_log",
    }
)
"""What a ``with_settings`` RAG takes from its parent (the retriever, pipeline and LLM are
its own)."""


class Parts:
    """The parts of a ``RAG`` and their lifetime: each one not given is built from
    ``settings`` on first use (under a lock, so concurrent first calls build it once), and
    ``close`` releases them."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        llm: LLM | str | None = None,
        chunker: Chunker | None = None,
        loaders: LoaderRegistry | None = None,
        call_log: CallLogLike | None = None,
        **overrides: Any,
    ) -> None:
        if isinstance(llm, str):  # a backend spec ("local", "openai:MODEL"): the llm setting
            overrides["llm"], llm = llm, None
        if settings is not None and overrides:
            settings = settings.model_copy(update=overrides)
        self.settings = settings if settings is not None else load_settings(**overrides)
        self._store = store
        self._embedder = embedder
        self._embedder_given = embedder is not None
        self._llm = llm
        self._chunker = chunker
        self._loaders = loaders
        self._call_log = call_log
        """Given: where calls are recorded (``rag serve`` passes one per tenant)."""
        self._keyword_tokenizer: KeywordTokenizer | None = None
        self._retriever: HybridRetriever | RerankingRetriever | None = None
        self._query_pipeline: QueryPipeline | None = None
        self._parent: Parts | None = None
        """Set on a ``with_settings`` RAG: whose store, embedder and index it borrows."""
        self._lock = threading.RLock()
        """Guards building the parts, so concurrent first calls build each one once."""
        self._tracing = tracing.configure(self.settings.tracing)
        """Whether this RAG's calls make spans (setting ``tracing`` or an OTLP endpoint in
        the environment; ``rag.tracing``)."""

    def trace_scope(self) -> AbstractContextManager[object]:
        """The tracing context of one call of this RAG (``rag.tracing.scope``): spans are made
        inside it when this RAG traces, with user text only under ``trace_content``."""
        return tracing.scope(self._tracing, self.settings.trace_content)

    def _lazy(self, attr: str, build: Callable[[], _T]) -> _T:
        """``self.<attr>``, built by ``build`` on first use (once, under the lock); a part
        a ``with_settings`` RAG shares is its parent's."""
        value: _T | None = getattr(self, attr)
        if value is None:
            with self._lock:
                value = getattr(self, attr)
                if value is None:
                    parent = self._parent
                    shared = parent is not None and attr in _SHARED_PARTS
                    value = getattr(parent, attr[1:]) if shared else build()
                    setattr(self, attr, value)
        return value

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> Self:
        """Settings from a TOML file (env vars and ``overrides`` still take precedence)."""
        return cls(load_settings(path, **overrides))

    @property
    def store(self) -> Store:
        return self._lazy("_store", self._build_store)

    @property
    def store_opened(self) -> bool:
        """Whether this RAG holds its store already (given, or opened by an earlier call), so
        a caller can avoid ``store``, which opens it (and may create an embedded one)."""
        return self._store is not None

    def _build_store(self) -> Store:
        from rag.stores import make_store

        return make_store(self.settings)

    @property
    def embedder(self) -> Embedder:
        return self._lazy("_embedder", self._build_embedder)

    @property
    def embedder_given(self) -> bool:
        """Whether the embedder was passed in, to this RAG or to the one it came from
        (``with_settings``), rather than built from settings: Ray ships a given one to its
        workers as it is, and builds its own from settings otherwise."""
        parent = self._parent
        return self._embedder_given or (parent is not None and parent._embedder_given)

    def _build_embedder(self) -> Embedder:
        from rag.embeddings import make_embedder

        return make_embedder(self.settings, call_log=self.call_log)

    @property
    def llm(self) -> LLM:
        return self._lazy("_llm", self._build_llm)

    def _build_llm(self) -> LLM:
        from rag.llms import make_llm

        return make_llm(self.settings.llm, self.settings)

    @property
    def chunker(self) -> Chunker:
        return self._lazy("_chunker", self._build_chunker)

    def _build_chunker(self) -> Chunker:
        from rag.chunking import TokenChunker

        size = min(self.settings.chunk_tokens, self.embedder.max_tokens)
        return TokenChunker(
            self.embedder.tokenizer, size, min(self.settings.chunk_overlap, size // 2)
        )

    @property
    def loaders(self) -> LoaderRegistry:
        """Which loader reads which file extension: ``rag.connectors.default_loaders()``
        unless given. Register a loader on it to ingest another file type."""
        return self._lazy("_loaders", self._build_loaders)

    def _build_loaders(self) -> LoaderRegistry:
        from rag.connectors import default_loaders

        return default_loaders()

    @property
    def keyword_tokenizer(self) -> KeywordTokenizer:
        """Korean/English keyword tokenizer (kiwi itself loads only on the first Korean text)."""
        return self._lazy("_keyword_tokenizer", self._build_keyword_tokenizer)

    def _build_keyword_tokenizer(self) -> KeywordTokenizer:
        from rag.keywords import KeywordTokenizer

        s = self.settings
        return KeywordTokenizer(compounds=s.keyword_compounds, title_weight=s.keyword_title_weight)

    @property
    def retriever(self) -> HybridRetriever | RerankingRetriever:
        """The retriever ``settings`` describe (``retrieval_mode``, ``rrf_k``, weights, MMR,
        the reranker at ``reranker_path``), built once and shared by every call (it keeps no
        per-call state)."""
        return self._lazy("_retriever", self._build_retriever)

    def _build_retriever(self) -> HybridRetriever | RerankingRetriever:
        from rag.pipelines.hybrid import HybridRetriever
        from rag.rerankers import make_reranker
        from rag.stores.base import keyword_search

        s = self.settings
        dense = s.retrieval_mode == "dense"
        if s.retrieval_mode != "keyword":
            self._check_embedder()
        hybrid = HybridRetriever(
            self.store,
            self.embedder,
            None if dense else keyword_search(self.store),
            None if dense else self.keyword_tokenizer,
            mode=s.retrieval_mode,
            top_k=s.top_k,
            candidates=s.candidates,
            rrf_k=s.rrf_k,
            dense_weight=s.dense_weight,
            keyword_weight=s.keyword_weight,
            mmr=s.mmr,
            mmr_lambda=s.mmr_lambda,
            dense_weight_by_lang=s.dense_weight_by_lang,
            fusion=s.fusion,
            fusion_alpha=s.fusion_alpha,
        )
        reranker = make_reranker(s)  # None unless reranker_path is set
        if reranker is None:
            return hybrid
        from rag.pipelines.rerank import RerankingRetriever

        return RerankingRetriever(hybrid, reranker, candidates=s.rerank_candidates, top_k=s.top_k)

    def _check_embedder(self) -> None:
        """Refuse a query embedder of another model than the collection's vectors, and warn
        (once per RAG) when only its backend or quantization differs."""
        from rag.embeddings import check_compatible

        recorded = (r.embedder for r in self.store.sources().values())
        check_compatible(recorded, self.embedder, self.store.collection)

    @property
    def call_log(self) -> CallLogLike:
        return self._lazy("_call_log", self._build_call_log)

    def _build_call_log(self) -> CallLogLike:
        from rag.costs.logs import make_call_log

        return make_call_log(self.settings)

    @property
    def query_pipeline(self) -> QueryPipeline:
        """Retrieval, prompt packing and generation as ``settings`` describe, built once and
        shared by every call."""
        return self._lazy("_query_pipeline", self._build_query_pipeline)

    def _build_query_pipeline(self) -> QueryPipeline:
        from rag.pipelines.extractive import ExtractiveAnswerer
        from rag.pipelines.grounding import SupportChecker
        from rag.pipelines.prompt import SentenceSelector
        from rag.pipelines.query import QueryPipeline

        terms = self.keyword_tokenizer.tokenize_batch
        selector = SentenceSelector(terms) if self.settings.sentence_selection else None
        dense = self.settings.retrieval_mode != "keyword"
        embedder = self.embedder if dense else None
        checker = SupportChecker(terms, embedder) if self.settings.check_answers else None
        return QueryPipeline(
            self.store,
            self.embedder,
            self.llm,
            top_k=self.settings.top_k,
            max_context_tokens=self.settings.max_context_tokens,
            max_tokens=self.settings.max_tokens,
            call_log=self.call_log,
            retriever=self.retriever,
            selector=selector,
            answer_mode=self.answer_mode,
            extractor=ExtractiveAnswerer(terms, embedder, min_coverage=self.settings.abstain_below),
            checker=checker,
            history_tokens=self.settings.history_tokens,
            terms=terms,
            rewrite_follow_ups=self.rewrites_follow_ups,
        )

    @property
    def rewrites_follow_ups(self) -> bool:
        """Whether the model rewrites follow-up questions (``follow_up_rewrite``), else the
        deterministic rule makes them standalone. ``auto``: when answers are generative and
        the model is capable (``capable_model``)."""
        how = self.settings.follow_up_rewrite
        if how != "auto":
            return how == "model"
        return self.answer_mode == "generative" and capable_model(self.llm)

    @property
    def answer_mode(self) -> AnswerMode:
        """``settings.answer_mode`` with ``auto`` resolved: extractive when the model declares
        fewer than ``GENERATIVE_MIN_PARAMS`` parameters, else generative."""
        from rag.llms.base import GENERATIVE_MIN_PARAMS, parameter_count_of

        mode = self.settings.answer_mode
        if mode != "auto":
            return mode
        params = parameter_count_of(self.llm)
        return (
            "extractive" if params is not None and params < GENERATIVE_MIN_PARAMS else "generative"
        )

    def close(self) -> None:
        """Stop the retriever's threads and close the store (which closes its keyword index) (the parts
        of a ``with_settings`` RAG belong to the RAG it came from, which closes them)."""
        with self._lock:
            retriever, self._retriever = self._retriever, None
            self._query_pipeline = None
            store = self._store
            if self._parent is not None:
                self._store = None
        if retriever is not None:
            retriever.close()
        if self._parent is not None:
            return
        if store is not None:
            store.close()


def capable_model(llm: LLM) -> bool:
    """A model trusted to rewrite a follow-up: one that declares ``GENERATIVE_MIN_PARAMS`` or
    more (a big GGUF), or a hosted one (a router: its primary). The packaged 135M model is
    not (tests/pipelines/test_follow_up_eval.py measures it), nor are unknown local models
    and fakes."""
    from rag.llms._hosted import HostedLLM
    from rag.llms.base import GENERATIVE_MIN_PARAMS, parameter_count_of
    from rag.llms.routing import RoutedLLM

    if isinstance(llm, RoutedLLM):
        return capable_model(llm.routes[0][1])
    params = parameter_count_of(llm)
    if params is not None:
        return params >= GENERATIVE_MIN_PARAMS
    return isinstance(llm, HostedLLM)
