"""The SQLite call log's schema, as append-only migrations (simonw/llm's ``migrations.py``):
each runs once, in order, recorded by name in ``_migrations``; a released one is never edited."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

from rag.costs.calllog_rows import _iso

__all__ = ["MIGRATIONS", "migrate"]

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
