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
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from contextlib import aclosing
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from rag.costs.pricing import PriceTable
from rag.errors import BackendError, BudgetExceededError, ConfigError, HostedBackendError
from rag.llms._hosted import prompt_tokens
from rag.llms.base import LLM, AsyncLLM, Completion, Message, StreamEvent
from rag.llms.offload import run_in
from rag.routing_config import BackendConfig, Budget, RetryPolicy, RoutingPolicy, parse_policy
from rag.types import Usage

if TYPE_CHECKING:
    from rag.costs.calllog import CallLogLike as CallLog

BUDGET_SCOPE = "routing:day"
"""The call log's hold scope of the routing per-day budget."""

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


class RoutedLLM:
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

    # --- planning: the budget ---

    def _spent_today(self) -> Decimal:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.call_log is not None:  # the calls logged, or the holds if more (in flight)
            log = self.call_log
            return max(log.spent(since=midnight), log.held(BUDGET_SCOPE, since=midnight))
        with self._spent_lock:
            day, spent = self._spent_day
        return spent if day == midnight.date().isoformat() else Decimal(0)

    def _add_spent(self, usage: Usage) -> None:
        today = datetime.now(UTC).date().isoformat()
        with self._spent_lock:
            day, spent = self._spent_day
            self._spent_day = (today, (spent if day == today else Decimal(0)) + (usage.cost or 0))

    def admit(
        self, messages: Sequence[Message], max_tokens: int
    ) -> tuple[list[tuple[LLM, str]], int | None]:
        """``plan``, and with a per-day budget and a call log, a hold of the first backend's
        estimated cost taken atomically in the call log (shared by every process that uses
        it: ``call_log_dsn``), so concurrent calls cannot together overspend the day. The
        hold is settled to the real cost when the call ends (``settle``)."""
        plan = self.plan(messages, max_tokens)
        per_day, log = self.budget.per_day_usd, self.call_log
        if per_day is None or log is None:
            return plan, None
        first = plan[0][0]
        est = self.prices.estimate(
            first.backend,
            first.model,
            input_tokens=prompt_tokens(messages),
            max_output_tokens=max_tokens,
        )
        if est is None:
            return plan, None
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        hold = log.reserve(BUDGET_SCOPE, est, Decimal(per_day), midnight)
        if hold is None:
            held = log.held(BUDGET_SCOPE, midnight)
            raise BudgetExceededError(
                f"call refused by the routing budget: estimated ${est} on top of ${held} spent "
                f"or held today (by every process sharing the call log) exceeds the per-day "
                f"budget ${per_day}. Raise routing.budget.per_day_usd or lower max_tokens"
            )
        return plan, hold

    def settle(self, hold: int | None, usage: Usage | None) -> None:
        """Turn a hold into the call's real cost (0 when no backend answered)."""
        if hold is None or self.call_log is None:
            return
        cost = Decimal(0) if usage is None or usage.cost is None else usage.cost
        self.call_log.settle(hold, cost)

    def plan(self, messages: Sequence[Message], max_tokens: int) -> list[tuple[LLM, str]]:
        """The backends to try, in order, each with the route it would report when it serves.
        Raises BudgetExceededError when the budget refuses the call."""
        if not self.budget.active:
            return [(llm, "primary" if i == 0 else "") for i, (_, llm) in enumerate(self.routes)]
        tokens = prompt_tokens(messages)
        spent = self._spent_today() if self.budget.per_day_usd is not None else Decimal(0)
        fitting: list[tuple[LLM, Decimal]] = []
        problems: list[str] = []
        for _, llm in self.routes:
            est = self.prices.estimate(
                llm.backend, llm.model, input_tokens=tokens, max_output_tokens=max_tokens
            )
            problem = self._over_budget(est, spent)
            if problem is None and est is not None:
                fitting.append((llm, est))
            else:
                problems.append(f"{_label(llm)}: {problem}")
        primary = self.routes[0][1]
        if fitting and fitting[0][0] is primary:
            return [(llm, "primary" if i == 0 else "") for i, (llm, _) in enumerate(fitting)]
        why = problems[0]
        if self.budget.on_exceed == "refuse" or not fitting:
            action = "refused" if self.budget.on_exceed == "refuse" else "no backend fits"
            raise BudgetExceededError(
                f"call {action} by the routing budget ({self._budget_text(spent)}): "
                + "; ".join(problems)
                + ". Raise routing.budget.per_call_usd / per_day_usd, lower max_tokens, "
                + (
                    "or set routing.budget.on_exceed = 'downgrade'"
                    if self.budget.on_exceed == "refuse"
                    else "or add a cheaper backend (e.g. local) to routing.fallback"
                )
            )
        # downgrade: the next cheaper backends first (most expensive that still fits)
        ladder = sorted(fitting, key=lambda pair: pair[1], reverse=True)
        reason = f"budget downgrade from {why}"
        return [(llm, reason if i == 0 else "") for i, (llm, _) in enumerate(ladder)]

    def _over_budget(self, est: Decimal | None, spent: Decimal) -> str | None:
        if est is None:
            return "price unknown, so the budget cannot be checked (add it to a price file)"
        per_call, per_day = self.budget.per_call_usd, self.budget.per_day_usd
        if per_call is not None and est > per_call:
            return f"estimated ${est} exceeds the per-call budget ${per_call}"
        if per_day is not None and spent + est > per_day:
            return (
                f"estimated ${est} on top of ${spent} spent today exceeds the per-day "
                f"budget ${per_day}"
            )
        return None

    def _budget_text(self, spent: Decimal) -> str:
        parts = []
        if self.budget.per_call_usd is not None:
            parts.append(f"per call ${self.budget.per_call_usd}")
        if self.budget.per_day_usd is not None:
            parts.append(f"per day ${self.budget.per_day_usd}, ${spent} spent today")
        return ", ".join(parts)

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
        tried = "; ".join(f"{_label(llm)}: {exc}" for llm, exc in self.failures)
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
        return f"fallback after {exc.kind} from {_label(llm)}"

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


def _label(llm: LLM) -> str:
    return f"{llm.backend}:{llm.model}"
