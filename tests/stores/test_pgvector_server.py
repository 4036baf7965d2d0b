"""``rag.stores.pgvector_server`` and ``rag db start|stop|status``: a real embedded PostgreSQL
in a data dir."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.config import Settings
from rag.errors import ConfigError, StoreError
from rag.stores.pgvector import PgVectorStore
from rag.stores.pgvector_server import LocalPostgres, resolve_dsn, running_dsn
from rag.testing.store_contract import make_chunk, unit, vectors

pytestmark = pytest.mark.integration


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """Outside pytest's basetemp, which other pytest runs reset to 0700 (see pg_fixture)."""
    path = Path(tempfile.mkdtemp(prefix="rag-db-test-"))
    yield path
    LocalPostgres(path / "postgres").stop()
    shutil.rmtree(path, ignore_errors=True)


def test_rag_db_start_status_stop_keeps_data(data_dir: Path) -> None:
    """start prints a working DSN (scram, loopback only), status finds it, stop stops it, and
    the data and password survive a restart."""
    runner = CliRunner()
    args = ["--data-dir", str(data_dir)]

    result = runner.invoke(app, ["db", "status", *args])
    assert result.exit_code == 1 and "not running" in result.output

    result = runner.invoke(app, ["db", "start", *args])
    assert result.exit_code == 0, result.output
    dsn = result.stdout.strip().splitlines()[-1]
    assert dsn.startswith("postgresql://postgres:") and "@127.0.0.1:" in dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        rules = conn.execute(
            "SELECT DISTINCT auth_method FROM pg_hba_file_rules WHERE type = 'host'"
        )
        assert {r[0] for r in rules} == {"scram-sha-256"}
    state = json.loads((data_dir / "postgres" / "server.json").read_text())
    assert state["dsn"] == dsn
    assert (data_dir / "postgres" / "server.json").stat().st_mode & 0o077 == 0

    again = runner.invoke(app, ["db", "start", *args])
    assert again.exit_code == 0 and again.stdout.strip().splitlines()[-1] == dsn
    assert "already running" in again.output
    status = runner.invoke(app, ["db", "status", *args])
    assert status.exit_code == 0 and status.stdout.strip().splitlines()[-1] == dsn
    assert running_dsn(Settings(data_dir=data_dir)) == dsn

    store = PgVectorStore(dsn, "kept-chunks")
    store.write([make_chunk("a", "alpha")], vectors(unit(0)))

    stop = runner.invoke(app, ["db", "stop", *args])
    assert stop.exit_code == 0 and "stopped" in stop.output
    with pytest.raises(StoreError) as lost:  # the server went away under an open store
        store.count()
    assert "127.0.0.1:" in str(lost.value) and "pg_dsn" in str(lost.value)
    store.close()
    assert runner.invoke(app, ["db", "status", *args]).exit_code == 1
    assert running_dsn(Settings(data_dir=data_dir)) is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(dsn, connect_timeout=2)

    restarted = LocalPostgres(data_dir / "postgres").start()
    password = dsn.split(":")[2].split("@")[0]
    assert f":{password}@" in restarted.dsn
    with psycopg.connect(restarted.dsn) as conn:
        assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
    with PgVectorStore(restarted.dsn, "kept-chunks") as again:
        assert again.count() == 1
    assert LocalPostgres(data_dir / "postgres").stop() is True
    assert LocalPostgres(data_dir / "postgres").stop() is False


def test_stale_state_file_is_not_a_server(data_dir: Path) -> None:
    """A state file left by a crashed server (no data dir, no process) reads as not running."""
    root = data_dir / "postgres"
    root.mkdir()
    (root / "server.json").write_text(json.dumps({"dsn": "postgresql://x@127.0.0.1:1/x"}))
    assert LocalPostgres(root).status() is None
    assert not (root / "server.json").exists()
    assert running_dsn(Settings(data_dir=data_dir)) is None


def test_resolve_dsn_order(pg_dsn: str, pg_data_dir: Path, data_dir: Path) -> None:
    """pg_dsn wins; else the running ``rag db`` server; else a ConfigError with every hint."""
    explicit = "postgresql://u:p@db.example:5432/rag"
    assert resolve_dsn(Settings(data_dir=pg_data_dir, pg_dsn=explicit)) == explicit
    assert resolve_dsn(Settings(data_dir=pg_data_dir)) == pg_dsn
    with pytest.raises(ConfigError) as info:
        resolve_dsn(Settings(data_dir=data_dir))
    for hint in ("pg_dsn", "--dsn", "RAG_PG_DSN", "rag db start"):
        assert hint in str(info.value)
