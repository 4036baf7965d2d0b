"""What the call log holds, as values: one call (``CallRecord``) and ``rag costs``'s totals
(``CostRow``, ``CostSummary``, ``summarize``), shared by the SQLite and PostgreSQL logs."""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal

from pydantic import BaseModel

from rag.types import output_rate

__all__ = ["CallRecord", "CostRow", "CostSummary", "parse_since", "summarize"]


class CallRecord(BaseModel):
    """One logged call, as read back from the log."""

    id: int
    time: datetime
    backend: str
    model: str
    request_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost: Decimal | None = None
    """USD; ``None`` = the price was unknown."""
    latency_s: float = 0.0
    ttft_s: float | None = None
    outcome: str = "ok"
    route: str = "primary"
    collection: str | None = None
    question: str | None = None
    error: str | None = None
    tenant: str | None = None
    tokens_estimated: bool = False
    """The backend reported no token counts; rag estimated them."""
    cache_write_tokens: int = 0
    adapter: str | None = None

    @property
    def output_tokens_per_s(self) -> float | None:
        """Generation speed of the call (``rag.types.output_rate``)."""
        return output_rate(self.output_tokens, self.latency_s, self.ttft_s)

    kind: str = "llm"
    """``llm`` (a generation) or ``embedding``."""


class CostRow(BaseModel):
    """Calls of one kind, backend and model on one UTC day (``day`` is None in the totals
    row, whose ``kind`` is ``*``)."""

    day: date | None
    kind: str = "llm"
    """``llm`` or ``embedding`` (embedding calls have input tokens only)."""
    backend: str
    model: str
    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cost: Decimal = Decimal(0)
    """Sum of the known costs."""
    unknown_cost_calls: int = 0
    """Successful calls whose price was unknown: ``cost`` is a lower bound when this is > 0."""
    p50_latency_s: float | None = None
    cache_write_tokens: int = 0
    p50_output_tokens_per_s: float | None = None
    """Median generation speed of the successful calls that produced output."""
    adapter: str | None = None
    """The LoRA adapter of these calls (``Usage.adapter``); None = the base model."""


class CostSummary(BaseModel):
    """``rag costs``: per day x backend x model, and the totals."""

    since: datetime | None
    rows: list[CostRow]
    total: CostRow


def summarize(records: Iterable[CallRecord], since: datetime | None = None) -> CostSummary:
    """Group calls per UTC day, kind, backend and model (and LoRA adapter: a base model with
    an adapter is another model); sum tokens and known costs exactly."""
    groups: dict[tuple[date, str, str, str, str | None], list[CallRecord]] = {}
    for rec in records:
        key = (rec.time.astimezone(UTC).date(), rec.kind, rec.backend, rec.model, rec.adapter)
        groups.setdefault(key, []).append(rec)
    rows = [
        _aggregate(recs, day, kind, backend, model, adapter)
        for (day, kind, backend, model, adapter), recs in groups.items()
    ]
    rows.sort(key=lambda r: (r.day or date.min, r.kind, r.backend, r.model, r.adapter or ""))
    everything = [rec for recs in groups.values() for rec in recs]
    return CostSummary(since=since, rows=rows, total=_aggregate(everything, None, "*", "*", "*"))


def _aggregate(
    recs: list[CallRecord],
    day: date | None,
    kind: str,
    backend: str,
    model: str,
    adapter: str | None = None,
) -> CostRow:
    ok_latencies = [r.latency_s for r in recs if r.outcome == "ok"]
    rates = [
        rate for r in recs if r.outcome == "ok" and (rate := r.output_tokens_per_s) is not None
    ]
    return CostRow(
        day=day,
        kind=kind,
        backend=backend,
        model=model,
        calls=len(recs),
        errors=sum(1 for r in recs if r.outcome != "ok"),
        input_tokens=sum(r.input_tokens for r in recs),
        output_tokens=sum(r.output_tokens for r in recs),
        cached_input_tokens=sum(r.cached_input_tokens for r in recs),
        cost=sum((r.cost for r in recs if r.cost is not None), Decimal(0)),
        unknown_cost_calls=sum(1 for r in recs if r.cost is None and r.outcome == "ok"),
        p50_latency_s=statistics.median(ok_latencies) if ok_latencies else None,
        cache_write_tokens=sum(r.cache_write_tokens for r in recs),
        p50_output_tokens_per_s=statistics.median(rates) if rates else None,
        adapter=adapter,
    )


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``7d``, ``12h``, ``30m``, ``2w`` (ago), or an ISO date/time (naive = UTC).
    Raises ValueError with the accepted forms."""
    import re
    from datetime import timedelta

    now = now or datetime.now(UTC)
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if match:
        n, unit = int(match.group(1)), match.group(2)
        span = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]
        return now - timedelta(**{span: n})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not a time span or date; use e.g. 7d, 24h, 30m, 2w or 2025-03-01"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
