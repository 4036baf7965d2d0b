"""The store contract on MemoryStore and ChromaStore (embedded and server), plus
Chroma-specific behaviour: persistence across processes, cosine space, no network."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.errors import CollectionNotFoundError, ConfigError, DimensionMismatchError, StoreError
from rag.stores.base import DuplicatePolicy, SourceRecord, Store, chunk_fields, matches
from rag.stores.chroma import ChromaStore, _parse_url, translate_filters
from rag.stores.memory import MemoryStore
from rag.testing.store_contract import DIM, StoreContract, make_chunk, unit, vectors

REPO = Path(__file__).resolve().parents[2]


def _run_python(code: str, *, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
    """Run ``code`` in a fresh interpreter of this venv; return stdout, fail with stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


# -- the contract on every backend in this module ---------------------------------------


class TestMemoryStoreContract(StoreContract):
    persistent = False

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        yield MemoryStore("contract")


class TestChromaStoreContract(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        s = ChromaStore("contract", path=tmp_path / "chroma")
        yield s
        s.close()

    def reopen(self, store: Store) -> Store:
        assert isinstance(store, ChromaStore)
        store.close()
        return ChromaStore(store.collection, path=store.path)

    def sibling(self, store: Store, collection: str) -> Store:
        assert isinstance(store, ChromaStore)
        return ChromaStore(collection, path=store.path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``chroma run`` server on 127.0.0.1 (the CLI that ships with chromadb)."""
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if exe is None:
        pytest.skip("the `chroma` CLI is not installed next to this Python")
    port = _free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("wb")
    proc = subprocess.Popen(
        [exe, "run", "--path", str(data / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    f"chroma server did not start: {(data / 'server.log').read_text()[-2000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.integration
class TestChromaServerContract(StoreContract):
    """The same contract through ``chromadb.HttpClient`` against a real server."""

    @pytest.fixture
    def store(self, chroma_server: str) -> Iterator[Store]:
        s = ChromaStore(f"c-{uuid.uuid4().hex[:12]}", url=chroma_server)
        yield s
        s.delete_collection()
        s.close()

    def reopen(self, store: Store) -> Store:
        assert isinstance(store, ChromaStore) and store.url
        store.close()
        return ChromaStore(store.collection, url=store.url)

    def sibling(self, store: Store, collection: str) -> Store:
        assert isinstance(store, ChromaStore) and store.url
        return ChromaStore(collection, url=store.url)


# -- MemoryStore specifics ----------------------------------------------------------------


def test_memory_store_matches_brute_force() -> None:
    """Top-k with filters equals a numpy brute force over the same data."""
    rng = np.random.default_rng(3)
    n, dim = 400, 16
    emb = rng.normal(size=(n, dim)).astype(np.float32)
    chunks = [make_chunk(f"c{i}", f"t{i}", f"/s/{i % 5}.md", bucket=i % 3) for i in range(n)]
    store = MemoryStore("brute")
    store.write(chunks, emb)
    store.delete_ids([f"c{i}" for i in range(0, n, 7)])  # exercise swap-remove
    alive = [i for i in range(n) if i % 7]
    unit_emb = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    flt = {"bucket": {"$ne": 1}, "source": ["/s/0.md", "/s/2.md", "/s/4.md"]}
    for q in rng.normal(size=(5, dim)).astype(np.float32):
        scores = unit_emb @ (q / np.linalg.norm(q))
        ok = [i for i in alive if matches(chunk_fields(chunks[i]), flt)]
        want = sorted(ok, key=lambda i: -scores[i])[:10]
        got = store.query(q, k=10, filters=flt)
        assert [r.chunk.id for r in got] == [f"c{i}" for i in want]
        assert [r.score for r in got] == pytest.approx([float(scores[i]) for i in want], abs=1e-5)


def test_memory_store_concurrent_writes() -> None:
    """Writes from several threads all land (the lock serializes them)."""
    store = MemoryStore("threads")
    rng = np.random.default_rng(0)

    def worker(t: int) -> None:
        for b in range(20):
            ids = [f"t{t}-{b}-{i}" for i in range(10)]
            store.write(
                [make_chunk(x, x) for x in ids], rng.normal(size=(10, DIM)).astype(np.float32)
            )

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.count() == 4 * 20 * 10
    assert len(store.query(unit(0), k=5)) == 5


# -- Chroma specifics ---------------------------------------------------------------------


def test_chroma_persists_across_processes(tmp_path: Path) -> None:
    """Data written by one process is read by another (new client, same directory)."""
    path = tmp_path / "chroma"
    store = ChromaStore("persist", path=path)
    store.write(
        [make_chunk("a", "알파 alpha", page_no=1), make_chunk("b", "beta")],
        vectors(unit(0), unit(1)),
    )
    store.set_source(SourceRecord("/docs/a.md", "hash-1", 2, 1234.5))
    store.close()
    out = _run_python(
        "import json, numpy as np\n"
        "from rag.stores.chroma import ChromaStore\n"
        f"s = ChromaStore('persist', path={str(path)!r})\n"
        "q = np.eye(1, 8, dtype=np.float32)[0]\n"
        "hit = s.query(q, k=1)[0]\n"
        "src = s.sources()['/docs/a.md']\n"
        "s.write([], np.zeros((0, 8), np.float32))\n"
        "print(json.dumps([s.count(), hit.chunk.text, hit.chunk.metadata, hit.score,"
        " src.file_hash, src.updated_at]))\n"
        "s.close()\n"
    )
    count, text, meta, score, file_hash, updated = json.loads(out)
    assert (count, text, meta, file_hash, updated) == (
        2,
        "알파 alpha",
        {"page_no": 1},
        "hash-1",
        1234.5,
    )
    assert score == pytest.approx(1.0, abs=1e-4)


def test_chroma_collection_uses_cosine_and_records_dimension(tmp_path: Path) -> None:
    """The Chroma collection is created in cosine space with the dimension in its metadata,
    and scores are cosine similarities (60 degrees -> 0.5)."""
    import chromadb
    from chromadb.config import Settings

    path = tmp_path / "chroma"
    store = ChromaStore("cosine", path=path)
    sixty = np.array([0.5, np.sqrt(3) / 2] + [0.0] * (DIM - 2), dtype=np.float32)
    store.write([make_chunk("x", "x"), make_chunk("s", "sixty")], vectors(unit(0), sixty * 3))
    scores = {r.chunk.id: r.score for r in store.query(unit(0) * 7, k=2)}
    assert scores["x"] == pytest.approx(1.0, abs=1e-4)
    assert scores["s"] == pytest.approx(0.5, abs=1e-4)

    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )
    col = client.get_collection("cosine", embedding_function=None)
    assert col.configuration_json["hnsw"]["space"] == "cosine"
    assert col.metadata["dimension"] == DIM
    store.close()


def test_chroma_record_layout(tmp_path: Path) -> None:
    """Chunk -> Chroma record mapping: text in ``rag_text`` (not a document, which Chroma would
    also put in a full-text index rag does not use), reserved keys, escaped user keys."""
    import chromadb
    from chromadb.config import Settings

    from rag.types import Location

    path = tmp_path / "chroma"
    store = ChromaStore("layout", path=path)
    loc = Location(page=2, heading_path=("A", 'B "quoted" > C'), record="r1")
    chunk = make_chunk(
        "id1", "body", "/d/x.md", location=loc, source="fm", lang="en", rag_text="user's"
    )
    store.write([chunk], vectors(unit(0)))
    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )
    got = client.get_collection("layout", embedding_function=None).get(ids=["id1"])
    assert got["metadatas"] is not None
    meta: dict[str, Any] = dict(got["metadatas"][0])
    assert got["documents"] == [None] and meta["rag_text"] == "body"
    assert meta["source"] == "/d/x.md"
    assert meta["meta.source"] == "fm" and meta["meta.rag_text"] == "user's"
    assert meta["lang"] == "en"
    assert meta["loc_page"] == 2 and meta["loc_record"] == "r1"
    assert json.loads(meta["loc_heading_path"]) == ["A", 'B "quoted" > C']
    assert "loc_start_line" not in meta  # None values are skipped
    back = store.query(unit(0), k=1)[0].chunk
    assert back.text == "body" and back.metadata == chunk.metadata
    store.close()


def test_chroma_never_touches_the_network(tmp_path: Path) -> None:
    """Import, client creation, write and query work with every socket connect refused, and
    nothing is downloaded (Chroma's default embedding function would fetch an ONNX model)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import socket\n"
        "def _blocked(*a, **k):\n"
        "    raise OSError('network disabled by test')\n"
        "socket.socket.connect = _blocked\n"
        "socket.socket.connect_ex = _blocked\n"
        "socket.create_connection = _blocked\n"
        "socket.getaddrinfo = _blocked\n"
    )
    home = tmp_path / "home"
    code = (
        "import socket, sys, numpy as np\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', 9))\n"
        "    raise SystemExit('the network block is not active')\n"
        "except OSError as exc:\n"
        "    assert 'disabled by test' in str(exc), exc\n"
        "import rag.stores\n"
        "assert 'chromadb' not in sys.modules, 'import rag.stores imported chromadb'\n"
        "from rag.stores import ChromaStore, SourceRecord\n"
        "from rag.testing.store_contract import make_chunk\n"
        f"s = ChromaStore('offline', path={str(tmp_path / 'db')!r})\n"
        "s.write([make_chunk('a', 'alpha'), make_chunk('b', 'beta')], np.eye(2, 8, dtype=np.float32))\n"
        "s.set_source(SourceRecord('/docs/a.md', 'h', 2, 1.0))\n"
        "print(s.query(np.eye(1, 8, dtype=np.float32)[0], k=1)[0].chunk.text, s.count())\n"
        "s.close()\n"
    )
    out = _run_python(
        code,
        env={
            "PYTHONPATH": str(site),
            "HOME": str(home),
            "HF_HUB_OFFLINE": "1",
            "XDG_CACHE_HOME": str(home / ".cache"),
        },
    )
    assert out.split() == ["alpha", "2"]
    assert not (home / ".cache" / "chroma").exists()  # no ONNX model download was attempted


def test_importing_rag_stores_is_light() -> None:
    """``import rag.stores`` loads neither chromadb nor psycopg."""
    out = _run_python(
        "import sys, rag.stores\n"
        "print(sorted(m for m in ('chromadb', 'psycopg') if m in sys.modules))\n"
        "print(sorted(rag.stores.__all__))\n"
    )
    loaded, names = out.splitlines()
    assert loaded == "[]"
    assert "ChromaStore" in names and "make_store" in names


def test_chroma_rejects_foreign_l2_collection(tmp_path: Path) -> None:
    """A same-named collection in another distance space is refused with advice."""
    import chromadb
    from chromadb.config import Settings

    path = tmp_path / "chroma"
    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )
    client.create_collection(
        "foreign", configuration={"hnsw": {"space": "l2"}}, embedding_function=None
    )
    with pytest.raises(StoreError, match="cosine"):
        ChromaStore("foreign", path=path)


def test_chroma_adopts_foreign_cosine_collection(tmp_path: Path) -> None:
    """A cosine collection made by another tool (no ``dimension`` metadata) is usable: the
    dimension is read from a stored vector, or recorded on rag's first write."""
    import chromadb
    from chromadb.config import Settings

    path = tmp_path / "chroma"
    client = chromadb.PersistentClient(
        path=str(path), settings=Settings(anonymized_telemetry=False)
    )
    cfg: Any = {"hnsw": {"space": "cosine"}}
    filled = client.create_collection("filled", configuration=cfg, embedding_function=None)
    filled.add(
        ids=["f"],
        embeddings=np.eye(1, 3, dtype=np.float32),
        documents=["foreign"],
        metadatas=[{"source": "/x"}],
    )
    client.create_collection("blank", configuration=cfg, embedding_function=None)

    store = ChromaStore("filled", path=path)
    assert store.query(np.array([1.0, 0.0, 0.0], np.float32), k=1)[0].chunk.text == "foreign"
    with pytest.raises(DimensionMismatchError):
        store.query(unit(0), k=1)

    blank = ChromaStore("blank", path=path)
    blank.write([make_chunk("a", "a")], vectors(unit(0)))
    assert client.get_collection("blank", embedding_function=None).metadata["dimension"] == DIM
    with pytest.raises(DimensionMismatchError):
        ChromaStore("blank", path=path).write([make_chunk("b", "b")], vectors(unit(0, 4)))


def test_chroma_list_and_delete_collections(tmp_path: Path) -> None:
    """``list_collections`` hides manifests; ``delete_collection`` drops chunks and manifest."""
    path = tmp_path / "chroma"
    a, b = ChromaStore("alpha", path=path), ChromaStore("bravo", path=path)
    a.write([make_chunk("x", "x")], vectors(unit(0)))
    a.set_source(SourceRecord("/docs/x.md", "h", 1, 1.0))
    b.write([make_chunk("y", "y")], vectors(unit(1)))
    assert a.list_collections() == ["alpha", "bravo"]
    assert a.exists()
    assert a.delete_collection() is True
    assert not a.exists()
    assert a.sources() == {}
    assert a.list_collections() == ["bravo"]
    with pytest.raises(CollectionNotFoundError, match="rag ingest"):
        a.query(unit(0), k=1)
    assert b.delete_collection("alpha") is False
    assert b.count() == 1
    # the dimension is free again after a delete
    a.write([make_chunk("z", "z")], vectors(unit(0, 4)))
    assert a.count() == 1


def test_chroma_string_range_filter_is_a_config_error(tmp_path: Path) -> None:
    """Chroma compares only numbers with $gt/$lt; text ranges fail early with advice."""
    store = ChromaStore("ranges", path=tmp_path / "chroma")
    store.write([make_chunk("a", "a", lang="en")], vectors(unit(0)))
    with pytest.raises(ConfigError, match=r"\$gt only numbers"):
        store.query(unit(0), k=1, filters={"lang": {"$gt": "a"}})


def test_translate_filters_shapes() -> None:
    """The where clauses sent to Chroma for each grammar form."""
    assert translate_filters(None).where is None
    assert translate_filters({"lang": "en"}).where == {"lang": {"$eq": "en"}}
    tr = translate_filters({"source": ["/a", "/b"], "year": {"$gte": 2020, "$lt": 2022}})
    assert tr.where == {
        "$and": [
            {"source": {"$in": ["/a", "/b"]}},
            {"year": {"$gte": 2020}},
            {"year": {"$lt": 2022}},
        ]
    }
    # mixed-type lists are split because Chroma wants one type per $in
    assert translate_filters({"v": [1, "1"]}).where == {
        "$or": [{"v": {"$in": [1]}}, {"v": {"$in": ["1"]}}]
    }
    assert translate_filters({"n": {"$ne": 3}}).where == {
        "$or": [{"n": {"$gt": 3}}, {"n": {"$lt": 3}}]
    }
    assert translate_filters({"flag": {"$ne": True}}).where == {"flag": {"$eq": False}}
    tr = translate_filters({"lang": {"$ne": "en"}})
    assert tr.where == {"lang": {"$ne": "en"}} and tr.must_exist == {"lang"}
    assert translate_filters({"lang": []}).impossible
    # a user key named like a reserved key is the escaped one; `source` is the chunk's source
    assert translate_filters({"content_hash": "x"}).where == {"meta.content_hash": {"$eq": "x"}}
    with pytest.raises(ConfigError):
        translate_filters({"bad field": 1})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost:8000", ("localhost", 8000, False)),
        ("https://chroma.example.com", ("chroma.example.com", 443, True)),
        ("127.0.0.1:9000", ("127.0.0.1", 9000, False)),
        ("http://[::1]:8001/", ("::1", 8001, False)),
    ],
)
def test_parse_chroma_url(url: str, expected: tuple[str, int, bool]) -> None:
    assert _parse_url(url) == expected


