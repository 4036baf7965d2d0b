"""``Runner``: where an ``AsyncRAG``'s work runs: the RAG and executor it owns or borrows, the
async twins of its LLMs and retriever, retrieval up to the packed prompt, and closing them."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar

from rag import tracing
from rag.api import RAG
from rag.config import Settings, load_settings

if TYPE_CHECKING:
    from rag.chunking import Chunker
    from rag.connectors import LoaderRegistry
    from rag.embeddings import Embedder
    from rag.llms.base import LLM, AsyncLLM
    from rag.pipelines.conversation import FollowUp, Turn
    from rag.pipelines.hybrid_async import AsyncHybridRetriever
    from rag.pipelines.query import PreparedPrompt, QueryPipeline
    from rag.stores.base import Filters, Store
    from rag.types import Retrieval

_T = TypeVar("_T")

WORKER_THREAD_PREFIX = "rag-aio"
"""Name prefix of the executor's threads (so tests and operators can find them)."""


class Runner:
    """What ``AsyncRAG`` stands on: its RAG, its executor, the async twins of its LLMs and
    retriever, and the steps up to a packed prompt (``rag.aio`` says what runs where)."""

    _aretriever: AsyncHybridRetriever | None = None
    """The async twin of the retriever, when the store has async queries (pgvector); made by
    the first retrieval, closed by ``aclose``."""
    _aretriever_made: bool = True
    """Whether ``_aretriever`` is settled. ``__init__`` unsettles it; an AsyncRAG made without
    it (a light wrapper over a RAG it does not own) makes no twin, whose pool it could not
    close: its retrieval runs in the executor."""
    _aretriever_lock: ClassVar[threading.Lock] = threading.Lock()
    """Held only to publish a twin (which opens nothing until its first query)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        llm: LLM | None = None,
        chunker: Chunker | None = None,
        loaders: LoaderRegistry | None = None,
        **overrides: Any,
    ) -> None:
        self.rag = RAG(
            settings,
            store=store,
            embedder=embedder,
            llm=llm,
            chunker=chunker,
            loaders=loaders,
            **overrides,
        )
        """The sync twin holding the parts (built on first use, in the executor)."""
        self.settings = self.rag.settings
        self.executor: Executor = ThreadPoolExecutor(
            max_workers=self.settings.async_workers, thread_name_prefix=WORKER_THREAD_PREFIX
        )
        """Where every blocking call runs (module docstring)."""
        self._owned = True
        """Whether ``aclose`` closes the RAG, the LLMs' async clients and the executor."""
        self._aretriever_made = False
        self._views: dict[int, AsyncLLM] = {}
        """The async twin of each LLM this AsyncRAG generated with, by ``id`` (one, in practice)."""
        self._closed = False

    @classmethod
    def wrap(cls, rag: RAG, *, executor: Executor) -> Self:
        """An AsyncRAG over ``rag`` (its parts, settings and call log) whose blocking calls run
        in ``executor``. It owns neither: ``aclose`` closes nothing of them, nor the async
        clients of ``rag``'s LLM (``await llm.aclose()`` on the loop that used them, or let the
        owner of the LLM do it). Cheap: it builds no part."""
        self = cls.__new__(cls)
        self.rag = rag
        self.settings = rag.settings
        self.executor = executor
        self._owned = False
        self._views = {}
        self._closed = False
        return self

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> Self:
        """Settings from a TOML file (env vars and ``overrides`` still take precedence)."""
        return cls(load_settings(path, **overrides))

    # --- running ---

    async def _run(self, fn: Callable[..., _T], /, *args: Any, **kwargs: Any) -> _T:
        """``fn(*args, **kwargs)`` in the executor, awaited (in the caller's trace context:
        ``run_in_executor`` does not carry it)."""
        if self._closed:
            raise RuntimeError("this AsyncRAG is closed; make a new one")
        loop = asyncio.get_running_loop()
        call = tracing.bind(functools.partial(fn, *args, **kwargs))
        return await loop.run_in_executor(self.executor, call)

    def _async_llm(self, llm: LLM) -> AsyncLLM:
        """The async twin of ``llm`` (``rag.llms.as_async``), made once."""
        view = self._views.get(id(llm))
        if view is None:
            from rag.llms import as_async

            view = self._views[id(llm)] = as_async(llm, self.executor)
        return view

    def _make_aretriever(self) -> AsyncHybridRetriever | None:
        """(In the executor, once) the retriever (built on first use) and its async twin."""
        from rag.pipelines.hybrid_async import async_retriever

        retriever = self.rag.retriever  # may load the embedder: outside the lock
        with self._aretriever_lock:
            if not self._aretriever_made:
                self._aretriever = async_retriever(retriever, self.executor)
                self._aretriever_made = True
        return self._aretriever

    def _follow_up(self, question: str, history: Sequence[Turn]) -> FollowUp | None:
        """(In the executor: the keyword tokenizer runs) a follow-up's retrieval context."""
        from rag.pipelines.conversation import check_history, follow_up, rewritten

        turns = check_history(history)
        terms = self.rag.keyword_tokenizer.tokenize_batch
        follow = follow_up(question, turns, terms) if turns else None
        rewriter = self.rag.query_pipeline.rewriter if follow is not None else None
        rewrite = rewriter(question, turns) if rewriter is not None else None
        return follow if rewrite is None else rewritten(question, turns, rewrite, terms)

    async def _retrieval(
        self,
        question: str,
        k: int | None,
        filters: Filters | None,
        history: Sequence[Turn] | None = None,
    ) -> Retrieval | None:
        """Retrieval on the store's async queries (as a follow-up after a ``history``), timed
        in its ``seconds``, or None when the store has none (then the caller retrieves in the
        executor)."""
        started = time.perf_counter()
        aretriever = self._aretriever
        if not self._aretriever_made:
            aretriever = await self._run(self._make_aretriever)
        if aretriever is None:
            return None
        follow = await self._run(self._follow_up, question, history) if history else None
        if self._closed:
            raise RuntimeError("this AsyncRAG is closed; make a new one")
        if follow is None:
            found = await aretriever.retrieve(question, k=k, filters=filters)
        else:
            found = await aretriever.retrieve(
                question,
                k=k,
                filters=filters,
                context_terms=follow.context_terms,
                dense_query=follow.dense_query,
            )
            if follow.rewritten:
                found = dataclasses.replace(found, rewritten=True)
        return dataclasses.replace(found, seconds=time.perf_counter() - started)

    def _packed(
        self,
        question: str,
        hits: Retrieval,
        history: Sequence[Turn] | None = None,
    ) -> tuple[QueryPipeline, PreparedPrompt, float]:
        """(In the executor) the query pipeline, the prompt for ``hits`` and their seconds."""
        pipeline = self.rag.query_pipeline
        prepared = pipeline.prepare(question, hits, history=history)
        return pipeline, prepared, prepared.retrieval_seconds

    def _prepared(
        self,
        question: str,
        filters: Filters | None,
        k: int | None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
        prepared: PreparedPrompt | None = None,
    ) -> tuple[QueryPipeline, PreparedPrompt, float]:
        """(In the executor) the query pipeline (built on first use, with its LLM: a local
        model loads here, not on the loop), the prompt and the retrieval's seconds
        (``QueryPipeline.prepared_for``: a given ``retrieval`` packed, a given ``prepared``
        checked and sent as it is)."""
        pipeline = self.rag.query_pipeline
        prompt, retrieval_s = pipeline.prepared_for(
            question,
            filters=filters,
            k=k,
            history=history,
            retrieval=retrieval,
            prepared=prepared,
        )
        return pipeline, prompt, retrieval_s

    async def _start(
        self,
        question: str,
        filters: Filters | None,
        k: int | None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
        prepared: PreparedPrompt | None = None,
    ) -> tuple[QueryPipeline, PreparedPrompt, float]:
        """The query pipeline, the prompt and the retrieval's seconds (a given ``retrieval``'s
        or ``prepared`` prompt's own): a given prompt as it is, a given retrieval packed,
        else retrieval on the store's async queries when it has them, else all of it in the
        executor."""
        if retrieval is not None or prepared is not None:
            return await self._run(
                self._prepared, question, filters, k, history, retrieval, prepared
            )
        hits = await self._retrieval(question, k, filters, history)
        if hits is None:
            return await self._run(self._prepared, question, filters, k, history)
        return await self._run(self._packed, question, hits, history)

    # --- closing ---

    async def aclose(self) -> None:
        """Close the async LLM clients, the store and the retriever's threads, then wait for
        the executor's threads to end; for a ``wrap``, only stop taking calls. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if not self._owned:
            self._views = {}
            return
        views, self._views = list(self._views.values()), {}
        try:
            for view in views:
                await view.aclose()
            if self._aretriever is not None:
                await self._aretriever.aclose()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self.executor, self.rag.close)
        finally:
            await _shutdown(self.executor)


async def _shutdown(executor: Executor) -> None:
    """``executor.shutdown(wait=True)`` without blocking the loop: a helper thread joins the
    workers and wakes the loop when they are gone."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    def join() -> None:
        executor.shutdown(wait=True, cancel_futures=True)
        with contextlib.suppress(RuntimeError):  # the loop is gone already
            loop.call_soon_threadsafe(wake)

    helper = threading.Thread(target=join, name=f"{WORKER_THREAD_PREFIX}-shutdown", daemon=True)
    helper.start()
    await done
    helper.join()  # it has only to return: woken by its last statement
