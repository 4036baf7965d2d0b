"""Roots with stores the previous version wrote, in its exact layouts (pgvector at schema
version 3, Chroma and Qdrant records without the root keys), and a SIGKILL in the middle of
re-keying a moved folder (issue #12)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
from roots_helpers import all_chunks, clean, folder_c, pipeline, snapshot, without_embedding


@pytest.fixture()
def c(tmp_path: Path) -> Path:
    return folder_c(tmp_path)


# -- stores written by the previous version, in its exact layout ------------------------------


def _old_sidecar(path: Path) -> None:
    """The keyword sidecar as the previous version wrote it: chunks without the new fields."""
    import sqlite3

    with sqlite3.connect(path) as db:
        db.execute("UPDATE docs SET chunk = json_remove(chunk, '$.root', '$.rel_path')")


def test_pgvector_at_schema_3_migrates_and_gets_roots_without_embedding(
    c: Path, pg_dsn: str
) -> None:
    """A database at schema version 3 (no root columns anywhere) is migrated when opened,
    answers queries right away, and the next ingest records every root, nothing embedded."""
    import psycopg
    from psycopg import sql

    from rag.stores.pgvector import MIGRATIONS, PgVectorStore

    db = f"v3_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    dsn = psycopg.conninfo.make_conninfo(pg_dsn, dbname=db)
    try:
        with PgVectorStore(dsn, "docs") as new:
            pipeline(new).run(c)
        with psycopg.connect(dsn, autocommit=True) as conn:  # back to what version 3 wrote
            (table,) = conn.execute("SELECT table_name FROM rag_collections").fetchone() or ("",)
            conn.execute(
                sql.SQL("ALTER TABLE {t} DROP COLUMN root, DROP COLUMN rel_path").format(
                    t=sql.Identifier(table)
                )
            )
            conn.execute("ALTER TABLE rag_sources DROP COLUMN root, DROP COLUMN rel_path")
            conn.execute("DELETE FROM rag_schema_version WHERE version > 3")
        with PgVectorStore(dsn, "docs") as old:  # migration 4 runs here
            assert {ch.root for ch in all_chunks(old)} == {""}  # works before any ingest
            report = without_embedding(old).run(c)
            assert (report.files_rerooted, report.chunks_embedded) == (4, 0)
            assert snapshot(old) == clean(c)
        with psycopg.connect(dsn) as conn:
            rows = conn.execute("SELECT version FROM rag_schema_version ORDER BY 1").fetchall()
        assert [r[0] for r in rows] == [v for v, _, _ in MIGRATIONS]
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE {db} WITH (FORCE)")


def test_chroma_written_without_root_keys_gets_them(c: Path, tmp_path: Path) -> None:
    """Chroma records and manifest entries without the root keys (the previous version's
    layout) read with empty roots, and the next ingest records them, nothing embedded."""
    from rag.stores.chroma import ChromaStore

    path = tmp_path / "chroma"
    store = ChromaStore("docs", path=path)
    pipeline(store).run(c)
    client = store._client
    for name, drop in (
        ("docs", ("rag_root", "rag_rel_path")),
        ("docs__sources", ("root", "rel_path")),
    ):
        col = client.get_collection(name)
        got = col.get(include=["embeddings", "metadatas"])
        metas = [
            {k: v for k, v in (m or {}).items() if k not in drop} for m in got["metadatas"] or []
        ]
        col.delete(ids=got["ids"])
        col.add(ids=got["ids"], embeddings=got["embeddings"], metadatas=metas)  # type: ignore[arg-type]
    store.close()
    _old_sidecar(path / "rag_keyword" / "docs.sqlite")
    old = ChromaStore("docs", path=path)
    try:
        assert {ch.root for ch in all_chunks(old)} == {""}
        assert {r.root for r in old.sources().values()} == {""}
        report = without_embedding(old).run(c)
        assert (report.files_rerooted, report.chunks_embedded) == (4, 0)
        assert snapshot(old) == clean(c)
    finally:
        old.close()


def test_qdrant_written_without_root_keys_gets_them(c: Path, tmp_path: Path) -> None:
    """The same for Qdrant's payloads (points and manifest) written without root keys."""
    from qdrant_client import models

    from rag.stores.qdrant import QdrantStore

    path = tmp_path / "qdrant"
    store = QdrantStore("docs", path=path)
    pipeline(store).run(c)
    for name in ("docs", "docs__sources"):
        store._client.delete_payload(name, keys=["root", "rel_path"], points=models.Filter())
    store.close()
    _old_sidecar(path / "rag_keyword" / "docs.sqlite")
    old = QdrantStore("docs", path=path)
    try:
        assert {ch.root for ch in all_chunks(old)} == {""}
        report = without_embedding(old).run(c)
        assert (report.files_rerooted, report.chunks_embedded) == (4, 0)
        assert snapshot(old) == clean(c)
    finally:
        old.close()


MOVE_KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from rag.chunking import TokenChunker
    from rag.keywords import KeywordTokenizer
    from rag.pipelines.ingest import IngestPipeline
    from rag.stores.chroma import ChromaStore
    from rag.testing import FakeEmbedder

    method, at = sys.argv[3], int(sys.argv[4])

    class Killed(ChromaStore):
        calls = 0

    def killing(name):
        real = getattr(ChromaStore, name)

        def call(self, *args, **kwargs):
            Killed.calls += 1
            if Killed.calls == at:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, *args, **kwargs)

        return call

    setattr(Killed, method, killing(method))
    e = FakeEmbedder()
    store = Killed("docs", path=sys.argv[2])
    chunker = TokenChunker(e.tokenizer, 40, 8)
    IngestPipeline(store, e, chunker, keyword_tokenizer=KeywordTokenizer()).run(sys.argv[1])
    """
)


@pytest.mark.integration
@pytest.mark.parametrize(("method", "at"), [("write", 1), ("set_source", 2), ("delete_source", 2)])
def test_kill_9_while_moving_then_rerun_leaves_chroma_like_a_clean_run(
    c: Path, tmp_path: Path, method: str, at: int
) -> None:
    """The process is killed (SIGKILL) in the middle of re-keying a moved folder: the next
    run finishes the move, nothing embedded, and the store equals a clean ingest."""
    from rag.stores.chroma import ChromaStore

    path = tmp_path / "chroma"
    with_store = ChromaStore("docs", path=path)
    pipeline(with_store).run(c)
    with_store.close()
    d = c.with_name("d")
    c.rename(d)
    args = [sys.executable, "-c", MOVE_KILL_SCRIPT, str(d), str(path), method, str(at)]
    killed = subprocess.run(args, capture_output=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    store = ChromaStore("docs", path=path)
    try:
        report = without_embedding(store).run(d)
        assert report.ok and report.chunks_embedded == 0 and report.files_moved > 0
        assert snapshot(store) == clean(d)
    finally:
        store.close()
