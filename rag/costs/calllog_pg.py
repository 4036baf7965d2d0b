"""The call log in PostgreSQL: one table shared by every ``rag serve`` replica (and ``rag
costs`` anywhere), so costs and budgets hold across processes and machines.

Same rows and reads as the SQLite ``CallLog`` (``rag.costs.calllog``), its own append-only
migrations (recorded in ``rag_call_log_migrations``, applied under an advisory lock so two
replicas starting together cannot race). Budget holds (``reserve``) take a transaction-level
advisory lock per scope, sum the scope's holds and insert the new one in that transaction:
two replicas can never both spend the last cent. Recording never makes a call fail: a
database error while writing is a ``CallLogWarning``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rag._lazy import require
from rag.costs.calllog import CallLogWarning
from rag.costs.calllog_records import CallRecord, CostSummary, summarize
from rag.costs.calllog_rows import _COLUMNS, _INSERTED, _iso, _to_record, call_row, where_clause
from rag.errors import ConfigError
from rag.types import Usage

__all__ = ["PG_MIGRATIONS", "PgCallLog"]

PgMigration = Callable[[Any], None]
PG_MIGRATIONS: list[PgMigration] = []
_LOCK_KEY = 0x7261675F636C  # "rag_cl": the advisory lock of migrations


def _migration(fn: PgMigration) -> PgMigration:
    PG_MIGRATIONS.append(fn)
    return fn


@_migration
def p001_calls(cur: Any) -> None:
    """The calls table, with every column the SQLite log has reached (m001-m004)."""
    cur.execute(
        """CREATE TABLE IF NOT EXISTS rag_calls (
            id BIGSERIAL PRIMARY KEY,
            time TEXT NOT NULL,
            backend TEXT NOT NULL,
            model TEXT NOT NULL,
            request_id TEXT,
            input_tokens BIGINT NOT NULL DEFAULT 0,
            output_tokens BIGINT NOT NULL DEFAULT 0,
            cached_input_tokens BIGINT NOT NULL DEFAULT 0,
            cost TEXT,
            latency_s DOUBLE PRECISION NOT NULL DEFAULT 0,
            ttft_s DOUBLE PRECISION,
            outcome TEXT NOT NULL DEFAULT 'ok',
            route TEXT NOT NULL DEFAULT 'primary',
            collection TEXT,
            question TEXT,
            error TEXT,
            tenant TEXT
        )"""
    )
    cur.execute("CREATE INDEX IF NOT EXISTS rag_calls_time ON rag_calls (time)")
    cur.execute("CREATE INDEX IF NOT EXISTS rag_calls_tenant_time ON rag_calls (tenant, time)")


@_migration
def p002_budget_holds(cur: Any) -> None:
    """One row per admitted call: its estimated cost until it ends, then its real cost."""
    cur.execute(
        """CREATE TABLE IF NOT EXISTS rag_budget_holds (
            id BIGSERIAL PRIMARY KEY,
            scope TEXT NOT NULL,
            time TEXT NOT NULL,
            amount NUMERIC NOT NULL
        )"""
    )
    cur.execute(
        "CREATE INDEX IF NOT EXISTS rag_budget_holds_scope_time ON rag_budget_holds (scope, time)"
    )


@_migration
def p003_tokens_estimated(cur: Any) -> None:
    """Adapted LLMs (LlamaIndex): 1 when the token counts were estimated (SQLite m006)."""
    cur.execute(
        "ALTER TABLE rag_calls ADD COLUMN IF NOT EXISTS tokens_estimated INTEGER NOT NULL DEFAULT 0"
    )


@_migration
def p004_cache_writes_and_adapter(cur: Any) -> None:
    """Prompt-cache writes and the LoRA adapter of a call (SQLite m007)."""
    cur.execute(
        "ALTER TABLE rag_calls ADD COLUMN IF NOT EXISTS cache_write_tokens BIGINT NOT NULL DEFAULT 0"
    )
    cur.execute("ALTER TABLE rag_calls ADD COLUMN IF NOT EXISTS adapter TEXT")


@_migration
def p005_kind(cur: Any) -> None:
    """What a call was, ``llm`` or ``embedding`` (SQLite m008)."""
    cur.execute("ALTER TABLE rag_calls ADD COLUMN IF NOT EXISTS kind TEXT NOT NULL DEFAULT 'llm'")


class PgCallLog:
    """``CallLogLike`` on PostgreSQL (``call_log_dsn``). Thread-safe: one connection, locked."""

    def __init__(self, dsn: str, *, tenant: str | None = None) -> None:
        self.dsn = dsn
        self.tenant = tenant
        self._conn: Any = None
        self._lock = threading.Lock()

    def _connect(self) -> Any:
        if self._conn is None:
            psycopg = require("psycopg", "pgvector", "the PostgreSQL call log")
            try:
                conn = psycopg.connect(self.dsn, autocommit=True)
            except psycopg.Error as exc:
                raise ConfigError(
                    f"call log database cannot be reached ({exc}); check call_log_dsn "
                    "(RAG_CALL_LOG_DSN) or pg_dsn"
                ) from None
            with conn.transaction(), conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS rag_call_log_migrations "
                    "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
                )
                cur.execute("SELECT name FROM rag_call_log_migrations")
                applied = {row[0] for row in cur.fetchall()}
                for fn in PG_MIGRATIONS:
                    if fn.__name__ not in applied:
                        fn(cur)
                        cur.execute(
                            "INSERT INTO rag_call_log_migrations VALUES (%s, %s)",
                            (fn.__name__, _iso(datetime.now(UTC))),
                        )
            self._conn = conn
        return self._conn

    def _run(self, work: Callable[[Any], Any]) -> Any:
        """``work(cursor)`` in one transaction (rolled back on error)."""
        with self._lock:
            conn = self._connect()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    return work(cur)
            finally:
                if conn.closed:
                    self._conn = None

    def record(
        self,
        usage: Usage,
        *,
        collection: str | None = None,
        question: str | None = None,
        error: str | None = None,
        time: datetime | None = None,
    ) -> None:
        """Append one call; a database error is a warning, never the call's failure."""
        row = call_row(usage, collection, question, error, self.tenant, time)
        sql = f"INSERT INTO rag_calls ({_INSERTED}) VALUES ({', '.join(['%s'] * len(row))})"
        try:
            self._run(lambda cur: cur.execute(sql, row))
        except Exception as exc:  # psycopg.Error, a dropped connection
            warnings.warn(
                f"PostgreSQL call log: could not record a {usage.backend}:{usage.model} call "
                f"({exc}); the call itself went through",
                CallLogWarning,
                stacklevel=2,
            )

    def _where(self, since: datetime | None) -> tuple[str, tuple[str, ...]]:
        return where_clause(since, self.tenant, "%s")

    def calls(self, since: datetime | None = None) -> list[CallRecord]:
        where, params = self._where(since)
        sql = f"SELECT {_COLUMNS} FROM rag_calls{where} ORDER BY time, id"

        def read(cur: Any) -> list[Any]:
            cur.execute(sql, params)
            return list(cur.fetchall())

        return [_to_record(tuple(row)) for row in self._run(read)]

    def summary(self, since: datetime | None = None) -> CostSummary:
        return summarize(self.calls(since), since)

    def spent(self, since: datetime) -> Decimal:
        return sum((r.cost for r in self.calls(since) if r.cost is not None), Decimal(0))

    def reserve(self, scope: str, amount: Decimal, limit: Decimal, since: datetime) -> int | None:
        """See ``CallLogLike.reserve``: an advisory lock per scope serialises the check and
        the insert across every replica."""

        def hold(cur: Any) -> int | None:
            cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (scope,))
            cur.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM rag_budget_holds "
                "WHERE scope = %s AND time >= %s",
                (scope, _iso(since)),
            )
            held = Decimal(cur.fetchone()[0])
            if held + amount > limit:
                return None
            cur.execute(
                "INSERT INTO rag_budget_holds (scope, time, amount) VALUES (%s, %s, %s) "
                "RETURNING id",
                (scope, _iso(datetime.now(UTC)), amount),
            )
            return int(cur.fetchone()[0])

        result: int | None = self._run(hold)
        return result

    def held(self, scope: str, since: datetime) -> Decimal:
        def read(cur: Any) -> Decimal:
            cur.execute(
                "SELECT COALESCE(SUM(amount), 0) FROM rag_budget_holds "
                "WHERE scope = %s AND time >= %s",
                (scope, _iso(since)),
            )
            return Decimal(cur.fetchone()[0])

        result: Decimal = self._run(read)
        return result

    def settle(self, hold: int, amount: Decimal) -> None:
        self._run(
            lambda cur: cur.execute(
                "UPDATE rag_budget_holds SET amount = %s WHERE id = %s", (amount, hold)
            )
        )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
