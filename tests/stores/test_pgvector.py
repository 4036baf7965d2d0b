"""PgVectorStore on a real PostgreSQL 18 + pgvector (the session server from ``pg_fixture``).

The shared store contract runs twice: with the default lazy index (small collections are
searched exactly) and with the HNSW index from the first row. The rest is pgvector-specific:
schema versions, transactions, concurrent writers, the index, filter SQL and bad input.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from rag.config import Settings
from rag.errors import ConfigError, DimensionMismatchError, StoreError
from rag.stores import make_store
from rag.stores.base import DuplicatePolicy, SourceRecord, matches, normalize_condition
from rag.stores.pgvector import MIGRATIONS, PgVectorStore, build_where, table_name
from rag.stores.pgvector_server import free_port
from rag.testing.store_contract import StoreContract, make_chunk, unit, vectors
from rag.types import Chunk

pytestmark = pytest.mark.integration


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"


def _admin(dsn: str, dbname: str | None = None) -> psycopg.Connection[Any]:
    kwargs: dict[str, Any] = {"autocommit": True}
    if dbname:
        kwargs["dbname"] = dbname
    return psycopg.connect(dsn, **kwargs)


def _drop(dsn: str, collection: str) -> None:
    with PgVectorStore(dsn, collection) as s:
        s.drop()


class TestPgVectorContract(StoreContract):
    """The shared contract with default settings (HNSW built at 10,000 rows: exact search here)."""

    options: dict[str, Any] = {}  # noqa: RUF012

    @pytest.fixture
    def store(self, pg_dsn: str) -> Iterator[PgVectorStore]:
        name = _name()
        s = PgVectorStore(pg_dsn, name, **self.options)
        yield s
        s.close()
        _drop(pg_dsn, name)
        _drop(pg_dsn, name + "-other")

    def reopen(self, store: Any) -> PgVectorStore:
        store.close()
        return PgVectorStore(store.dsn, store.collection, **self.options)

    def sibling(self, store: Any, collection: str) -> PgVectorStore:
        return PgVectorStore(store.dsn, collection, **self.options)


class TestPgVectorContractHnsw(TestPgVectorContract):
    """The same contract with the HNSW index present from the first row."""

    options = {"hnsw_min_rows": 0}  # noqa: RUF012

    def test_index_is_used(self, store: PgVectorStore) -> None:
        """The planner answers a top-k query from the HNSW index, not a sequential scan."""
        store.write([make_chunk("a", "alpha")], vectors(unit(0)))
        assert store.has_index()
        with _admin(store.dsn) as conn:
            conn.execute(
                "SET enable_seqscan = off"
            )  # tiny table: force the choice the index allows
            plan = conn.execute(
                f"EXPLAIN SELECT id FROM {table_name(store.collection)} "
                "ORDER BY embedding <=> '[1,0,0,0,0,0,0,0]' LIMIT 3"
            ).fetchall()
        assert any("_hnsw" in row[0] for row in plan), plan


@pytest.fixture
def store(pg_dsn: str) -> Iterator[PgVectorStore]:
    name = _name()
    s = PgVectorStore(pg_dsn, name)
    yield s
    s.close()
    _drop(pg_dsn, name)


# -- schema ---------------------------------------------------------------------------------


def test_schema_version_recorded_once(store: PgVectorStore, pg_dsn: str) -> None:
    """Every migration is recorded once; opening more stores does not re-run them."""
    versions = [v for v, _, _ in MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    PgVectorStore(pg_dsn, _name()).close()
    with _admin(pg_dsn) as conn:
        rows = conn.execute("SELECT version FROM rag_schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == versions


def test_newer_schema_is_refused(pg_dsn: str) -> None:
    """A database migrated by a newer rag is not touched: StoreError saying to upgrade."""
    db = f"future_{uuid.uuid4().hex[:8]}"
    with _admin(pg_dsn) as conn:
        conn.execute(f"CREATE DATABASE {db}")
    try:
        dsn = psycopg.conninfo.make_conninfo(pg_dsn, dbname=db)
        PgVectorStore(dsn, "c1").close()
        with _admin(dsn) as conn:
            conn.execute("INSERT INTO rag_schema_version VALUES (999, 'from the future')")
        with pytest.raises(StoreError, match="upgrade rag"):
            PgVectorStore(dsn, "c1")
    finally:
        with _admin(pg_dsn) as conn:
            conn.execute(f"DROP DATABASE {db} WITH (FORCE)")


def test_table_names_are_distinct_and_safe(pg_dsn: str) -> None:
    """Names that sanitize alike get different tables; quotes in a name are only data."""
    assert table_name("a.b") != table_name("a_b")
    evil = 'x"; DROP TABLE rag_collections; --' + "y" * 80
    assert len(table_name(evil)) <= 63
    stores = [PgVectorStore(pg_dsn, n) for n in ("a.b", "a_b", evil)]
    try:
        for i, s in enumerate(stores):
            s.write([make_chunk("same-id", f"text {i}")], vectors(unit(i)))
        for i, s in enumerate(stores):
            assert s.count() == 1
            assert s.query(unit(i), k=1)[0].chunk.text == f"text {i}"
        with _admin(pg_dsn) as conn:
            row = conn.execute("SELECT count(*) FROM rag_collections WHERE name = %s", (evil,))
            assert row.fetchone() == (1,)
    finally:
        for s in stores:
            s.drop()
            s.close()


# -- transactions ---------------------------------------------------------------------------


def _file_chunks(version: str, n: int, source: str = "/docs/f.md") -> list[Chunk]:
    return [make_chunk(f"{version}-{i}", f"{version} text {i}", source) for i in range(n)]


def test_crash_mid_file_leaves_old_chunks(store: PgVectorStore, pg_dsn: str) -> None:
    """An exception between the writes of one source rolls all of them back: old chunks and
    old manifest entry stay, none of the new chunks appear (seen from another connection)."""
    old = _file_chunks("old", 4)
    rng = np.random.default_rng(1)
    store.write(old, rng.normal(size=(4, 8)).astype(np.float32))
    store.set_source(SourceRecord("/docs/f.md", "hash-old", 4, 1.0))
    new = _file_chunks("new", 5)
    with pytest.raises(RuntimeError, match="crash"), store.transaction():
        store.write(new, rng.normal(size=(5, 8)).astype(np.float32))
        store.delete_ids([c.id for c in old])
        raise RuntimeError("crash before set_source")
    with PgVectorStore(pg_dsn, store.collection) as other:
        assert other.ids_for_source("/docs/f.md") == {c.id for c in old}
        assert other.sources()["/docs/f.md"].file_hash == "hash-old"
    with store.transaction():
        store.write(new, rng.normal(size=(5, 8)).astype(np.float32))
        store.delete_ids([c.id for c in old])
        store.set_source(SourceRecord("/docs/f.md", "hash-new", 5, 2.0))
    assert store.ids_for_source("/docs/f.md") == {c.id for c in new}
    assert store.sources()["/docs/f.md"].file_hash == "hash-new"


def test_transaction_is_invisible_until_commit(store: PgVectorStore, pg_dsn: str) -> None:
    """Writes inside ``transaction()`` share one uncommitted transaction."""
    with PgVectorStore(pg_dsn, store.collection) as other:
        store.write([make_chunk("a", "alpha")], vectors(unit(0)))
        with store.transaction():
            store.write([make_chunk("b", "beta")], vectors(unit(1)))
            store.set_source(SourceRecord("/docs/a.md", "h", 2, 1.0))
            assert store.count() == 2  # the block sees its own writes
            assert other.count() == 1 and other.sources() == {}
        assert other.count() == 2 and set(other.sources()) == {"/docs/a.md"}


def test_failed_call_in_transaction_is_a_savepoint(store: PgVectorStore) -> None:
    """A call that fails inside the block writes nothing; the block goes on and commits."""
    store.write([make_chunk("a", "alpha")], vectors(unit(0)))
    with store.transaction():
        with pytest.raises(StoreError, match="'fail'"):
            store.write(
                [make_chunk("b", "beta"), make_chunk("a", "again")],
                vectors(unit(1), unit(2)),
                DuplicatePolicy.FAIL,
            )
        store.write([make_chunk("c", "gamma")], vectors(unit(3)))
        with pytest.raises(RuntimeError), store.transaction():  # nested: a savepoint
            store.write([make_chunk("d", "delta")], vectors(unit(4)))
            raise RuntimeError("inner")
    assert store.existing_ids(["a", "b", "c", "d"]) == {"a", "c"}


def test_many_writes_in_one_transaction_hold_a_bounded_number_of_locks(
    store: PgVectorStore, pg_dsn: str
) -> None:
    """A file written in hundreds of parts is one transaction: the locks it holds must not
    grow with the parts (a staging table per write once exhausted PostgreSQL's lock table,
    "out of shared memory", on SciFact x10 with --engine ray)."""

    def held(admin: psycopg.Connection[Any]) -> int:
        row = admin.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE a.state = 'idle in transaction' AND a.datname = current_database()"
        ).fetchone()
        assert row is not None
        return int(row[0])

    rng = np.random.default_rng(2)
    with _admin(pg_dsn) as admin, store.transaction():
        counts = []
        for part in range(60):
            store.write(_file_chunks(f"p{part}", 3), rng.normal(size=(3, 8)).astype(np.float32))
            if part in (4, 59):
                counts.append(held(admin))
        assert counts[0] > 0 and counts[1] == counts[0]  # a write adds no lock the last did not
    assert store.count() == 180
    with store.transaction():  # a later transaction (and a failed call in one) still writes
        with pytest.raises(StoreError):
            store.write([make_chunk("p0-0", "again")], vectors(unit(0)), DuplicatePolicy.FAIL)
        store.write(_file_chunks("q", 2), vectors(unit(1), unit(2)))
    assert store.count() == 182


# -- concurrency ----------------------------------------------------------------------------


def test_concurrent_writers(pg_dsn: str) -> None:
    """Eight writers (own connections) race to create one collection, upsert shared ids and
    cross the index threshold together: no error, no deadlock, every row there, one index."""
    name = _name()
    errors: list[BaseException] = []
    per_writer, shared = 150, [make_chunk(f"shared-{i}", "shared") for i in range(20)]
    barrier = threading.Barrier(8, timeout=60)

    def writer(w: int) -> None:
        rng = np.random.default_rng(w)
        try:
            with PgVectorStore(pg_dsn, name, hnsw_min_rows=600, pool_size=1) as s:
                barrier.wait()
                for part in range(3):
                    chunks = _file_chunks(f"w{w}p{part}", per_writer // 3, f"/docs/{w}.md")
                    with s.transaction():
                        s.write(chunks, rng.normal(size=(len(chunks), 8)).astype(np.float32))
                        s.write(shared, rng.normal(size=(len(shared), 8)).astype(np.float32))
                        s.set_source(SourceRecord(f"/docs/{w}.md", f"h{part}", 50, 1.0))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    with PgVectorStore(pg_dsn, name) as s:
        try:
            assert s.count() == 8 * per_writer + len(shared)
            assert len(s.sources()) == 8
            assert all(len(s.ids_for_source(f"/docs/{w}.md")) == per_writer for w in range(8))
            assert s.has_index()
        finally:
            s.drop()


# -- HNSW index -----------------------------------------------------------------------------


def test_index_built_when_collection_reaches_threshold(pg_dsn: str) -> None:
    """``hnsw_min_rows`` chunks trigger the build, with the configured m/ef_construction."""
    rng = np.random.default_rng(3)
    with PgVectorStore(pg_dsn, _name(), hnsw_min_rows=100, hnsw_m=8, hnsw_ef_construction=32) as s:
        try:
            s.write(_file_chunks("a", 60), rng.normal(size=(60, 8)).astype(np.float32))
            assert not s.has_index()
            s.write(_file_chunks("b", 60), rng.normal(size=(60, 8)).astype(np.float32))
            assert s.has_index()
            with _admin(pg_dsn) as conn:
                opts = conn.execute(
                    "SELECT reloptions FROM pg_class WHERE relname = %s",
                    (table_name(s.collection) + "_hnsw",),
                ).fetchone()
            assert opts is not None and set(opts[0]) == {"m=8", "ef_construction=32"}
        finally:
            s.drop()


def test_create_index_on_demand(pg_dsn: str) -> None:
    """``hnsw_min_rows=None`` never builds by itself; ``create_index`` builds once."""
    rng = np.random.default_rng(4)
    with PgVectorStore(pg_dsn, _name(), hnsw_min_rows=None) as s:
        try:
            assert s.create_index() == 0.0  # no collection yet
            s.write(_file_chunks("a", 300), rng.normal(size=(300, 8)).astype(np.float32))
            assert not s.has_index()
            assert s.create_index() > 0.0
            assert s.has_index()
            assert s.create_index() == 0.0
        finally:
            s.drop()


def test_filtered_hnsw_query_returns_k_exact_matches(pg_dsn: str) -> None:
    """With the index, a 5%-selective filter still yields k hits (iterative scan), all matching,
    and they agree with exact search; k above ef_search is honoured too."""
    n, dim = 3000, 16
    rng = np.random.default_rng(5)
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    rare = {7, 1500, 2999}  # a selective filter: answered exactly, all of them
    chunks = [
        make_chunk(
            f"id{i}", f"t{i}", "/docs/rare.md" if i in rare else "/docs/a.md", category=i % 20
        )
        for i in range(n)
    ]
    with PgVectorStore(pg_dsn, _name(), hnsw_min_rows=0, ef_search=40) as s:
        try:
            s.write(chunks, emb)
            unit_emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
            recalls = []
            for _ in range(20):
                q = rng.normal(size=dim).astype(np.float32)
                hits = s.query(q, k=10, filters={"category": 3})
                assert len(hits) == 10
                assert all(h.chunk.metadata["category"] == 3 for h in hits)
                sims = unit_emb @ (q / np.linalg.norm(q))
                allowed = np.array([i % 20 == 3 for i in range(n)])
                exact = {f"id{i}" for i in np.argsort(-np.where(allowed, sims, -9))[:10]}
                recalls.append(len(exact & {h.chunk.id for h in hits}) / 10)
            assert np.mean(recalls) >= 0.9
            hits = s.query(emb[1], k=10, filters={"source": "/docs/rare.md"})
            assert {h.chunk.id for h in hits} == {f"id{i}" for i in rare}
            assert len(s.query(emb[0], k=150)) == 150
        finally:
            s.drop()


# -- filters --------------------------------------------------------------------------------


def _random_corpus(n: int, rng: np.random.Generator) -> list[Chunk]:
    chunks = []
    for i in range(n):
        meta: dict[str, Any] = {}
        if rng.random() < 0.8:
            meta["n"] = int(rng.integers(-5, 15))
        if rng.random() < 0.7:
            meta["x"] = float(np.round(rng.normal(), 2))
        if rng.random() < 0.7:
            meta["s"] = str(rng.choice(["apple", "Banana", "cherry", "éclair", "10", "9"]))
        if rng.random() < 0.5:
            meta["b"] = bool(rng.random() < 0.5)
        if rng.random() < 0.3:  # a field of mixed types across chunks
            meta["mixed"] = [1, "1", 2.5, True, "z"][int(rng.integers(0, 5))]
        if rng.random() < 0.3:
            meta["a.b-c"] = int(rng.integers(0, 3))
        chunks.append(make_chunk(f"r{i}", f"text {i}", f"/docs/{i % 4}.md", **meta))
    return chunks


FILTERS: list[dict[str, Any]] = [
    {"n": 3},
    {"n": 3.0},
    {"n": {"$ne": 3}},
    {"n": {"$gt": 2, "$lte": 9}},
    {"n": {"$lt": 0}},
    {"n": [1, 2, 3, 99]},
    {"n": {"$in": []}},
    {"x": {"$gte": -0.5, "$lt": 0.5}},
    {"x": {"$gt": 0}},
    {"s": "apple"},
    {"s": {"$lt": 5}},
    {"s": ["apple", "éclair", 10]},
    {"s": {"$ne": "apple"}},
    {"b": True},
    {"b": False},
    {"b": {"$ne": True}},
    {"mixed": 1},
    {"mixed": "1"},
    {"mixed": {"$gte": 1}},
    {"mixed": {"$ne": "z"}},
    {"a.b-c": 2},
    {"source": "/docs/1.md"},
    {"source": {"$ne": "/docs/1.md"}, "n": {"$gte": 0}},
    {"source": ["/docs/0.md", "/docs/3.md"], "b": True, "s": {"$ne": "cherry"}},
    {"missing": 1},
    {"missing": {"$ne": 1}},
]


def _is_number(arg: Any) -> bool:
    if isinstance(arg, list):
        return any(_is_number(a) for a in arg)
    return isinstance(arg, int | float) and not isinstance(arg, bool)


def _expected(chunks: list[Chunk], filters: dict[str, Any]) -> set[str]:
    """``matches``, except that JSON keeps booleans apart from numbers (Python: True == 1)."""
    out = set()
    for c in chunks:
        values = {**c.metadata, "source": c.source}
        if not matches(values, filters):
            continue
        if any(
            isinstance(values.get(field), bool)
            and any(_is_number(a) for a in normalize_condition(cond).values())
            for field, cond in filters.items()
        ):
            continue
        out.add(c.id)
    return out


@pytest.mark.parametrize("filters", FILTERS, ids=[str(f) for f in FILTERS])
def test_filters_agree_with_reference(pg_dsn: str, filters: dict[str, Any]) -> None:
    """``count`` and ``query`` select exactly what ``rag.stores.base.matches`` selects."""
    rng = np.random.default_rng(11)
    chunks = _random_corpus(300, rng)
    emb = rng.normal(size=(300, 8)).astype(np.float32)
    with PgVectorStore(pg_dsn, "filter-corpus") as s:
        if s.count() != 300:
            s.drop()
            s.write(chunks, emb)
        expected = _expected(chunks, filters)
        assert s.count(filters) == len(expected)
        got = {h.chunk.id for h in s.query(emb[0], k=300, filters=filters)}
        assert got == expected


# Text range bounds were answered by pgvector (by code point) but refused by Chroma; every
# store now refuses them alike in ``validate_filters`` (issue #12 case 8).
TEXT_RANGES: list[dict[str, Any]] = [
    {"n": {"$gt": "a"}},
    {"s": {"$gt": "Banana"}},
    {"s": {"$lte": "9"}},
    {"source": {"$gte": "/docs/2.md"}},
]


@pytest.mark.parametrize("filters", TEXT_RANGES, ids=[str(f) for f in TEXT_RANGES])
def test_text_range_filters_are_refused(pg_dsn: str, filters: dict[str, Any]) -> None:
    """A range operator with a text bound is a ConfigError naming the field, as on Chroma."""
    with PgVectorStore(pg_dsn, "filter-corpus") as s:
        field = next(iter(filters))
        with pytest.raises(ConfigError, match=f"filter on '{field}'.*only numbers"):
            s.count(filters)
        with pytest.raises(ConfigError, match="only numbers"):
            s.query(np.ones(8, dtype=np.float32), k=3, filters=filters)


def test_filter_names_and_values_are_parameters() -> None:
    """The SQL text is constant: field names and values only ever appear as parameters."""
    evil = "a'; drop table x; --"
    where, params = build_where({evil: {"$gte": evil, "$ne": 1}, "source": [evil]})
    text = where.as_string(None)
    assert evil not in text and "drop" not in text
    assert evil in params


def test_malicious_filter_key_changes_nothing(store: PgVectorStore, pg_dsn: str) -> None:
    """The key from the issue raises ConfigError before SQL; the table is intact after."""
    store.write([make_chunk("a", "alpha"), make_chunk("b", "beta")], vectors(unit(0), unit(1)))
    evil = {"a'; drop table x; --": 1}
    with pytest.raises(ConfigError, match="not a valid name"):
        store.query(unit(0), k=2, filters=evil)
    with pytest.raises(ConfigError, match="not a valid name"):
        store.count(evil)
    assert store.count() == 2
    with _admin(pg_dsn) as conn:
        assert conn.execute("SELECT to_regclass('rag_collections')").fetchone() != (None,)


# -- bad input ------------------------------------------------------------------------------


def test_unreachable_dsn_is_quick_and_named() -> None:
    """A closed port: StoreError naming pg_dsn and host:port within a few seconds."""
    port = free_port()
    start = time.monotonic()
    with pytest.raises(StoreError) as info:
        PgVectorStore(f"postgresql://rag:secret@127.0.0.1:{port}/rag", "c")
    assert time.monotonic() - start < 10
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "pg_dsn" in message and "rag db start" in message
    assert "secret" not in message


def test_wrong_password_is_named(pg_dsn: str) -> None:
    """scram auth with a wrong password: StoreError naming the user, the password problem
    and pg_dsn, never the password itself."""
    with _admin(pg_dsn) as conn:
        conn.execute("DROP ROLE IF EXISTS rag_pw")
        conn.execute("CREATE ROLE rag_pw LOGIN PASSWORD 'right-pw'")
    bad = psycopg.conninfo.make_conninfo(pg_dsn, user="rag_pw", password="wrong-pw")
    with pytest.raises(StoreError) as info:
        PgVectorStore(bad, "c")
    message = str(info.value)
    assert "password authentication failed" in message and "'rag_pw'" in message
    assert "pg_dsn" in message and "wrong-pw" not in message


def test_database_without_vector_and_no_right_to_create_it(pg_dsn: str) -> None:
    """A non-superuser in a database without pgvector: StoreError naming the database, the
    extension and the fix; nothing created. Once an admin adds the extension, it works."""
    db = f"noext_{uuid.uuid4().hex[:8]}"
    with _admin(pg_dsn) as conn:
        conn.execute("DROP ROLE IF EXISTS rag_plain")
        conn.execute("CREATE ROLE rag_plain LOGIN PASSWORD 'plain-pw'")
        conn.execute(f"CREATE DATABASE {db}")
    try:
        with _admin(pg_dsn, db) as conn:
            conn.execute("GRANT CREATE ON SCHEMA public TO rag_plain")
        dsn = psycopg.conninfo.make_conninfo(
            pg_dsn, dbname=db, user="rag_plain", password="plain-pw"
        )
        with pytest.raises(StoreError) as info:
            PgVectorStore(dsn, "c")
        message = str(info.value)
        assert f"{db!r}" in message and "CREATE EXTENSION vector" in message
        assert "'rag_plain'" in message and "pg_dsn" in message
        with _admin(pg_dsn, db) as conn:
            row = conn.execute(
                "SELECT to_regclass('rag_schema_version'), to_regclass('rag_collections'), "
                "(SELECT count(*) FROM pg_extension WHERE extname = 'vector')"
            ).fetchone()
            assert row == (None, None, 0)
            conn.execute("CREATE EXTENSION vector")
        with PgVectorStore(dsn, "c") as s:
            s.write([make_chunk("a", "alpha")], vectors(unit(0)))
            assert s.count() == 1
    finally:
        with _admin(pg_dsn) as conn:
            conn.execute(f"DROP DATABASE {db} WITH (FORCE)")
            conn.execute("DROP ROLE rag_plain")


def test_malformed_dsn_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pg_dsn"):
        PgVectorStore("not a dsn", "c")


def test_dimension_mismatch_names_fix_and_writes_nothing(store: PgVectorStore) -> None:
    """Another embedder's vectors: the error names collection, both sizes and the fix."""
    store.write([make_chunk("a", "alpha")], vectors(unit(0)))
    with pytest.raises(DimensionMismatchError) as info:
        store.write([make_chunk("b", "beta")], np.ones((1, 384), dtype=np.float32))
    message = str(info.value)
    assert store.collection in message and "8-dimensional" in message and "384" in message
    assert "embed_model" in message and "--collection" in message
    assert store.existing_ids(["b"]) == set()


