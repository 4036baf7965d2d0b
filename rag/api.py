"""``RAG``: the library entry point. One object holds the settings, the store, the
embedder and the LLM (each built on first use), and runs ingest and ask.

    from rag import RAG
    r = RAG()                        # embedded defaults
    report = r.ingest("./docs")      # IngestReport
    answer = r.ask("...")            # Answer: text, citations, usage
    hits = r.retrieve("...")         # Retrieval: hits and each hit's rank per leg
    prompt = r.prepare("...")        # PreparedPrompt: the exact prompt, sources, notes
    a2 = r.ask("and how long does that take?", history=[("user", q1), ("assistant", a1)])
    answers = r.ask_many(questions, concurrency=8)   # an Answer or an AskFailure per question

One ``RAG`` is safe to share across threads: each part, the retriever and the query pipeline
are built once (under a lock) and keep no per-call state; every call returns its facts as
values. ``close()`` releases the store, the keyword index and the retriever's threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from rag import tracing
from rag.config import Settings, load_settings

if TYPE_CHECKING:
    from rag.chunking import Chunker
    from rag.connectors import LoaderRegistry
    from rag.costs.calllog import CallLogLike, CostSummary
    from rag.embeddings import Embedder
    from rag.keywords import KeywordTokenizer
    from rag.llms.base import LLM
    from rag.pipelines.batch import Done
    from rag.pipelines.conversation import Turn
    from rag.pipelines.hybrid import HybridRetriever
    from rag.pipelines.ingest import ProgressCallback
    from rag.pipelines.ingest_estimate import IngestEstimate
    from rag.pipelines.query import PreparedPrompt, QueryPipeline
    from rag.pipelines.rerank import RerankingRetriever
    from rag.stores.base import Filters, Store
    from rag.types import Answer, AnswerMode, AskFailure, IngestReport, Retrieval

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


class RAG:
    """Ingest documents and answer questions about them.

    Parts not given are built from ``settings`` on first use, so creating a RAG is cheap
    and a process that only ingests never loads the LLM. Safe to share across threads.
    """

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
        self._parent: RAG | None = None
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
    def from_toml(cls, path: str | Path, **overrides: Any) -> RAG:
        """Settings from a TOML file (env vars and ``overrides`` still take precedence)."""
        return cls(load_settings(path, **overrides))

    @property
    def store(self) -> Store:
        return self._lazy("_store", self._build_store)

    def _build_store(self) -> Store:
        from rag.stores import make_store

        return make_store(self.settings)

    @property
    def embedder(self) -> Embedder:
        return self._lazy("_embedder", self._build_embedder)

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

    def with_settings(self, settings: Settings, *, llm: LLM | None = None) -> RAG:
        """A RAG with other query settings (retrieval mode, ``top_k``, budget, ...) over this
        one's store, embedder, keyword index and tokenizer, so models and indexes load once.

        Ingest settings (store, collection, chunking, embedding model) must stay the same:
        the parts are shared, not rebuilt. ``llm`` replaces the model (default: a model
        built from ``settings`` on first use). Closing the returned RAG stops only its own
        retriever; the shared parts close with this one.
        """
        other = RAG(settings, llm=llm)
        other._parent = self
        return other

    def ingest(
        self,
        path: str | Path,
        *,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        prune: bool | None = None,
        progress: ProgressCallback | None = None,
        allow_roots: list[Path] | None = None,
    ) -> IngestReport:
        """Load, chunk, embed and store everything under ``path`` that is new or changed.
        Nothing is read from outside ``path`` or ``allow_roots`` (default: the setting)."""
        if self.settings.ingest_engine == "ray":
            return self._ingest_ray(path, include, exclude, prune, progress, allow_roots)
        import time

        from rag.pipelines.ingest import IngestParts, IngestPipeline

        # factories, not parts: an ingest that finds nothing new or changed never builds the
        # embedding model or the keyword tokenizer
        # seconds spent building the models (an ONNX export, a model load, Kiwi's dictionary):
        # a one-off, left out of the embedding rate the dry run estimates with
        building = [0.0]

        def timed(build: Callable[[], _T]) -> Callable[[], _T]:
            def made() -> _T:
                started = time.perf_counter()
                built = build()
                building[0] += time.perf_counter() - started
                return built

            return made

        parts = IngestParts(
            embedder=timed(lambda: self.embedder),
            chunker=timed(lambda: self.chunker),
            keyword_tokenizer=timed(lambda: self.keyword_tokenizer),
        )
        with self.trace_scope():
            pipeline = IngestPipeline.from_parts(self.store, parts, loaders=self.loaders)
            report = pipeline.run(
                path,
                include=include if include is not None else self.settings.include,
                exclude=exclude if exclude is not None else self.settings.exclude,
                prune=self.settings.prune if prune is None else prune,
                progress=progress,
                allow_roots=allow_roots if allow_roots is not None else self.settings.allow_roots,
            )
        if report.chars_embedded:  # this machine's rate (building the model apart), for the
            from rag.embeddings import identity_of  # next ``plan_ingest``
            from rag.pipelines.ingest_estimate import EmbedRates

            key = identity_of(self.embedder).key()
            seconds = report.seconds - building[0]
            EmbedRates(self.settings.cache_dir).record(key, seconds, report.chars_embedded)
        return report

    def _ingest_ray(
        self,
        path: str | Path,
        include: list[str] | None,
        exclude: list[str] | None,
        prune: bool | None,
        progress: ProgressCallback | None,
        allow_roots: list[Path] | None,
    ) -> IngestReport:
        """``ingest`` with ``ingest_engine = "ray"`` (``rag.pipelines.ingest_ray``): the
        workers build the embedder from these settings, one CPU thread per actor."""
        from functools import partial

        from rag.embeddings import make_embedder
        from rag.pipelines.ingest_ray import RayIngest, RayParts

        s = self.settings
        parent_given = self._parent is not None and self._parent._embedder_given
        if self._embedder_given or parent_given:  # shipped to the workers as it is (it must pickle)
            embedder_factory: Any = partial(_same, self.embedder)
        else:
            worker_settings = s.model_copy(update={"embed_threads": 1})
            embedder_factory = partial(make_embedder, worker_settings)
        parts = RayParts(
            embedder=embedder_factory,
            chunker=self.chunker,
            keyword_tokenizer=self.keyword_tokenizer,
            loaders=self.loaders,
        )
        engine = RayIngest(self.store, parts, lambda: self.embedder, address=s.ray_address)
        return engine.run(
            path,
            include=include if include is not None else s.include,
            exclude=exclude if exclude is not None else s.exclude,
            prune=s.prune if prune is None else prune,
            progress=progress,
            allow_roots=allow_roots if allow_roots is not None else s.allow_roots,
        )

    def ingest_documents(
        self, docs: Iterable[object], *, source: str | None = None
    ) -> IngestReport:
        """Chunk, embed and store documents held in memory, incrementally as ``ingest``: rag
        ``Document``s, LangChain ``Document``s (``page_content``, ``metadata``) or LlamaIndex
        ``Document``s (``text``, ``metadata``). A source (``source``, else each document's
        ``source``/``file_path``/``file_name`` metadata, else an id from its text) is one
        file: unchanged ones are skipped, a changed one replaces exactly its changed chunks.
        ``rag.pipelines.ingest_documents`` says how; the metadata round-trips exactly."""
        from rag.pipelines.ingest import IngestParts, IngestPipeline
        from rag.pipelines.ingest_commit import Committer
        from rag.pipelines.ingest_documents import SourceChunker, plan_documents

        manifest = self.store.sources()
        committer = Committer(self.store, keywords=True)
        plan = plan_documents(docs, manifest, committer, source=source)
        # factories, as for ``ingest``: nothing unchanged builds the embedding model
        parts = IngestParts(
            embedder=lambda: self.embedder,
            chunker=lambda: SourceChunker(self.chunker, plan.fold),
            keyword_tokenizer=lambda: self.keyword_tokenizer,
        )
        pipeline = IngestPipeline.from_parts(self.store, parts, loaders=plan.given)
        return pipeline.run_planned(plan.files, manifest)

    def plan_ingest(
        self,
        path: str | Path,
        *,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        prune: bool | None = None,
        allow_roots: list[Path] | None = None,
    ) -> IngestEstimate:
        """What ``ingest`` would do (``rag ingest --dry-run``): per category of file, the
        files, chunks (exact: load and chunk run), tokens to embed, estimated seconds and
        cost. Nothing is embedded or written; a store that does not exist yet is not created."""
        from rag.embeddings import identity_of
        from rag.pipelines.ingest_estimate import EmbedRates, estimate_ingest

        s = self.settings
        embedder = self.embedder
        identity = identity_of(embedder)
        billing: tuple[str, str] | None = getattr(embedder, "billing", None)
        hosted = billing is not None
        return estimate_ingest(
            self._store_to_plan(),
            path,
            chunker=self.chunker,
            tokenizer=embedder.tokenizer,
            embedder_key=identity.key(),
            embedder_label=f"{billing[0]}:{billing[1]}" if billing else identity.describe(),
            hosted=hosted,
            billing=billing,
            prices=getattr(embedder, "prices", None),
            rates=EmbedRates(s.cache_dir),
            include=include if include is not None else s.include,
            exclude=exclude if exclude is not None else s.exclude,
            prune=s.prune if prune is None else prune,
            allow_roots=allow_roots if allow_roots is not None else s.allow_roots,
            loaders=self.loaders,
        )

    def _store_to_plan(self) -> Store:
        """The store, unless opening it would create it (an embedded Chroma directory not made
        yet): then an empty stand-in, so a dry run leaves the data directory as it was."""
        s = self.settings
        fresh = s.store == "chroma" and not s.chroma_url and not s.chroma_path.exists()
        if self._store is None and fresh:
            from rag.stores.memory import MemoryStore

            return MemoryStore(s.collection)
        return self.store

    def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Retrieval:
        """The best distinct chunks for ``question``, without generating: a ``Retrieval``
        (a sequence of ``ScoredChunk``, best first) that also says each hit's rank per leg.
        After a ``history``, ``question`` is retrieved as a follow-up (as ``ask`` does)."""
        from rag.pipelines.query import clean_question, retrieve_follow_up

        question = clean_question(question)

        def terms(texts: Sequence[str]) -> list[list[str]]:
            # the keyword tokenizer is built only for a follow-up (a history) that needs it
            return self.keyword_tokenizer.tokenize_batch(texts)

        with self.trace_scope():
            if history and self.settings.follow_up_rewrite != "rule" and self.rewrites_follow_ups:
                return self.query_pipeline.retrieve(question, k=k, filters=filters, history=history)
            return retrieve_follow_up(
                self.retriever, terms, question, k=k, filters=filters, history=history
            )

    def prepare(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        retrieval: Retrieval | None = None,
        history: Sequence[Turn] | None = None,
    ) -> PreparedPrompt:
        """The exact prompt ``ask`` would send for ``question`` (messages, the numbered sources
        as citations, notes on what was picked and cut), without generating. Retrieves as
        ``ask`` does, or packs the hits of ``retrieval`` when given."""
        if retrieval is None:
            retrieval = self.retrieve(question, k=k, filters=filters, history=history)
        with self.trace_scope():
            return self.query_pipeline.prepare(question, retrieval, history=history)

    def ask(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
    ) -> Answer:
        """Answer ``question`` from the collection, with citations and usage. ``history``:
        the conversation so far, oldest first, as ``Message``s or ``(role, content)`` tuples
        (user and assistant); ``retrieval``: hits already retrieved, packed as they are."""
        with self.trace_scope():
            return self.query_pipeline.ask(
                question, filters=filters, k=k, history=history, retrieval=retrieval
            )

    def ask_many(
        self,
        questions: Sequence[str],
        *,
        concurrency: int | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        on_done: Done | None = None,
    ) -> list[Answer | AskFailure]:
        """Answer every question, ``concurrency`` at a time (default: setting
        ``batch_concurrency``), in one retrieval pass on the one loaded model: an ``Answer``
        or an ``AskFailure`` per question, in order (``rag.pipelines.batch``). One question's
        failure never stops the others; ``on_done(index, result)`` hears of each as it
        finishes."""
        from rag.pipelines.batch import ask_many

        s = self.settings
        return ask_many(
            self.query_pipeline,
            questions,
            concurrency=s.batch_concurrency if concurrency is None else concurrency,
            filters=filters,
            k=k,
            reuse_prefix=s.batch_reuse_prefix,
            on_done=on_done,
        )

    def ask_stream(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it is generated, then the finished Answer. Given
        ``retrieval`` (the sources a caller showed first, from ``retrieve``), it does not
        retrieve again."""
        stream = self.query_pipeline.ask_stream(
            question, filters=filters, k=k, history=history, retrieval=retrieval
        )
        yield from tracing.iterate(stream, self._tracing, self.settings.trace_content)

    def costs(self, since: str | datetime | None = None) -> CostSummary:
        """Calls, tokens and cost per day, backend and model from the call log
        (``since``: a datetime or a span like ``"7d"``, ``"24h"``)."""
        from rag.costs.calllog import parse_since

        start = parse_since(since) if isinstance(since, str) else since
        return self.call_log.summary(start)

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

    def __enter__(self) -> RAG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _same(part: _T) -> _T:
    """A factory of a part that is given (``functools.partial(_same, part)`` pickles)."""
    return part


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
