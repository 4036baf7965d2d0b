"""``PgConnections``: the pgvector store's connections, pool, ``transaction()`` blocks and errors.

Kept apart from ``rag.stores.pgvector`` so how the store reaches PostgreSQL is in one place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

from rag.errors import ConfigError, RagError, StoreError
from rag.stores._pgsql import first_line, session_settings
from rag.stores.pgvector_schema import SETTING_HINT

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PgConnections", "TxState"]


class TxState(threading.local):
    """The connection of the ``transaction()`` block open in this thread, if any."""

    conn: psycopg.Connection[Any] | None = None


class PgConnections:
    """Base of ``PgVectorStore``: its connections, pool, transactions and connection errors."""

    collection: str
    dsn: str
    ef_search: int
    _connect_timeout: int
    _where: dict[str, str]
    _iterative: bool
    _local: TxState
    _pool: ConnectionPool

    if TYPE_CHECKING:

        def _index_if_due(self) -> None:
            """Run after a ``transaction()`` block commits (``PgCollection`` defines it)."""

    def _conninfo(self) -> str:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo

        try:
            params = conninfo_to_dict(self.dsn)
        except Exception as exc:  # psycopg.ProgrammingError for a malformed DSN
            raise ConfigError(
                f"{SETTING_HINT} is not a valid PostgreSQL DSN ({first_line(exc)}); "
                "use postgresql://user:password@host:5432/dbname"
            ) from None
        extra: dict[str, Any] = {"application_name": "rag"}
        if "connect_timeout" not in params:
            extra["connect_timeout"] = self._connect_timeout
        return make_conninfo(self.dsn, **extra)

    def _connect(self) -> psycopg.Connection[Any]:
        import psycopg

        conninfo = self._conninfo()
        try:
            return psycopg.connect(conninfo)
        except psycopg.OperationalError as exc:
            raise self._connect_error(exc) from None

    def _connect_error(self, exc: Exception) -> StoreError:
        msg, addr, user = first_line(exc), self._where["addr"], self._where["user"]
        if "password authentication failed" in msg or "no password supplied" in msg:
            fix = f"PostgreSQL at {addr} refused user {user!r}: {msg}. Fix the user and password"
        elif "does not exist" in msg:
            fix = f"PostgreSQL at {addr}: {msg}. Create it or name another database in the DSN"
        else:
            fix = (
                f"cannot connect to PostgreSQL at {addr}: {msg}. Check that the server runs and "
                "the host and port are right, or start a local one with `rag db start`"
            )
        return StoreError(f"{fix} ({SETTING_HINT}).")

    def _open_pool(self, size: int) -> ConnectionPool:
        from psycopg_pool import ConnectionPool

        pool: ConnectionPool = ConnectionPool(
            self._conninfo(),
            min_size=1,
            max_size=size,
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name=f"rag-{self.collection}",
        )
        try:
            pool.open(wait=True, timeout=self._connect_timeout + 5)
        except Exception as exc:
            pool.close()
            raise StoreError(
                f"cannot open a connection pool to PostgreSQL at {self._where['addr']}: "
                f"{first_line(exc)} ({SETTING_HINT})"
            ) from None
        return pool

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Per pooled connection: vector adapters and the HNSW search settings."""
        from pgvector.psycopg import register_vector

        register_vector(conn)
        for statement, params in session_settings(self.ef_search, self._iterative):
            conn.execute(statement, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for every store call in the block: commit at the end, roll back on error."""
        outer = self._local.conn
        if outer is not None:
            with self._errors(), outer.transaction():
                yield
            return
        with self._errors(), self._pool.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield
            finally:
                self._local.conn = None
        # after the commit, holding no row locks: a build inside the block could deadlock
        # with writers waiting on this transaction's rows
        self._index_if_due()

    @contextmanager
    def _conn(self, *, tx: bool = True) -> Iterator[psycopg.Connection[Any]]:
        """A connection: in the open ``transaction()`` (as a savepoint if ``tx``), else a pooled
        autocommit one, in its own transaction if ``tx`` (reads skip BEGIN/COMMIT round trips)."""
        conn = self._local.conn
        with self._errors():
            if conn is not None:
                with conn.transaction() if tx else nullcontext():
                    yield conn
                return
            with self._pool.connection() as conn, conn.transaction() if tx else nullcontext():
                yield conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn database and pool failures into StoreErrors that say where and what."""
        import psycopg
        from psycopg_pool import PoolTimeout

        try:
            yield
        except RagError:
            raise
        except PoolTimeout as exc:
            raise self._connect_error(exc) from exc
        except psycopg.Error as exc:
            # lost connection (08xxx), server shutting down (57P0x), or none reached at all
            state = exc.sqlstate or ""
            lost = not state or state.startswith(("08", "57P"))
            if lost and isinstance(exc, psycopg.OperationalError):
                raise self._connect_error(exc) from exc
            raise StoreError(
                f"pgvector store, collection {self.collection!r} at {self._where['addr']}: "
                f"{first_line(exc)}"
            ) from exc
