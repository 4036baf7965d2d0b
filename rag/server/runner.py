"""The one seam between the async routes and rag's blocking ``RAG``: a bounded executor.

Every blocking call (embedding, the store, the model, an ingest) runs in the app's single
``ThreadPoolExecutor`` of ``server.executor_threads`` threads, never in the event loop; a call
waits at most ``server.request_timeout_s``. ``stream`` runs a blocking iterator (``RAG.ask_stream``)
in the same executor and hands its items to the loop through a queue. Swapping in ``AsyncRAG``
later replaces this module's two methods and nothing in the routes.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from rag.server.errors import ApiError

T = TypeVar("T")

_DONE = object()


def timed_out(seconds: float) -> ApiError:
    return ApiError(
        503,
        "unavailable",
        f"the request took longer than {seconds:g} s (setting server.request_timeout_s); "
        "retry, or ask with a smaller k",
        retry_after=5,
    )


class Runner:
    """Runs blocking callables off the event loop in one bounded, owned thread pool."""

    def __init__(self, threads: int, timeout_s: float) -> None:
        self.threads = threads
        self.timeout_s = timeout_s
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rag-serve")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` in the pool; 503 when it outlasts the timeout (the thread
        finishes its work, its result is dropped)."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))
        try:
            return await asyncio.wait_for(future, self.timeout_s)
        except TimeoutError:
            raise timed_out(self.timeout_s) from None

    async def stream(self, make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """The items of the iterator ``make()`` returns, produced in the pool. Stops the
        producer (between items) when the consumer goes away; re-raises its exception."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def produce() -> None:
            try:
                for item in make():
                    if stop.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, item)
            except BaseException as exc:
                loop.call_soon_threadsafe(queue.put_nowait, _Failure(exc))
                return
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)

        task = loop.run_in_executor(self._pool, produce)
        deadline = loop.time() + self.timeout_s
        try:
            while True:
                left = deadline - loop.time()
                try:
                    item = await asyncio.wait_for(queue.get(), max(left, 0.001))
                except TimeoutError:
                    raise timed_out(self.timeout_s) from None
                if item is _DONE:
                    break
                if isinstance(item, _Failure):
                    raise item.exc
                yield item
        finally:
            stop.set()
            del task  # the pool thread ends on its own at the next item

    def close(self) -> None:
        """Stop taking work; running calls finish."""
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
