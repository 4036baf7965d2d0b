"""Sync parts behind an async face, in an executor the caller owns (never on the event loop).

``run_in(executor, fn, *args)`` awaits one blocking call; ``iterate_in(executor, make)`` turns
a blocking iterator into an async one; ``OffloadedLLM`` makes any sync ``LLM`` (llama.cpp, the
fakes) an ``AsyncLLM`` that way.

Streaming crosses threads through an asyncio queue: one worker of the executor pulls the sync
iterator and hands each item to the loop with ``loop.call_soon_threadsafe``, so the loop runs
other tasks while the producer computes the next item. A consumer that stops early (breaks,
is cancelled, or closes the async generator) sets a stop flag; the worker then closes the sync
iterator in its own thread after the item it is computing (a llama.cpp stream releases its
model lock there), and the closing consumer waits for that, so nothing is left holding the
model when ``aclose`` returns.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import aclosing
from typing import Any, TypeVar

from rag.llms.base import LLM, Completion, Message, StreamEvent

_T = TypeVar("_T")

__all__ = ["OffloadedLLM", "iterate_in", "run_in"]


async def run_in(executor: Executor, fn: Callable[..., _T], /, *args: Any) -> _T:
    """``fn(*args)`` in ``executor``, awaited."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(executor, functools.partial(fn, *args))


async def iterate_in(
    executor: Executor, make: Callable[[], Iterator[_T]]
) -> AsyncGenerator[_T, None]:
    """The items of ``make()``, produced by one worker of ``executor`` (module docstring)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
    stop = threading.Event()

    def post(kind: str, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stop.set()

    def pump() -> None:
        try:
            items = make()
            try:
                for item in items:
                    post("item", item)
                    if stop.is_set():
                        break
            finally:  # in this thread, before the worker is released
                close = getattr(items, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:
            post("error", exc)
        else:
            post("end", None)

    done = loop.run_in_executor(executor, pump)
    try:
        while True:
            kind, value = await queue.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        await asyncio.shield(done)  # the producer has closed its iterator


class OffloadedLLM:
    """A sync ``LLM`` as an ``AsyncLLM``: its calls run in ``executor``, its streams cross to
    the loop through ``iterate_in``. It does not own the LLM: ``aclose`` closes nothing."""

    def __init__(self, llm: LLM, executor: Executor) -> None:
        self.llm = llm
        self.executor = executor
        self.backend = llm.backend
        self.model = llm.model
        self.supports_streaming = llm.supports_streaming

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        return await run_in(
            self.executor,
            functools.partial(
                self.llm.complete, messages, max_tokens=max_tokens, temperature=temperature
            ),
        )

    async def astream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """The LLM's stream; a backend that cannot stream answers whole (one delta)."""
        if not self.supports_streaming:
            done = await self.acomplete(messages, max_tokens=max_tokens, temperature=temperature)
            yield StreamEvent(text=done.text)
            yield StreamEvent(completion=done)
            return
        make = functools.partial(
            self.llm.stream, messages, max_tokens=max_tokens, temperature=temperature
        )
        async with aclosing(iterate_in(self.executor, lambda: iter(make()))) as events:
            async for event in events:
                yield event

    async def aclose(self) -> None:
        """Nothing to release: the sync LLM belongs to whoever built it."""
