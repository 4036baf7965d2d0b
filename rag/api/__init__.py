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

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag import tracing
from rag.api import _ingest
from rag.api._parts import Parts, capable_model
from rag.config import Settings

if TYPE_CHECKING:
    from rag.costs.calllog import CostSummary
    from rag.llms.base import LLM
    from rag.pipelines.batch import Done
    from rag.pipelines.conversation import Turn
    from rag.pipelines.ingest import ProgressCallback
    from rag.pipelines.ingest_estimate import IngestEstimate
    from rag.pipelines.query import PreparedPrompt
    from rag.stores.base import Filters
    from rag.types import Answer, AskFailure, IngestReport, Retrieval

__all__ = ["RAG", "capable_model"]


class RAG(Parts):
    """Ingest documents and answer questions about them.

    Parts not given are built from ``settings`` on first use, so creating a RAG is cheap
    and a process that only ingests never loads the LLM. Safe to share across threads.
    """

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
        return _ingest.ingest(
            self,
            path,
            include=include,
            exclude=exclude,
            prune=prune,
            progress=progress,
            allow_roots=allow_roots,
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
        return _ingest.ingest_documents(self, docs, source=source)

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
        return _ingest.plan_ingest(
            self, path, include=include, exclude=exclude, prune=prune, allow_roots=allow_roots
        )

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
        prepared: PreparedPrompt | None = None,
    ) -> Answer:
        """Answer ``question`` from the collection, with citations and usage. ``history``:
        the conversation so far, oldest first, as ``Message``s or ``(role, content)`` tuples
        (user and assistant); ``retrieval``: hits already retrieved (``retrieve``), packed as
        they are, their ``seconds`` reported as the retrieval's; ``prepared``: the prompt
        ``prepare`` returned for this question, sent as it is (nothing retrieved or packed
        again; it wins over ``retrieval``, ``filters``, ``k`` and ``history``; a prompt for
        another question is a ValueError)."""
        with self.trace_scope():
            return self.query_pipeline.ask(
                question,
                filters=filters,
                k=k,
                history=history,
                retrieval=retrieval,
                prepared=prepared,
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
        prepared: PreparedPrompt | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer's text as it is generated, then the finished Answer. Given
        ``retrieval`` (the sources a caller showed first, from ``retrieve``), it does not
        retrieve again; given ``prepared`` (the prompt ``prepare`` returned for this
        question), it sends that prompt as it is, as ``ask`` does."""
        stream = self.query_pipeline.ask_stream(
            question,
            filters=filters,
            k=k,
            history=history,
            retrieval=retrieval,
            prepared=prepared,
        )
        yield from tracing.iterate(stream, self._tracing, self.settings.trace_content)

    def costs(self, since: str | datetime | None = None) -> CostSummary:
        """Calls, tokens and cost per day, backend and model from the call log
        (``since``: a datetime or a span like ``"7d"``, ``"24h"``)."""
        from rag.costs.calllog import parse_since

        start = parse_since(since) if isinstance(since, str) else since
        return self.call_log.summary(start)

    def __enter__(self) -> RAG:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
