"""The call log: one SQLite row per model call, so ``rag costs`` can say what every call cost.

The file (``Settings.call_log_path``, default ``$XDG_DATA_HOME/rag/calls.db``) is created with
its parent directories on first use, runs in WAL mode with a busy timeout so several rag
processes can write to it at once, and evolves by append-only migrations (the pattern of
simonw/llm's ``llm/migrations.py``): each migration is a function run once, in order, and
recorded in ``_migrations``; a released migration is never edited, so old logs keep working.

Recording never makes a call fail: a SQLite error while writing is turned into a warning.
Costs are stored as decimal TEXT (``NULL`` = unknown price) and summed with ``Decimal``.
"""

from __future__ import annotations

import sqlite3
import statistics
import threading
import warnings
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel

from rag.errors import ConfigError
from rag.types import Usage, output_rate

__all__ = [
    "MIGRATIONS",
    "CallLog",
    "CallLogLike",
    "CallLogWarning",
    "CallRecord",
    "CostRow",
    "CostSummary",
    "migrate",
    "parse_since",
    "summarize",
]


class CallLogWarning(RuntimeWarning):
    """The call log could not be written; the model call itself went through."""


# --- migrations (append-only: add new functions at the end, never edit released ones) ---

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []


def _migration(fn: Migration) -> Migration:
    MIGRATIONS.append(fn)
    return fn


@_migration
def m001_calls(db: sqlite3.Connection) -> None:
    """The first schema: what the offline spine logged for local llama.cpp calls."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS calls (
            id INTEGER PRIMARY KEY,
            time TEXT NOT NULL,
            backend TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cost TEXT,
            latency_s REAL NOT NULL DEFAULT 0,
            outcome TEXT NOT NULL DEFAULT 'ok',
            collection TEXT,
            question TEXT
        )"""
    )


@_migration
def m002_hosted_fields(db: sqlite3.Connection) -> None:
    """Hosted backends: provider request id, cached input, time to first token, route, error."""
    for column, kind in (
        ("request_id", "TEXT"),
        ("cached_input_tokens", "INTEGER NOT NULL DEFAULT 0"),
        ("ttft_s", "REAL"),
        ("route", "TEXT NOT NULL DEFAULT 'primary'"),
        ("error", "TEXT"),
    ):
        db.execute(f"ALTER TABLE calls ADD COLUMN {column} {kind}")


@_migration
def m003_time_index(db: sqlite3.Connection) -> None:
    """``rag costs --since`` and the daily budget read by time."""
    db.execute("CREATE INDEX IF NOT EXISTS calls_time ON calls (time)")


@_migration
def m004_tenant(db: sqlite3.Connection) -> None:
    """``rag serve``: which tenant a call was made for (NULL outside the server)."""
    db.execute("ALTER TABLE calls ADD COLUMN tenant TEXT")
    db.execute("CREATE INDEX IF NOT EXISTS calls_tenant_time ON calls (tenant, time)")