# -- settings -------------------------------------------------------------------------------


def test_from_settings_without_dsn_or_server(tmp_path: Path) -> None:
    """No pg_dsn and no ``rag db`` server: ConfigError naming every way to set it."""
    settings = Settings(data_dir=tmp_path, store="pgvector")
    with pytest.raises(ConfigError) as info:
        PgVectorStore.from_settings(settings)
    for hint in ("pg_dsn", "--dsn", "RAG_PG_DSN", "rag db start"):
        assert hint in str(info.value)


def test_from_settings_uses_running_rag_db_server(pg_dsn: str, pg_data_dir: Path) -> None:
    """With pg_dsn unset, the server ``rag db start`` runs for the data directory is used."""
    settings = Settings(data_dir=pg_data_dir, store="pgvector", collection=_name())
    with PgVectorStore.from_settings(settings) as s:
        assert s.dsn == pg_dsn
        assert s.collection == settings.collection


def test_make_store_builds_pgvector(pg_dsn: str, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, store="pgvector", pg_dsn=pg_dsn, collection=_name())
    store = make_store(settings)
    try:
        assert isinstance(store, PgVectorStore)
        store.write([make_chunk("a", "alpha")], vectors(unit(0)))
        assert store.count() == 1
    finally:
        store.drop()  # type: ignore[attr-defined]
        store.close()
