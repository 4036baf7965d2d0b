"""Schema of the pgvector store: the vector extension, rag's migrated tables, chunk tables.

Run once per ``PgVectorStore`` at open (``setup_schema``) under an advisory lock, so concurrent
processes never collide on ``CREATE EXTENSION``/``CREATE TABLE``; ``MIGRATIONS`` (in
``rag.stores._pgsql``) is append-only and recorded in ``rag_schema_version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rag.errors import RagError, StoreError
from rag.stores._pgsql import MIGRATIONS, first_line, version_tuple

if TYPE_CHECKING:
    import psycopg

__all__ = ["LOCK_CLASS", "SETTING_HINT", "create_chunk_table", "setup_schema"]

SETTING_HINT = "setting 'pg_dsn' (--dsn, RAG_PG_DSN or pg_dsn in rag.toml)"

LOCK_CLASS = 0x7261  # first key of rag's advisory locks ("ra")
_SCHEMA_LOCK = 1


def setup_schema(
    conn: psycopg.Connection[Any], where: Mapping[str, str], iterative_scan: bool
) -> bool:
    """Make sure the vector extension and rag's tables exist, at the latest version; return
    whether iterative HNSW scans are on (``iterative_scan`` and pgvector >= 0.8). Closes
    ``conn``."""
    import psycopg

    try:
        with conn.transaction():
            version = _extension_version(conn)
            if version is None or _schema_version(conn) != MIGRATIONS[-1][0]:
                # serialize setup: concurrent CREATE EXTENSION / CREATE TABLE would collide
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, _SCHEMA_LOCK))
                version = _ensure_extension(conn, where)
                _migrate(conn, where)
            return iterative_scan and version_tuple(version) >= (0, 8, 0)
    except RagError:
        raise
    except psycopg.errors.InsufficientPrivilege as exc:
        raise StoreError(
            f"user {where['user']!r} may not create rag's tables in database "
            f"{where['dbname']!r} at {where['addr']} ({first_line(exc)}). Grant it "
            f"CREATE on schema public or connect as the database owner ({SETTING_HINT})."
        ) from None
    except psycopg.Error as exc:
        raise StoreError(
            f"setting up rag's tables at {where['addr']} failed: {first_line(exc)}"
        ) from None
    finally:
        conn.close()


def _extension_version(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return None if row is None else str(row[0])


def _ensure_extension(conn: psycopg.Connection[Any], where: Mapping[str, str]) -> str:
    import psycopg

    version = _extension_version(conn)
    if version is not None:
        return version
    db = where["dbname"]
    try:
        with conn.transaction():
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    except psycopg.errors.InsufficientPrivilege:
        raise StoreError(
            f"database {db!r} at {where['addr']} has no 'vector' extension and user "
            f"{where['user']!r} may not create it. Ask an administrator to run "
            f"'CREATE EXTENSION vector;' in {db!r}, or connect as a user who may ({SETTING_HINT})."
        ) from None
    except (psycopg.errors.UndefinedFile, psycopg.errors.FeatureNotSupported) as exc:
        raise StoreError(
            f"the PostgreSQL server at {where['addr']} does not have pgvector installed "
            f"({first_line(exc)}). Install pgvector on the server "
            f"(https://github.com/pgvector/pgvector) or start a local one with `rag db start`."
        ) from None
    return _extension_version(conn) or "0"


def _migrate(conn: psycopg.Connection[Any], where: Mapping[str, str]) -> None:
    latest = MIGRATIONS[-1][0]
    conn.execute(
        """CREATE TABLE IF NOT EXISTS rag_schema_version (
            version integer PRIMARY KEY,
            description text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    current = _schema_version(conn)
    if current > latest:
        raise StoreError(
            f"rag's tables at {where['addr']} are at schema version {current}, newer than "
            f"this rag knows ({latest}); upgrade rag"
        )
    for version, description, statements in MIGRATIONS:
        if version <= current:
            continue
        for statement in statements:
            conn.execute(statement)  # constant SQL from MIGRATIONS, never user input
        conn.execute(
            "INSERT INTO rag_schema_version (version, description) VALUES (%s, %s)",
            (version, description),
        )


def _schema_version(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute("SELECT to_regclass('rag_schema_version') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM rag_schema_version").fetchone()
    return int(row[0]) if row else 0


def create_chunk_table(conn: psycopg.Connection[Any], table: str, dimension: int) -> None:
    """Create a collection's chunk table with its source and metadata indexes."""
    from psycopg import sql

    t = sql.Identifier(table)
    conn.execute(
        sql.SQL(
            """CREATE TABLE {t} (
                id text PRIMARY KEY,
                source text NOT NULL,
                text text NOT NULL,
                content_hash text NOT NULL,
                location jsonb NOT NULL,
                metadata jsonb NOT NULL,
                embedding vector({dim}) NOT NULL,
                root text NOT NULL DEFAULT '',
                rel_path text NOT NULL DEFAULT '')"""
        ).format(t=t, dim=sql.Literal(dimension))
    )
    conn.execute(
        sql.SQL("CREATE INDEX {i} ON {t} (source)").format(i=sql.Identifier(table + "_source"), t=t)
    )
    conn.execute(
        sql.SQL("CREATE INDEX {i} ON {t} USING gin (metadata jsonb_path_ops)").format(
            i=sql.Identifier(table + "_meta"), t=t
        )
    )