@_migration
def m005_budget_holds(db: sqlite3.Connection) -> None:
    """Budgets checked and recorded atomically: one row per admitted call, its estimated cost
    until the call ends, then its real cost (``CallLog.reserve`` / ``settle``)."""
    db.execute(
        """CREATE TABLE IF NOT EXISTS budget_holds (
            id INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            time TEXT NOT NULL,
            amount TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX IF NOT EXISTS budget_holds_scope_time ON budget_holds (scope, time)")


@_migration
def m006_tokens_estimated(db: sqlite3.Connection) -> None:
    """Adapted LLMs (LlamaIndex): 1 when the token counts were estimated, not reported."""
    db.execute("ALTER TABLE calls ADD COLUMN tokens_estimated INTEGER NOT NULL DEFAULT 0")


@_migration
def m007_cache_writes_and_adapter(db: sqlite3.Connection) -> None:
    """Prompt-cache writes (Anthropic, priced at their own rate) and the LoRA adapter a local
    model ran with (file name, sha256 prefix, scale)."""
    db.execute("ALTER TABLE calls ADD COLUMN cache_write_tokens INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE calls ADD COLUMN adapter TEXT")


@_migration
def m008_kind(db: sqlite3.Connection) -> None:
    """Hosted embeddings: what a call was (``llm`` or ``embedding``); older rows are ``llm``."""
    db.execute("ALTER TABLE calls ADD COLUMN kind TEXT NOT NULL DEFAULT 'llm'")


def migrate(db: sqlite3.Connection) -> None:
    """Apply every migration not yet recorded in ``_migrations``, in order, all in one
    write transaction (``BEGIN IMMEDIATE``) so two processes opening a new log cannot race."""
    previous = db.isolation_level
    db.isolation_level = None  # manage the transaction by hand; DDL included
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS _migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        applied = {row[0] for row in db.execute("SELECT name FROM _migrations")}
        if all(fn.__name__ in applied for fn in MIGRATIONS):
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            applied = {row[0] for row in db.execute("SELECT name FROM _migrations")}
            for fn in MIGRATIONS:
                if fn.__name__ not in applied:
                    fn(db)
                    db.execute(
                        "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                        (fn.__name__, _iso(datetime.now(UTC))),
                    )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        db.isolation_level = previous


# --- records and summaries ---


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


# --- the log ---

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


class CallLogLike(Protocol):
    """What rag needs of a call log: append calls, read them back, and hold budgets. Two
    implementations: ``CallLog`` (a SQLite file, one machine) and
    ``rag.costs.calllog_pg.PgCallLog`` (PostgreSQL, shared by ``rag serve`` replicas).
    ``make_call_log`` picks one from the settings."""

    tenant: str | None

    def record(
        self,
        usage: Usage,
        *,
        collection: str | None = None,
        question: str | None = None,
        error: str | None = None,
        time: datetime | None = None,
    ) -> None: ...

    def calls(self, since: datetime | None = None) -> list[CallRecord]: ...

    def summary(self, since: datetime | None = None) -> CostSummary: ...

    def spent(self, since: datetime) -> Decimal: ...

    def reserve(self, scope: str, amount: Decimal, limit: Decimal, since: datetime) -> int | None:
        """Atomically: if the holds of ``scope`` since ``since`` plus ``amount`` stay within
        ``limit``, record a hold of ``amount`` and return its id; else None (refused). Two
        processes can never both take the last of a budget."""
        ...

    def held(self, scope: str, since: datetime) -> Decimal:
        """The sum of ``scope``'s holds since ``since`` (what its budget has used)."""
        ...

    def settle(self, hold: int, amount: Decimal) -> None:
        """Set a hold to the call's real cost (0 for a failed call)."""
        ...

    def close(self) -> None: ...


class CallLog:
    """Append-and-read access to one call log file. Thread-safe; several processes may share it.

    With a ``tenant`` (``rag serve``), every call it records carries that tenant, and its
    reads (``calls``, ``summary``, ``spent``) see that tenant's calls only."""

    def __init__(self, path: Path, *, tenant: str | None = None) -> None:
        self.path = Path(path)
        self.tenant = tenant
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=10.0, check_same_thread=False)
            try:
                db.execute("PRAGMA busy_timeout = 10000")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")  # durable at checkpoints; fast commits
                migrate(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    def record(
        self,
        usage: Usage,
        *,
        collection: str | None = None,
        question: str | None = None,
        error: str | None = None,
        time: datetime | None = None,
    ) -> None:
        """Append one call. Never raises on a storage problem: it warns and the caller goes on.

        ``time`` defaults to now (UTC); naive datetimes are taken as UTC.
        """
        row = call_row(usage, collection, question, error, self.tenant, time)
        try:
            with self._lock:
                db = self._connect()
                with db:
                    db.execute(
                        f"INSERT INTO calls ({_INSERTED}) VALUES ({', '.join('?' * len(row))})",
                        row,
                    )
        except (sqlite3.Error, OSError) as exc:
            warnings.warn(
                f"call log {self.path}: could not record a {usage.backend}:{usage.model} call "
                f"({exc}); the call itself went through. Check that the file is writable or "
                "set a different data_dir",
                CallLogWarning,
                stacklevel=2,
            )

    def _where(self, since: datetime | None) -> tuple[str, tuple[str, ...]]:
        return where_clause(since, self.tenant, "?")

    def calls(self, since: datetime | None = None) -> list[CallRecord]:
        """Logged calls, oldest first; only those at or after ``since`` (naive = UTC) if given
        (and of this log's tenant, when it has one)."""
        if not self.path.exists():
            return []
        where, params = self._where(since)
        query = f"SELECT {_COLUMNS} FROM calls{where} ORDER BY time, id"
        try:
            with self._lock:
                rows = self._connect().execute(query, params).fetchall()
        except sqlite3.DatabaseError as exc:
            raise ConfigError(
                f"call log {self.path} cannot be read ({exc}); it is not a rag call log or is "
                "damaged. Move it away (rag starts a new one) or set another data_dir"
            ) from None
        return [_to_record(row) for row in rows]

    def summary(self, since: datetime | None = None) -> CostSummary:
        """Per-day, per-backend, per-model totals for ``rag costs``."""
        return summarize(self.calls(since), since)

    def spent(self, since: datetime) -> Decimal:
        """Known cost of the calls at or after ``since`` (the daily budget reads this), of this
        log's tenant when it has one."""
        if not self.path.exists():
            return Decimal(0)
        where, params = self._where(since)
        try:
            with self._lock:
                rows = (
                    self._connect()
                    .execute(f"SELECT cost FROM calls{where} AND cost IS NOT NULL", params)
                    .fetchall()
                )
        except sqlite3.Error as exc:
            warnings.warn(
                f"call log {self.path}: could not read today's spend ({exc}); counting it as 0",
                CallLogWarning,
                stacklevel=2,
            )
            return Decimal(0)
        return sum((Decimal(r[0]) for r in rows), Decimal(0))

    def reserve(self, scope: str, amount: Decimal, limit: Decimal, since: datetime) -> int | None:
        """See ``CallLogLike.reserve``: the check and the hold in one ``BEGIN IMMEDIATE``
        transaction, which SQLite serialises across processes."""
        with self._lock:
            db = self._connect()
            previous = db.isolation_level
            db.isolation_level = None
            try:
                db.execute("BEGIN IMMEDIATE")
                try:
                    rows = db.execute(
                        "SELECT amount FROM budget_holds WHERE scope = ? AND time >= ?",
                        (scope, _iso(since)),
                    ).fetchall()
                    held = sum((Decimal(r[0]) for r in rows), Decimal(0))
                    if held + amount > limit:
                        db.execute("ROLLBACK")
                        return None
                    cur = db.execute(
                        "INSERT INTO budget_holds (scope, time, amount) VALUES (?, ?, ?)",
                        (scope, _iso(datetime.now(UTC)), str(amount)),
                    )
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
            finally:
                db.isolation_level = previous
            return cur.lastrowid

    def held(self, scope: str, since: datetime) -> Decimal:
        """The sum of ``scope``'s holds since ``since`` (what its budget has used)."""
        with self._lock:
            rows = (
                self._connect()
                .execute(
                    "SELECT amount FROM budget_holds WHERE scope = ? AND time >= ?",
                    (scope, _iso(since)),
                )
                .fetchall()
            )
        return sum((Decimal(r[0]) for r in rows), Decimal(0))

    def settle(self, hold: int, amount: Decimal) -> None:
        """See ``CallLogLike.settle``."""
        with self._lock:
            db = self._connect()
            with db:
                db.execute("UPDATE budget_holds SET amount = ? WHERE id = ?", (str(amount), hold))

    def close(self) -> None:
        """Close the connection (reopened on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


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
