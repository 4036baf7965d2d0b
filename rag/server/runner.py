"""The one seam between the async routes and rag: ``AsyncRAG`` on one bounded server executor.

The app owns one ``ThreadPoolExecutor`` of ``server.executor_threads`` threads (``rag-serve-*``).
Asks go through ``AsyncRAG.wrap(collection's RAG, executor=that pool)`` (``rag.aio``): a hosted
LLM (openai, anthropic, openai-compatible) generates on its async SDK client on the event loop,
so a generation holds no thread; retrieval, prompt packing, the sentence check, the call log and
a local model (llama.cpp, in ``rag.llms.offload``) run in the pool. Every other blocking call
(opening a collection, an upload's ingest, a search, listing, deleting) runs in the same pool
through ``run``. Each call waits at most ``server.request_timeout_s`` (503 ``unavailable``
after); a streamed answer has the same deadline for the whole stream.

The shared LLMs' async clients belong to the catalog's ``SharedParts``, which closes them on the
server's loop when the app stops (``aclose``).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, TypeVar

from rag.aio import AsyncRAG
from rag.server.errors import ApiError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rag.api import RAG
    from rag.pipelines.conversation import Turn
    from rag.pipelines.query import PreparedPrompt
    from rag.stores.base import Filters
    from rag.types import Answer, Retrieval

T = TypeVar("T")

THREAD_PREFIX = "rag-serve"
"""Name prefix of the server executor's threads."""


def timed_out(seconds: float) -> ApiError:
    return ApiError(
        503,
        "unavailable",
        f"the request took longer than {seconds:g} s (setting server.request_timeout_s); "
        "retry, or ask with a smaller k",
        retry_after=5,
    )


class Runner:
    """Runs rag's calls for the routes: blocking ones in one bounded, owned thread pool,
    asks through an ``AsyncRAG`` sharing that pool; each bounded by the request timeout."""

    def __init__(self, threads: int, timeout_s: float) -> None:
        self.threads = threads
        self.timeout_s = timeout_s
        self.executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=THREAD_PREFIX)
        """Where every blocking call of the server runs."""

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the pool; 503 when it outlasts the timeout (the thread
        finishes its work, its result is dropped)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self.executor, functools.partial(fn, *args, **kwargs))
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise timed_out(self.timeout_s) from None

    def aio(self, rag: RAG) -> AsyncRAG:
        """``rag`` behind the async face, on this pool (a light wrapper that owns nothing)."""
        return AsyncRAG.wrap(rag, executor=self.executor)

    async def ask(
        self,
        rag: RAG,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
        prepared: PreparedPrompt | None = None,
    ) -> Answer:
        """``AsyncRAG.ask`` over ``rag``; 503 past the timeout (a hosted generation is
        cancelled, a step in the pool finishes and is dropped). ``prepared``: the prompt
        ``rag.prepare`` returned for this question, sent as it is (not packed again)."""
        try:
            return await asyncio.wait_for(
                self.aio(rag).ask(
                    question,
                    filters=filters,
                    k=k,
                    history=history,
                    retrieval=retrieval,
                    prepared=prepared,
                ),
                self.timeout_s,
            )
        except TimeoutError:
            raise timed_out(self.timeout_s) from None

    async def ask_stream(
        self,
        rag: RAG,
        question: str,
        *,
        filters: Filters | None = None,
        k: int | None = None,
        history: Sequence[Turn] | None = None,
        retrieval: Retrieval | None = None,
        prepared: PreparedPrompt | None = None,
    ) -> AsyncIterator[str | Answer]:
        """``AsyncRAG.ask_stream`` over ``rag``: text deltas, then the Answer. The whole stream
        has the request timeout (503 past it); a consumer that stops early ends the
        generation (and frees a local model) before this generator's close returns.
        ``prepared``: as for ``ask``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s
        stream = self.aio(rag).ask_stream(
            question,
            filters=filters,
            k=k,
            history=history,
            retrieval=retrieval,
            prepared=prepared,
        )
        async with aclosing(stream) as items:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        item = await anext(items)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise timed_out(self.timeout_s) from None
                yield item

    def close(self) -> None:
        """Stop taking work; running calls finish."""
        self.executor.shutdown(wait=False, cancel_futures=True)
