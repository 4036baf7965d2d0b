"""The shared call log: PostgreSQL (``PgCallLog``) and SQLite both hold budgets atomically.

Two log objects on one database stand for two ``rag serve`` replicas: 40 concurrent holds
against a budget that allows exactly 25 -> exactly 25 are granted, on either backend.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from rag.config import Settings
from rag.costs.calllog import CallLog, CallLogLike
from rag.costs.logs import make_call_log
from rag.types import Usage

PRICE = Decimal("0.0009")


def race(logs: list[CallLogLike], scope: str) -> list[int | None]:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with ThreadPoolExecutor(8) as pool:
        return list(
            pool.map(
                lambda i: logs[i % len(logs)].reserve(scope, PRICE, PRICE * 25, midnight),
                range(40),
            )
        )


@pytest.mark.integration
def test_two_replicas_on_postgres_grant_exactly_the_budget(pg_dsn: str) -> None:
    from rag.costs.calllog_pg import PgCallLog

    # a tenant of its own: the session's database also holds other tests' calls
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    logs: list[CallLogLike] = [PgCallLog(pg_dsn), PgCallLog(pg_dsn, tenant=tenant)]
    scope = f"test:{uuid.uuid4().hex[:6]}"
    granted = [h for h in race(logs, scope) if h is not None]
    assert len(granted) == 25
    for hold in granted:
        logs[0].settle(hold, PRICE)
        logs[1].record(Usage(backend="openai", model="m", cost=PRICE))
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert logs[0].held(scope, midnight) == PRICE * 25
    assert logs[1].summary().total.calls == 25  # the tenant's view
    assert len(logs[0].calls(midnight)) >= 25
    for log in logs:
        log.close()


def test_sqlite_holds_are_atomic_too(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    logs: list[CallLogLike] = [CallLog(path), CallLog(path)]
    assert len([h for h in race(logs, "day") if h is not None]) == 25


def test_the_call_log_follows_the_settings(tmp_path: Path) -> None:
    assert isinstance(make_call_log(Settings(data_dir=tmp_path)), CallLog)
    pg = make_call_log(Settings(data_dir=tmp_path, store="pgvector", pg_dsn="postgresql://x/y"))
    assert type(pg).__name__ == "PgCallLog" and pg.dsn == "postgresql://x/y"  # type: ignore[attr-defined]
    shared = make_call_log(Settings(data_dir=tmp_path, call_log_dsn="postgresql://a/b"))
    assert shared.dsn == "postgresql://a/b"  # type: ignore[attr-defined]


def test_switching_a_new_log_to_wal_waits_for_the_file(tmp_path: Path) -> None:
    """Switching to write-ahead logging needs the file to itself and gets "database is locked"
    without SQLite's busy wait while another process holds it (two processes opening a new
    log at once): the switch retries until the other lets go."""
    import sqlite3
    import threading

    from rag.costs.calllog import _use_wal

    path = tmp_path / "calls.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    db = sqlite3.connect(path, timeout=0.0)
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            db.execute("PRAGMA journal_mode = WAL")  # what a single attempt gets
        release = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
        release.start()
        _use_wal(db, wait=10.0)
        release.join()
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()
        holder.close()
