"""Routing: an ordered list of backends with retries, fallback and a budget, as one ``LLM``.

The policy is data: ``rag.routing_config.RoutingPolicy`` (``[routing]`` in rag.toml builds the
same objects; see that module for the TOML shape).

``RoutedLLM`` satisfies the ``LLM`` protocol. Per call it (1) estimates each backend's worst-case
cost (prompt + max_tokens, from the price list) and applies the budget: a primary over budget is
refused (``BudgetExceededError``) or, with ``on_exceed = "downgrade"``, replaced by the next
cheaper backend that fits; (2) tries the backends in order, retrying timeouts, 429, 5xx and
connection errors up to ``retry.attempts`` times with exponential backoff (honouring the
provider's ``retry-after``) before falling back; other errors (auth, bad request) are raised at
once, since another backend would only hide them. The returned ``usage.route`` says which
backend served and why: ``primary``, ``fallback after rate_limit from openai:gpt-4o-mini``,
``budget downgrade from openai:gpt-4o (...)``. Failed attempts are written to the call log
(outcome ``error:<kind>``); recording the final completion is the caller's job, as for any LLM.
An error the router already logged has its declared field ``LLMError.logged`` set, so the
caller need not log it again. ``AsyncRoutedLLM`` is its async twin (``rag.llms.as_async``
builds it). One RoutedLLM serves several threads: per-call state lives in
a ``_Run``, and the only shared state (today's spending without a call log) is locked.
The budget (step 1: ``plan``, ``admit``/``settle``, today's spend) is ``RoutingBudget``, its
base, in ``rag.llms.routing_budget``.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import aclosing
from decimal import Decimal
from typing import TYPE_CHECKING

from rag.costs.pricing import PriceTable
from rag.errors import BackendError, ConfigError, HostedBackendError
from rag.llms.base import LLM, AsyncLLM, Completion, Message, StreamEvent
from rag.llms.offload import run_in
from rag.llms.routing_budget import BUDGET_SCOPE as BUDGET_SCOPE
from rag.llms.routing_budget import RoutingBudget, label
from rag.routing_config import BackendConfig, Budget, RetryPolicy, RoutingPolicy, parse_policy
from rag.types import Usage

if TYPE_CHECKING:
    from rag.costs.calllog import CallLogLike as CallLog

__all__ = [
    "AsyncRoutedLLM",
    "BackendConfig",
    "Budget",
    "RetryPolicy",
    "RoutedLLM",
    "RoutingPolicy",
    "parse_policy",
]
"""The policy models are ``rag.routing_config``'s, re-exported for the router's callers."""


# --- the router ---


class RoutedLLM(RoutingBudget):
    """Several LLMs behind one, following a RoutingPolicy. See the module docstring."""

    def __init__(
        self,
        routes: Sequence[tuple[str, LLM]],
        *,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        prices: PriceTable,
        max_tokens: int = 256,
        call_log: CallLog | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not routes:
            raise ConfigError("a routing policy needs at least one backend")
        self.routes = list(routes)
        self.retry = retry or RetryPolicy()
        self.budget = budget or Budget()
        self.prices = prices
        self.max_tokens = max_tokens
        self.call_log = call_log
        self._sleep = sleep
        self._spent_day: tuple[str, Decimal] = ("", Decimal(0))
        self._spent_lock = threading.Lock()
        primary = self.routes[0][1]
        self.backend = primary.backend
        self.model = primary.model
        self.context_window = min(llm.context_window for _, llm in self.routes)
        self.supports_streaming = primary.supports_streaming

    def count_tokens(self, text: str) -> int:
        return self.routes[0][1].count_tokens(text)

    def close(self) -> None:
        """Close every backend that holds connections (hosted SDK clients)."""
        for _, llm in self.routes:
            close = getattr(llm, "close", None)
            if callable(close):
                close()

    # --- running: retries and fallback ---

    def _wait(self, exc: BackendError, attempt: int) -> float | None:
        """Seconds to wait before retrying, or None to fall back now."""
        retry_after = exc.retry_after if isinstance(exc, HostedBackendError) else None
        return self.retry.wait(attempt, retry_after)

    def _record_failure(self, llm: LLM, exc: BackendError, started: float, route: str) -> bool:
        """Write the failed attempt to the call log; True when it was written."""
        if self.call_log is None:
            return False
        usage = Usage(
            backend=llm.backend,
            model=llm.model,
            latency_s=time.perf_counter() - started,
            cost=Decimal(0),  # providers do not bill refused or failed requests
            request_id=exc.request_id if isinstance(exc, HostedBackendError) else None,
            outcome=f"error:{exc.kind}",
            route=route,
        )
        self.call_log.record(usage, error=str(exc))
        return True

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """Plan, then try backends with retries until one answers."""
        limit = max_tokens if max_tokens is not None else self.max_tokens
        run = _Run(self)
        plan, hold = self.admit(messages, limit)
        usage: Usage | None = None
        try:
            for llm, route, wait in run.attempts(plan):
                if wait:
                    self._sleep(wait)
                started = time.perf_counter()
                try:
                    completion = llm.complete(messages, max_tokens=limit, temperature=temperature)
                except BackendError as exc:
                    run.failed(llm, exc, started, route)
                    continue
                completion.usage.route = route
                self._add_spent(completion.usage)
                usage = completion.usage
                return completion
        finally:
            self.settle(hold, usage)
        raise AssertionError("unreachable: _Run.attempts raises when exhausted")

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        """As ``complete``, streaming. Fallback is possible until the first event arrives; an
        error after that is raised (the text already shown cannot be taken back)."""
        limit = max_tokens if max_tokens is not None else self.max_tokens
        run = _Run(self)
        plan, hold = self.admit(messages, limit)
        usage: list[Usage] = []
        try:
            yield from self._stream(run, plan, messages, limit, temperature, usage)
        finally:
            self.settle(hold, usage[0] if usage else None)

    def _stream(
        self,
        run: _Run,
        plan: list[tuple[LLM, str]],
        messages: Sequence[Message],
        limit: int,
        temperature: float | None,
        usage: list[Usage],
    ) -> Iterator[StreamEvent]:
        for llm, route, wait in run.attempts(plan):
            if wait:
                self._sleep(wait)
            started = time.perf_counter()
            events = self._events(llm, messages, limit, temperature)
            try:
                first = next(events)
            except BackendError as exc:
                run.failed(llm, exc, started, route)
                continue
            try:
                for event in _chain(first, events):
                    if event.completion is not None:
                        event.completion.usage.route = route
                        self._add_spent(event.completion.usage)
                        usage.append(event.completion.usage)
                    yield event
            except BackendError as exc:
                exc.logged = self._record_failure(llm, exc, started, route) or exc.logged
                raise
            return

    @staticmethod
    def _events(
        llm: LLM, messages: Sequence[Message], limit: int, temperature: float | None
    ) -> Iterator[StreamEvent]:
        if llm.supports_streaming:
            return iter(llm.stream(messages, max_tokens=limit, temperature=temperature))

        def whole() -> Iterator[StreamEvent]:
            done = llm.complete(messages, max_tokens=limit, temperature=temperature)
            yield StreamEvent(text=done.text)
            yield StreamEvent(completion=done)

        return whole()


class _Run:
    """The retry/fallback state of one call (so a RoutedLLM can serve several threads)."""

    def __init__(self, router: RoutedLLM) -> None:
        self.router = router
        self.failures: list[tuple[LLM, BackendError]] = []

    def attempts(self, plan: list[tuple[LLM, str]]) -> Iterator[tuple[LLM, str, float]]:
        """(backend, route, seconds to wait first) to try in order; after each failure the
        caller calls ``failed``. The caller waits (``time.sleep`` or ``asyncio.sleep``), so
        the sync and async routers share this. Raises BackendError naming every failure when
        all are used up."""
        for llm, reason in plan:
            route = reason or self.fallback_route()
            wait = 0.0
            for attempt in range(self.router.retry.attempts):
                yield llm, route, wait
                next_wait = self.router._wait(self.failures[-1][1], attempt)
                if next_wait is None:
                    break
                wait = next_wait
        tried = "; ".join(f"{label(llm)}: {exc}" for llm, exc in self.failures)
        last = self.failures[-1][1]
        exhausted = BackendError(
            f"every backend of the routing policy failed ({len(self.failures)} attempts): "
            f"{tried}. Check the providers' status or add a fallback (e.g. local)",
            kind=last.kind,
            retryable=last.retryable,
            # each attempt already has its row in the call log
            logged=self.router.call_log is not None,
        )
        raise exhausted

    def fallback_route(self) -> str:
        llm, exc = self.failures[-1]
        return f"fallback after {exc.kind} from {label(llm)}"

    def failed(self, llm: LLM, exc: BackendError, started: float, route: str) -> None:
        """Log the failed attempt; re-raise errors that another try or backend cannot fix."""
        logged = self.router._record_failure(llm, exc, started, route)
        if not exc.retryable:
            exc.logged = logged or exc.logged
            raise exc
        self.failures.append((llm, exc))


class AsyncRoutedLLM:
    """The async twin of a ``RoutedLLM`` (an ``AsyncLLM``): the same plan, budget, retries,
    fallback and call-log rows. Each backend runs through ``rag.llms.as_async`` (hosted ones on
    their async clients, local ones in ``executor``); planning (it reads today's spend from the
    call log) and writing a failed attempt to the call log run in ``executor`` too; waits
    between retries are ``asyncio.sleep``."""

    def __init__(
        self, router: RoutedLLM, executor: Executor, views: Mapping[int, AsyncLLM]
    ) -> None:
        self.router = router
        self.executor = executor
        self._views = views
        """The async view of each route, by ``id`` of its sync LLM."""
        self.backend = router.backend
        self.model = router.model
        self.supports_streaming = router.supports_streaming

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """Plan, then try backends with retries until one answers."""
        router = self.router
        limit = max_tokens if max_tokens is not None else router.max_tokens
        run = _Run(router)
        plan, hold = await run_in(self.executor, router.admit, messages, limit)
        usage: Usage | None = None
        try:
            for llm, route, wait in run.attempts(plan):
                if wait:
                    await asyncio.sleep(wait)
                started = time.perf_counter()
                try:
                    completion = await self._views[id(llm)].acomplete(
                        messages, max_tokens=limit, temperature=temperature
                    )
                except BackendError as exc:
                    await run_in(self.executor, run.failed, llm, exc, started, route)
                    continue
                completion.usage.route = route
                router._add_spent(completion.usage)
                usage = completion.usage
                return completion
        finally:
            await run_in(self.executor, router.settle, hold, usage)
        raise AssertionError("unreachable: _Run.attempts raises when exhausted")

    async def astream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """As ``RoutedLLM.stream``: fallback until the first event arrives, not after."""
        router = self.router
        limit = max_tokens if max_tokens is not None else router.max_tokens
        run = _Run(router)
        plan, hold = await run_in(self.executor, router.admit, messages, limit)
        usage: list[Usage] = []
        try:
            async for event in self._astream(run, plan, messages, limit, temperature, usage):
                yield event
        finally:
            await run_in(self.executor, router.settle, hold, usage[0] if usage else None)

    async def _astream(
        self,
        run: _Run,
        plan: list[tuple[LLM, str]],
        messages: Sequence[Message],
        limit: int,
        temperature: float | None,
        usage: list[Usage],
    ) -> AsyncGenerator[StreamEvent, None]:
        router = self.router
        for llm, route, wait in run.attempts(plan):
            if wait:
                await asyncio.sleep(wait)
            started = time.perf_counter()
            view = self._views[id(llm)]
            async with aclosing(
                view.astream(messages, max_tokens=limit, temperature=temperature)
            ) as events:
                try:
                    event = await anext(events)
                except BackendError as exc:
                    await run_in(self.executor, run.failed, llm, exc, started, route)
                    continue
                try:
                    while True:
                        if event.completion is not None:
                            event.completion.usage.route = route
                            router._add_spent(event.completion.usage)
                            usage.append(event.completion.usage)
                        yield event
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except BackendError as exc:
                    logged = await run_in(
                        self.executor, router._record_failure, llm, exc, started, route
                    )
                    exc.logged = logged or exc.logged
                    raise

    async def aclose(self) -> None:
        """Close every backend's async client."""
        for view in self._views.values():
            await view.aclose()


def _chain(first: StreamEvent, rest: Iterator[StreamEvent]) -> Iterator[StreamEvent]:
    yield first
    yield from rest
