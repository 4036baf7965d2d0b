"""Tenants and their keys: who is calling, decided from the API key alone.

A key maps to its tenant server-side (``[[server.tenants]]``: the SHA-256 digests of its keys);
the tenant is never read from a request body or path. With no tenants configured there is one
implicit tenant, ``default``, and no key is needed (the server then binds loopback only).
Each tenant has its own call log view (its calls carry its name), a concurrency limit and a
daily budget, both answered with HTTP 429 and ``Retry-After``. The budget is held atomically in
the call log before each generation (``reserve``: the call's estimated cost, scope
``tenant:<name>:day``) and settled to the real cost after (``settle``), so replicas sharing a
PostgreSQL call log (``call_log_dsn``) cannot together overspend it.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

from rag.config import Settings, TenantConfig
from rag.costs.calllog import CallLogLike
from rag.costs.logs import make_call_log
from rag.server.errors import ApiError, seconds_to_utc_midnight

DEFAULT_TENANT = "default"


def budget_scope(tenant: str) -> str:
    """The call log's hold scope of a tenant's daily budget."""
    return f"tenant:{tenant}:day"


def _midnight() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def key_digest(key: str) -> str:
    """The hex SHA-256 of an API key, as ``key_sha256`` stores it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (``rag_`` + 32 url-safe random bytes)."""
    return "rag_" + secrets.token_urlsafe(32)


class Tenant:
    """One tenant at run time: its configuration, its call log and its running requests."""

    def __init__(self, config: TenantConfig, settings: Settings) -> None:
        self.config = config
        self.name = config.name
        self.call_log: CallLogLike = make_call_log(settings, tenant=config.name)
        self.running = 0

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the tenant's ``max_concurrent`` slots for a request (429 when none is
        free). Only the event loop touches the counter, so it needs no lock."""
        limit = self.config.max_concurrent
        if limit is not None and self.running >= limit:
            raise ApiError(
                429,
                "rate_limited",
                f"tenant {self.name!r} already has {limit} requests running (max_concurrent); "
                "retry after one finishes",
                retry_after=1,
            )
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1

    def check_budget(self) -> None:
        """Refuse (429 ``budget_exceeded``) once today's known spend reaches the tenant's
        ``daily_budget_usd`` (UTC days, known costs from the call log, as routing counts)."""
        budget = self.config.daily_budget_usd
        if budget is None:
            return
        spent = self.call_log.spent(since=_midnight())
        if spent >= budget:
            raise ApiError(
                429,
                "budget_exceeded",
                f"tenant {self.name!r} spent ${spent} of its ${Decimal(budget)} daily budget "
                "(daily_budget_usd); it refills at 00:00 UTC",
                retry_after=seconds_to_utc_midnight(),
            )

    def reserve(self, estimate: Decimal | None) -> int | None:
        """(Blocking) Hold ``estimate`` (an unpriced call: 0) of today's budget in the call
        log, atomically across every process sharing it; the hold's id, None without a
        budget. 429 ``budget_exceeded`` when it does not fit."""
        budget = self.config.daily_budget_usd
        if budget is None:
            return None
        amount = estimate if estimate is not None else Decimal(0)
        midnight = _midnight()
        scope = budget_scope(self.name)
        hold = self.call_log.reserve(scope, amount, Decimal(budget), midnight)
        if hold is None:
            held = self.call_log.held(scope, midnight)
            raise ApiError(
                429,
                "budget_exceeded",
                f"tenant {self.name!r} has ${held} of its ${Decimal(budget)} daily budget "
                f"(daily_budget_usd) spent or held by running answers; this answer's estimated "
                f"${amount} does not fit. It refills at 00:00 UTC",
                retry_after=seconds_to_utc_midnight(),
            )
        return hold

    def settle(self, hold: int | None, cost: Decimal | None) -> None:
        """(Blocking) Turn a hold into the call's real cost (0 when it failed or is unpriced)."""
        if hold is not None:
            self.call_log.settle(hold, cost if cost is not None else Decimal(0))


class Tenants:
    """Every tenant, and the digest -> tenant map that authenticates a request."""

    def __init__(self, settings: Settings) -> None:
        configs = settings.server.tenants
        self.open = not configs
        """No tenants configured: every request is the ``default`` tenant's, without a key."""
        if self.open:
            configs = [TenantConfig(name=DEFAULT_TENANT)]
        self.by_name = {c.name: Tenant(c, settings) for c in configs}
        self._by_digest = {d: self.by_name[c.name] for c in configs for d in c.key_sha256}

    def authenticate(self, authorization: str | None) -> Tenant:
        """The tenant of the ``Authorization: Bearer <key>`` header (401 when missing or
        unknown; the key itself is never logged)."""
        if self.open:
            return self.by_name[DEFAULT_TENANT]
        if not authorization:
            raise ApiError(
                401,
                "unauthorized",
                "missing API key; send the header 'Authorization: Bearer <key>' "
                "(create a key with `rag serve keys add NAME`)",
            )
        scheme, _, key = authorization.partition(" ")
        tenant = (
            self._by_digest.get(key_digest(key.strip())) if scheme.lower() == "bearer" else None
        )
        if tenant is None:
            raise ApiError(
                401,
                "unauthorized",
                "the API key is not valid; check it, or create one with `rag serve keys add NAME`",
            )
        return tenant

    def close(self) -> None:
        for tenant in self.by_name.values():
            tenant.call_log.close()