@pytest.mark.parametrize(
    "url", ["ftp://host", "http://host:99999", "http://host/some/path", "http://"]
)
def test_bad_chroma_url_is_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="chroma_url"):
        _parse_url(url)


def test_unreachable_chroma_server_names_the_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(StoreError, match=r"cannot reach the Chroma server at http://127\.0\.0\.1"):
        ChromaStore("remote", url=url)


@pytest.mark.parametrize("name", ["ab", "-bad", "has space", "x" * 513, "thing__sources"])
def test_invalid_collection_name(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="collection"):
        ChromaStore(name, path=tmp_path)


def test_chroma_fail_policy_message_lists_ids(tmp_path: Path) -> None:
    store = ChromaStore("dups", path=tmp_path / "chroma")
    store.write([make_chunk("a", "a"), make_chunk("b", "b")], vectors(unit(0), unit(1)))
    with pytest.raises(StoreError, match=r"'a', 'b'.*duplicate policy is 'fail'"):
        store.write(
            [make_chunk("a", "a"), make_chunk("b", "b")],
            vectors(unit(0), unit(1)),
            DuplicatePolicy.FAIL,
        )


# -- make_store -----------------------------------------------------------------------------


def _settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Any:
    from rag.config import load_settings

    monkeypatch.chdir(tmp_path)  # no stray rag.toml
    return load_settings(data_dir=tmp_path / "data", **kw)


def test_make_store_memory_and_chroma(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rag.stores import make_store

    mem = make_store(_settings(tmp_path, monkeypatch, store="memory", collection="notes"))
    assert isinstance(mem, MemoryStore) and mem.collection == "notes"
    chroma = make_store(_settings(tmp_path, monkeypatch, store="chroma", collection="notes"))
    assert isinstance(chroma, ChromaStore)
    assert chroma.path == tmp_path / "data" / "chroma"
    chroma.write([make_chunk("a", "a")], vectors(unit(0)))
    assert (tmp_path / "data" / "chroma").is_dir()
    chroma.close()


def test_make_store_without_pgvector_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If rag.stores.pgvector cannot be imported, make_store says so as a ConfigError."""
    from rag.stores import make_store

    monkeypatch.setitem(sys.modules, "rag.stores.pgvector", None)  # makes the import fail
    with pytest.raises(ConfigError, match="pgvector support is not installed"):
        make_store(_settings(tmp_path, monkeypatch, store="pgvector"))
