"""The row format every call log backend shares (SQLite ``calllog``, PostgreSQL
``calllog_pg``): its columns, a call's values, the WHERE clause of a read, and a row back as
a ``CallRecord``; times as sortable UTC ISO text."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from rag.costs.calllog_records import CallRecord
from rag.types import Usage

__all__ = ["call_row", "where_clause"]

_COLUMNS = (
    "id, time, backend, model, request_id, input_tokens, output_tokens, cached_input_tokens, "
    "cost, latency_s, ttft_s, outcome, route, collection, question, error, tenant, "
    "tokens_estimated, cache_write_tokens, adapter, kind"
)


_INSERTED = ", ".join(c.strip() for c in _COLUMNS.split(",")[1:])
"""The columns a new call writes (all but ``id``), in ``call_row``'s order."""


def where_clause(
    since: datetime | None, tenant: str | None, mark: str
) -> tuple[str, tuple[str, ...]]:
    """The WHERE clause (and its parameters, ``mark`` their placeholder: ``?`` for SQLite,
    ``%s`` for PostgreSQL) for calls since ``since`` of ``tenant`` (None: every tenant)."""
    conds, params = [], []
    if since is not None:
        conds.append(f"time >= {mark}")
        params.append(_iso(since))
    if tenant is not None:
        conds.append(f"tenant = {mark}")
        params.append(tenant)
    return (" WHERE " + " AND ".join(conds) if conds else ""), tuple(params)


def call_row(
    usage: Usage,
    collection: str | None,
    question: str | None,
    error: str | None,
    tenant: str | None,
    time: datetime | None = None,
) -> tuple[object, ...]:
    """One call's values for ``_INSERTED`` (secrets redacted), for every call log backend."""
    from rag.redact import redact

    return (
        _iso(time or datetime.now(UTC)),
        redact(usage.backend),
        redact(usage.model),
        usage.request_id,
        usage.input_tokens,
        usage.output_tokens,
        usage.cached_input_tokens,
        None if usage.cost is None else str(usage.cost),
        usage.latency_s,
        usage.time_to_first_token_s,
        usage.outcome,
        usage.route,
        collection,
        question,
        None if error is None else redact(error),
        tenant,
        int(usage.tokens_estimated),
        usage.cache_write_tokens,
        usage.adapter,
        usage.kind,
    )


def _iso(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds: sorts as text in time order."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


_NAMES = tuple(c.strip() for c in _COLUMNS.split(","))


def _to_record(row: tuple[object, ...]) -> CallRecord:
    data = dict(zip(_NAMES, row, strict=True))
    cost = data["cost"]
    data["cost"] = None if cost is None else Decimal(str(cost))
    data["time"] = datetime.fromisoformat(str(data["time"]))
    return CallRecord.model_validate(data)
