"""``AsyncRAG``: the async twin of ``rag.api.RAG``, for async backends (FastAPI, aiohttp, ...).

    from rag import AsyncRAG
    async with AsyncRAG() as r:
        report = await r.ingest("./docs")
        answer = await r.ask("...")
        async for piece in r.ask_stream("..."):   # str deltas, then the Answer
            ...
        answers = await r.ask_many(questions, concurrency=8)  # Answer or AskFailure each

Same constructor, parts and results as ``RAG`` (it holds one, ``.rag``, and shares its parts);
the same methods awaited: ``ingest``, ``ingest_documents``, ``retrieve``, ``prepare``, ``ask``,
``ask_stream``, ``costs``, ``aclose``. Twins, not a flag (httpx's ``Client``/``AsyncClient``).

Where each call runs. Nothing blocking runs on the event loop:

- **On the loop**: generation by a hosted LLM (``openai``, ``anthropic``,
  ``openai-compatible``), through the SDK's async client (``AsyncOpenAI``, ``AsyncAnthropic``;
  ``rag.llms.base.AsyncLLM``); a routing policy's retries, fallback and waits
  (``rag.llms.routing.AsyncRoutedLLM``); the store queries of a store that
  ``supports_async_query``: pgvector's, on ``psycopg_pool.AsyncConnectionPool`` (a pool of
  its own, opened by the first query, closed by ``aclose``), the dense and keyword legs at
  once, then their fusion (``rag.pipelines.hybrid_async``). The one blocking step left
  there: the first hosted call on a loop builds that loop's SDK client (the SDK reads its
  CA bundle, once).
- **In the executor**, one ``ThreadPoolExecutor`` owned by the AsyncRAG, of
  ``settings.async_workers`` threads (``RAG_ASYNC_WORKERS``, default 4), named ``rag-aio-*``:
  a batch's one retrieval pass (``ask_many``, ``rag.pipelines.batch``);
  building the parts (loading models, opening the store); embedding the question with
  ONNX/torch and the keyword tokenizer (for pgvector too); the whole retrieval over the other
  stores (embedded Chroma, the memory store, their BM25 sidecars); MMR, a reranker, and the
  store look-ups that explain an empty result; packing the prompt (the model's tokenizer,
  sentence selection); the extractive answer; the sentence check of a generated answer;
  writing the call log (SQLite); the routing budget's look-up of today's spend; ``ingest``
  whole (file loading, chunking, embedding, writing: pgvector's writes have no async twin;
  its ``progress`` callback is called on a worker thread, and the ingest pipeline's own
  helper threads are its own); ``costs``; closing.
- **Generation by a backend without a native async path** (llama.cpp, ``rag.testing``'s
  fakes) runs in the executor too (``rag.llms.offload.OffloadedLLM``). A stream holds one
  worker while it generates and hands each delta to the loop with
  ``loop.call_soon_threadsafe``, so the loop stays responsive between tokens; a consumer that
  stops early (``break``, cancellation, ``aclose()`` of the generator) makes the worker close
  the llama.cpp stream, which releases the model's lock, before the generator's close returns.

Concurrency: calls beyond ``async_workers`` wait for a worker (llama.cpp generations on one
model run one at a time anyway, see ``rag.llms.llamacpp``). ``aclose()`` closes the hosted async
clients it opened, the async pool of the store's queries, the store and the retriever's
threads, and waits for the executor's threads to end; calls after it raise ``RuntimeError``.

Sharing an executor: ``AsyncRAG.wrap(rag, executor=pool)`` puts an existing ``RAG`` behind the
same async face, its blocking calls in an executor the caller owns (``rag serve`` answers every
collection through one, on its one bounded pool). Such an AsyncRAG owns nothing: its
``aclose()`` only stops it taking calls; the RAG, its LLM's async clients
(``AsyncLLM.aclose``) and the executor are closed by whoever made them. Wrapping is cheap (no
part is built), so a wrapper may live for one request; it opens no async store pool (which
it could not close), so its retrieval runs in the executor.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterable, Sequence
from contextlib import aclosing
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rag.aio._runner import WORKER_THREAD_PREFIX, Runner

if TYPE_CHECKING:
    from rag.costs.calllog import CostSummary
    from rag.llms.base import AsyncLLM, Completion
    from rag.pipelines.batch import Done
    from rag.pipelines.conversation import Turn
    from rag.pipelines.ingest import ProgressCallback
    from rag.pipelines.query import PreparedPrompt, QueryPipeline
    from rag.stores.base import Filters
    from rag.types import Answer, AskFailure, IngestReport, Retrieval

__all__ = ["WORKER_THREAD_PREFIX", "AsyncRAG"]


class AsyncRAG(Runner):
    """Ingest documents and answer questions about them, awaited. See the module docstring
    for what runs where. Safe to share across the tasks of one event loop."""

    # --- the calls ---

    async def ingest(
        self,
        path: str | Path,
        *,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        prune: bool | None = None,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """``RAG.ingest`` in the executor (``progress`` is called on a worker thread; the
        RAG traces it there)."""
        return await self._run(
            self.rag.ingest, path, include=include, exclude=exclude, prune=prune, progress=progress
        )

    async def ingest_documents(
        self, docs: Iterable[object], *, source: str | None = None
    ) -> IngestReport:
        """``RAG.ingest_documents`` (rag, LangChain or LlamaIndex Documents) in the executor."""
        return await self._run(self.rag.ingest_documents, docs, source=source)

    async def retrieve(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        history: Sequence[Turn] | None = None,
    ) -> Retrieval:
        """``RAG.retrieve``: the best distinct chunks for ``question``, without generating."""
        with self.rag.trace_scope():
            hits = await self._retrieval(question, k, filters, history)
        if hits is None:
            return await self._run(
                self.rag.retrieve, question, k=k, filters=filters, history=history
            )
        return hits

    async def prepare(
        self,
        question: str,
        *,
        k: int | None = None,
        filters: Filters | None = None,
        retrieval: Retrieval | None = None,
        history: Sequence[Turn] | None = None,
    ) -> PreparedPrompt:
        """``RAG.prepare``: the exact prompt ``ask`` would send, without generating."""
        if retrieval is None:
            with self.rag.trace_scope():
                retrieval = await self._retrieval(question, k, filters, history)
        return await self._run(
            self.rag.prepare, question, k=k, filters=filters, retrieval=retrieval, history=history
        )

    async def ask(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
        prepared: PreparedPrompt | None = None,
    ) -> Answer:
        """``RAG.ask``: retrieval and checks in the executor, generation awaited (the same
        spans as ``RAG.ask``). ``prepared``: the prompt ``prepare`` returned for this
        question, sent as it is (nothing retrieved or packed again; it wins over
        ``retrieval``; one for another question is a ValueError)."""
        from rag.pipelines.query import clean_question
        from rag.pipelines.spans import ask_span, finish_ask_span

        question = clean_question(question)
        with self.rag.trace_scope(), ask_span(self.settings.collection, question) as sp:
            answer = await self._ask(question, filters, k, history, retrieval, prepared)
            finish_ask_span(sp, answer)
            return answer

    async def _ask(
        self,
        question: str,
        filters: Filters | None,
        k: int | None,
        history: Sequence[Turn] | None,
        retrieval: Retrieval | None,
        given: PreparedPrompt | None,
    ) -> Answer:
        pipeline, prepared, retrieval_s = await self._start(
            question, filters, k, history, retrieval, given
        )
        return await self._answered(pipeline, question, prepared, retrieval_s)

    async def _answered(
        self,
        pipeline: QueryPipeline,
        question: str,
        prepared: PreparedPrompt,
        retrieval_s: float,
        llm: AsyncLLM | None = None,
    ) -> Answer:
        """The answer to a packed prompt: extracted in the executor, or generated (awaited on
        ``llm``, default the pipeline's model) and checked in the executor."""
        from rag.pipelines.spans import generate_span, usage_attributes

        if pipeline.answer_mode == "extractive":
            return await self._run(pipeline.extract, question, prepared, retrieval_s)
        llm = llm or self._async_llm(pipeline.llm)
        with generate_span(pipeline.llm, pipeline.max_tokens) as gen:
            try:
                completion = await llm.acomplete(prepared.messages, max_tokens=pipeline.max_tokens)
            except Exception as exc:
                await self._run(pipeline.record_failure, question, exc)
                raise
            gen.set(usage_attributes(completion.usage))
        return await self._run(pipeline.generated, question, prepared, completion, retrieval_s)

    async def ask_many(
        self,
        questions: Sequence[str],
        *,
        concurrency: int | None = None,
        filters: Filters | None = None,
        k: int | None = None,
        on_done: Done | None = None,
    ) -> list[Answer | AskFailure]:
        """``RAG.ask_many``: one retrieval pass in the executor, then ``concurrency`` questions
        at a time (hosted models on their async clients, the local model in the executor, one
        at a time); an Answer or an AskFailure per question, in order. ``on_done`` is called
        on the loop."""
        from rag.llms import as_async
        from rag.pipelines.batch import batch_llm, check_concurrency, failure
        from rag.pipelines.query import clean_question

        s = self.settings
        gate = asyncio.Semaphore(
            check_concurrency(s.batch_concurrency if concurrency is None else concurrency)
        )
        cleaned = [clean_question(q) for q in questions]
        if not cleaned:
            return []
        started = time.perf_counter()
        pipeline, retrievals = await self._run(self._retrieve_many, cleaned, k, filters)
        share = (time.perf_counter() - started) / len(cleaned)
        twin = batch_llm(pipeline.llm, reuse_prefix=s.batch_reuse_prefix)
        # the batch's own twin is not cached by id (it dies with the batch)
        view = self._async_llm(twin) if twin is pipeline.llm else as_async(twin, self.executor)

        async def one(i: int) -> Answer | AskFailure:
            result: Answer | AskFailure
            async with gate:
                found = retrievals[i]
                try:
                    if isinstance(found, Exception):
                        raise found
                    _, prepared, _ = await self._run(self._packed, cleaned[i], found)
                    result = await self._answered(pipeline, cleaned[i], prepared, share, view)
                except Exception as exc:
                    result = failure(i, cleaned[i], exc)
            if on_done is not None:
                on_done(i, result)
            return result

        return list(await asyncio.gather(*(one(i) for i in range(len(cleaned)))))

    def _retrieve_many(
        self, questions: Sequence[str], k: int | None, filters: Filters | None
    ) -> tuple[QueryPipeline, list[Retrieval | Exception]]:
        """(In the executor) the query pipeline and the batch's one retrieval pass."""
        from rag.errors import ConfigError
        from rag.pipelines.batch import retrieve_many

        pipeline = self.rag.query_pipeline
        try:
            return pipeline, retrieve_many(pipeline.retriever, questions, k=k, filters=filters)
        except ConfigError:
            raise
        except Exception as exc:
            return pipeline, [exc] * len(questions)

    async def ask_stream(
        self,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
        prepared: PreparedPrompt | None = None,
    ) -> AsyncGenerator[str | Answer, None]:
        """``RAG.ask_stream``: the answer's text as it is generated, then the finished Answer.
        Stopping early (``break``, ``aclose()``) ends the generation and frees the model.
        Given ``retrieval`` (from ``retrieve``), it does not retrieve again; given
        ``prepared`` (from ``prepare``, for this question), it sends that prompt as it is."""
        from rag.pipelines.query import clean_question
        from rag.pipelines.spans import (
            ask_span,
            finish_ask_span,
            generate_span,
            usage_attributes,
        )

        # the spans are held across the yields but made current only between them, so the
        # consumer's context is never changed (an async generator runs in the consumer's task)
        question = clean_question(question)
        given = prepared
        with self.rag.trace_scope():
            root = ask_span(self.settings.collection, question)
        failure: BaseException | None = None
        try:
            with root.active():
                pipeline, prepared, retrieval_s = await self._start(
                    question, filters, k, history, retrieval, given
                )
            if pipeline.answer_mode == "extractive":
                with root.active():
                    answer = await self._run(pipeline.extract, question, prepared, retrieval_s)
                finish_ask_span(root, answer)
                yield answer.text
                yield answer
                return
            llm = self._async_llm(pipeline.llm)
            completion: Completion | None = None
            with root.active():
                gen = generate_span(pipeline.llm, pipeline.max_tokens)
            try:
                stream = llm.astream(prepared.messages, max_tokens=pipeline.max_tokens)
                async with aclosing(stream) as events:
                    async for event in events:
                        if event.completion is not None:
                            completion = event.completion
                        elif event.text:
                            yield event.text
            except BaseException as exc:
                gen.end(exc)
                if isinstance(exc, Exception):
                    await self._run(pipeline.record_failure, question, exc)
                raise
            assert completion is not None, "an LLM stream must end with its completion"
            gen.set(usage_attributes(completion.usage))
            gen.end()
            with root.active():
                answer = await self._run(
                    pipeline.generated, question, prepared, completion, retrieval_s
                )
            finish_ask_span(root, answer)
            yield answer
        except BaseException as exc:
            failure = exc
            raise
        finally:
            root.end(failure)

    async def costs(self, since: str | datetime | None = None) -> CostSummary:
        """``RAG.costs``: calls, tokens and cost from the call log."""
        return await self._run(self.rag.costs, since)

    async def __aenter__(self) -> AsyncRAG:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
