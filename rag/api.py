"""``RAG``: the library entry point. One object holds the settings, the store, the
embedder and the LLM (each built on first use), and runs ingest and ask.

    from rag import RAG
    r = RAG()                        # embedded defaults
    report = r.ingest("./docs")      # IngestReport
    answer = r.ask("...")            # Answer: text, citations, usage
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rag.config import Settings, load_settings

if TYPE_CHECKING:
    from rag.calllog import CallLog, CostSummary
    from rag.chunking import Chunker
    from rag.embeddings import Embedder
    from rag.keywords import KeywordTokenizer
    from rag.llms.base import LLM
    from rag.pipelines.hybrid import HybridRetriever
    from rag.pipelines.ingest import ProgressCallback
    from rag.pipelines.query import QueryPipeline
    from rag.stores.base import Filters, Store
    from rag.types import Answer, IngestReport, ScoredChunk


class RAG:
    """Ingest documents and answer questions about them.

    Parts not given are built from ``settings`` on first use, so creating a RAG is cheap
    and a process that only ingests never loads the LLM.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        chunker: Chunker | None = None,
        **overrides: Any,
    ) -> None:
        if settings is not None and overrides:
            settings = settings.model_copy(update=overrides)
        self.settings = settings if settings is not None else load_settings(**overrides)
        self._store = store
        self._embedder = embedder
        self._llm = llm
        self._chunker = chunker
        self._call_log: CallLog | None = None
        self._keyword_tokenizer: KeywordTokenizer | None = None

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> RAG:
        """Settings from a TOML file (env vars and ``overrides`` still take precedence)."""
        return cls(load_settings(path, **overrides))

    @property
    def store(self) -> Store:
        if self._store is None:
            from rag.stores import make_store

            self._store = make_store(self.settings)
        return self._store

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from rag.embeddings import make_embedder

            self._embedder = make_embedder(self.settings)
        return self._embedder

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            from rag.llms import make_llm

            self._llm = make_llm(self.settings.llm, self.settings)
        return self._llm

    @property
    def chunker(self) -> Chunker:
        if self._chunker is None:
            from rag.chunking import TokenChunker

            size = min(self.settings.chunk_tokens, self.embedder.max_tokens)
            self._chunker = TokenChunker(
                self.embedder.tokenizer, size, min(self.settings.chunk_overlap, size // 2)
            )
        return self._chunker

    @property
    def keyword_tokenizer(self) -> KeywordTokenizer:
        """Korean/English keyword tokenizer (kiwi itself loads only on the first Korean text)."""
        if self._keyword_tokenizer is None:
            from rag.keywords import KeywordTokenizer

            self._keyword_tokenizer = KeywordTokenizer()
        return self._keyword_tokenizer

    def retriever(self) -> HybridRetriever:
        """The retriever ``settings`` describe (``retrieval_mode``, ``rrf_k``, weights, MMR)."""
        from rag.pipelines.hybrid import HybridRetriever
        from rag.stores.base import keyword_search

        s = self.settings
        dense = s.retrieval_mode == "dense"
        return HybridRetriever(
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
            dense_weight_by_lang=s.effective_dense_weight_by_lang,
        )

    @property
    def call_log(self) -> CallLog:
        if self._call_log is None:
            from rag.calllog import CallLog

            self._call_log = CallLog(self.settings.call_log_path)
        return self._call_log

    def ingest(
        self,
        path: str | Path,
        *,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        prune: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Load, chunk, embed and store everything under ``path`` that is new or changed."""
        from rag.pipelines.ingest import IngestParts, IngestPipeline

        # factories, not parts: an ingest that finds nothing new or changed never builds the
        # embedding model or the keyword tokenizer
        parts = IngestParts(
            embedder=lambda: self.embedder,
            chunker=lambda: self.chunker,
            keyword_tokenizer=lambda: self.keyword_tokenizer,
        )
        pipeline = IngestPipeline.from_parts(self.store, parts)
        return pipeline.run(
            path,
            include=include if include is not None else self.settings.include,
            exclude=exclude if exclude is not None else self.settings.exclude,
            prune=self.settings.prune if prune is None else prune,
            progress=progress,
        )

    def _query(self) -> QueryPipeline:
        from rag.pipelines.prompt import SentenceSelector
        from rag.pipelines.query import QueryPipeline

        selector = None
        if self.settings.sentence_selection:
            selector = SentenceSelector(self.keyword_tokenizer.tokenize_batch)
        return QueryPipeline(
            self.store,
            self.embedder,
            self.llm,
            top_k=self.settings.top_k,
            max_context_tokens=self.settings.max_context_tokens,
            max_tokens=self.settings.max_tokens,
            call_log=self.call_log,
            retriever=self.retriever(),
            selector=selector,
        )

    def retrieve(
        self, question: str, *, k: int | None = None, filters: Filters | None = None
    ) -> list[ScoredChunk]:
        """The best distinct chunks for ``question``, without generating."""
        return self.retriever().retrieve(question, k=k, filters=filters)

    def ask(self, question: str, *, filters: Filters | None = None, k: int | None = None) -> Answer:
        """Answer ``question`` from the collection, with citations and usage."""
        return self._query().ask(question, filters=filters, k=k)

    def ask_stream(
        self, question: str, *, filters: Filters | None = None, k: int | None = None
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it is generated, then the finished Answer."""
        yield from self._query().ask_stream(question, filters=filters, k=k)

    def costs(self, since: str | datetime | None = None) -> CostSummary:
        """Calls, tokens and cost per day, backend and model from the call log
        (``since``: a datetime or a span like ``"7d"``, ``"24h"``)."""
        from rag.calllog import parse_since

        start = parse_since(since) if isinstance(since, str) else since
        return self.call_log.summary(start)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> RAG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
