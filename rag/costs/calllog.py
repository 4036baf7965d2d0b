"""The call log: one SQLite row per model call, so ``rag costs`` can say what every call cost.

The file (``Settings.call_log_path``, default ``$XDG_DATA_HOME/rag/calls.db``) is created with
its parent directories on first use, runs in WAL mode with a busy timeout so several rag
processes can write to it at once, and evolves by append-only migrations (the pattern of
simonw/llm's ``llm/migrations.py``): each migration is a function run once, in order, and
recorded in ``_migrations``; a released migration is never edited, so old logs keep working.

Recording never makes a call fail: a SQLite error while writing is turned into a warning.
Costs are stored as decimal TEXT (``NULL`` = unknown price) and summed with ``Decimal``.

This module holds the SQLite log itself (``CallLog``) and what any log must do
(``CallLogLike``); the migrations are in ``calllog_migrations``, the shared row format in
``calllog_rows`` and the records and summaries in ``calllog_records``, all re-exported here.
"""

from __future__ import annotations

import sqlite3
import threading
import warnings
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from time import monotonic, sleep
from typing import Protocol

from rag.costs.calllog_migrations import MIGRATIONS, migrate
from rag.costs.calllog_records import CallRecord, CostRow, CostSummary, parse_since, summarize
from rag.costs.calllog_rows import _COLUMNS, _INSERTED, _iso, _to_record, call_row, where_clause
from rag.errors import ConfigError
from rag.types import Usage

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


def _use_wal(db: sqlite3.Connection, wait: float = 10.0) -> None:
    """Switch ``db`` to write-ahead logging. Two processes opening a new log at once can get
    "database is locked" here at once, without SQLite's busy wait (the switch needs the file to
    itself): retry for up to ``wait`` seconds, as every other statement waits."""
    deadline = monotonic() + wait
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or monotonic() > deadline:
                raise
            sleep(0.02)


class CallLogWarning(RuntimeWarning):
    """The call log could not be written; the model call itself went through."""


# --- the log ---


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
                _use_wal(db)
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
