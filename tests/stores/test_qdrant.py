"""The store contract on QdrantStore (qdrant-client's local mode in a temp dir, and a server when
``RAG_TEST_QDRANT_URL`` names one), plus Qdrant specifics: the payload layout, point ids, the
filter translation, one shared client per directory, the WAL tuning, secrets kept out of
messages and ``rag config``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("qdrant_client")

from rag.errors import ConfigError, StoreError
from rag.stores.base import SourceRecord, Store, chunk_fields, keyword_search, matches
from rag.stores.qdrant import MANIFEST_SUFFIX, QdrantStore, server_keyword_dir
from rag.stores.qdrant_local import journal_mode
from rag.stores.qdrant_records import (
    point_id,
    source_point_id,
    stored_key,
    translate_filters,
    user_key,
)
from rag.testing.store_contract import FILTER_CASES, StoreContract, make_chunk, unit, vectors
from rag.testing.store_contract._base import filter_corpus

SECRET = "qdrant-secret-Zx81"


class TestQdrantLocalContract(StoreContract):
    """The whole contract on local mode (``QdrantClient(path=...)``)."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        s = QdrantStore("contract", path=tmp_path / "qdrant")
        yield s
        s.close()

    def reopen(self, store: Store) -> Store:
        assert isinstance(store, QdrantStore) and store.path is not None
        store.close()
        return QdrantStore(store.collection, path=store.path)

    def sibling(self, store: Store, collection: str) -> Store:
        assert isinstance(store, QdrantStore) and store.path is not None
        return QdrantStore(collection, path=store.path)


@pytest.mark.integration
class TestQdrantServerContract(StoreContract):
    """The same contract through the HTTP client against a real Qdrant server. No server
    binary ships with any package this project installs, so it runs only when
    ``RAG_TEST_QDRANT_URL`` (and, if the server wants one, ``RAG_TEST_QDRANT_API_KEY``) is set."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        url = os.environ.get("RAG_TEST_QDRANT_URL")
        if not url:
            pytest.skip("no Qdrant server: set RAG_TEST_QDRANT_URL to run the contract on one")
        s = QdrantStore(
            f"c-{uuid.uuid4().hex[:12]}",
            url=url,
            api_key=os.environ.get("RAG_TEST_QDRANT_API_KEY"),
            keyword_dir=tmp_path / "kw",
        )
        yield s
        s.delete_collection()
        s.close()

    def reopen(self, store: Store) -> Store:
        assert isinstance(store, QdrantStore) and store.url
        store.close()
        return QdrantStore(
            store.collection,
            url=store.url,
            api_key=os.environ.get("RAG_TEST_QDRANT_API_KEY"),
            keyword_dir=store.keyword_path.parent,
        )

    def sibling(self, store: Store, collection: str) -> Store:
        assert isinstance(store, QdrantStore) and store.url
        return QdrantStore(
            collection,
            url=store.url,
            api_key=os.environ.get("RAG_TEST_QDRANT_API_KEY"),
            keyword_dir=store.keyword_path.parent,
        )


# -- layout -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["title", "a.b", "a_b", "", "$schema", "meta.x", "source", "한국어 키", "x[0]", "-"]
)
def test_metadata_keys_escape_reversibly_into_plain_json_path_keys(key: str) -> None:
    from qdrant_client.local.json_path_parser import parse_json_path

    stored = stored_key(key)
    assert user_key(stored) == key
    assert stored.startswith("m-")
    assert len(parse_json_path(stored)) == 1  # never read as a nested path
    assert user_key("source") is None and user_key("chunk_id") is None


def test_point_ids_are_deterministic_uuids() -> None:
    assert point_id("a") == point_id("a") != point_id("b")
    assert uuid.UUID(point_id("docs/a.md#3")).version == 5


def test_record_layout(tmp_path: Path) -> None:
    """What a point holds: the chunk id, text, source, hash, location and escaped metadata."""
    store = QdrantStore("layout", path=tmp_path / "q")
    chunk = make_chunk("c1", "hello", "/d/a.md", lang="en", **{"a.b": 1})
    store.write([chunk], vectors(unit(0)))
    store.set_source(SourceRecord("/d/a.md", "h", 1, 2.5, "emb"))
    client = store._client
    (point,) = client.retrieve("layout", ids=[point_id("c1")], with_payload=True)
    assert point.payload == {
        "chunk_id": "c1",
        "text": "hello",
        "source": "/d/a.md",
        "content_hash": chunk.content_hash,
        "m-lang": "en",
        "m-a_2Eb": 1,
    }
    names = {c.name for c in client.get_collections().collections}
    assert names == {"layout", "layout" + MANIFEST_SUFFIX}
    assert store.list_collections() == ["layout"]
    info = client.get_collection("layout")
    assert info.config.params.vectors.distance == "Cosine"  # type: ignore[union-attr]
    store.close()


@pytest.mark.parametrize("bad", ["three", None, [3]], ids=["text", "null", "list"])
def test_a_manifest_entry_with_a_non_number_chunk_count_reads_as_0(
    tmp_path: Path, bad: object
) -> None:
    """A damaged ``chunk_count`` in a stored manifest entry does not break ``sources()``: the
    source is listed with chunk_count 0, as Chroma reads it (``_records.manifest_record``)."""
    store = QdrantStore("damaged", path=tmp_path / "q")
    store.set_source(SourceRecord("/d/a.md", "h", 4, 2.5, "emb"))
    store._client.set_payload(
        "damaged" + MANIFEST_SUFFIX,
        payload={"chunk_count": bad},
        points=[source_point_id("/d/a.md")],
        wait=True,
    )
    assert store.sources() == {"/d/a.md": SourceRecord("/d/a.md", "h", 0, 2.5, "emb")}
    store.close()


def test_translation_matches_the_reference_semantics(tmp_path: Path) -> None:
    """Every filter case gives what ``matches`` gives, and refusals stay ConfigErrors."""
    corpus = filter_corpus()
    for name, filters, expected in FILTER_CASES:
        want = {c.id for c, _ in corpus if matches(chunk_fields(c), filters)}
        assert want == expected, name
        where, impossible = translate_filters(filters)
        assert impossible == (name == "empty-list-matches-nothing")
        assert (where is None) == (not filters)
    with pytest.raises(ConfigError):
        translate_filters({"lang": {"$gt": "a"}})


def test_numbers_compare_by_value_across_int_and_float(tmp_path: Path) -> None:
    store = QdrantStore("nums", path=tmp_path / "q")
    store.write(
        [make_chunk("i", "int", n=2020), make_chunk("f", "float", n=2020.0)],
        vectors(unit(0), unit(1)),
    )
    for filters in ({"n": 2020}, {"n": 2020.0}, {"n": [2020]}, {"n": {"$gte": 2020}}):
        want = {"i", "f"}
        assert {h.chunk.id for h in store.query(unit(0), 5, filters)} == want, filters
    assert store.count({"n": {"$ne": 2020}}) == 0
    store.close()


# -- local mode ---------------------------------------------------------------------------


def test_stores_on_one_path_share_one_client_until_the_last_closes(tmp_path: Path) -> None:
    a = QdrantStore("one", path=tmp_path / "q")
    b = QdrantStore("two", path=tmp_path / "q")
    assert a._client is b._client
    a.write([make_chunk("x", "x")], vectors(unit(0)))
    a.close()
    a.close()  # idempotent
    assert b.count() == 0 and b.list_collections() == ["one"]
    b.close()
    again = QdrantStore("one", path=tmp_path / "q")
    assert again.count() == 1 and again._client is not a._client
    again.close()


def test_local_collections_use_wal(tmp_path: Path) -> None:
    """The SQLite files of local mode are switched to WAL (0.6 s instead of 80 s for 5,000
    points); if qdrant-client moved them, this fails rather than ingest getting slow."""
    store = QdrantStore("wal", path=tmp_path / "q")
    store.write([make_chunk("x", "x")], vectors(unit(0)))
    store.set_source(SourceRecord("/d/a.md", "h", 1, 1.0))
    assert journal_mode(store._client, "wal") == "wal"
    assert journal_mode(store._client, "wal" + MANIFEST_SUFFIX) == "wal"
    store.close()
    again = QdrantStore("wal", path=tmp_path / "q")
    assert journal_mode(again._client, "wal") == "wal"
    again.close()


def test_a_directory_open_in_another_process_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "q"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom rag.stores.qdrant import QdrantStore\n"
            f"s = QdrantStore('x', path=Path({str(path)!r}))\nprint('open', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(StoreError, match=r"another process.*qdrant_url"):
            QdrantStore("x", path=path)
    finally:
        holder.communicate("", timeout=60)


def test_sidecar_lives_with_the_data(tmp_path: Path) -> None:
    store = QdrantStore("kw", path=tmp_path / "q")
    kw = keyword_search(store)
    assert kw is store
    store.write([make_chunk("x", "a cat")], vectors(unit(0)), terms=[["cat"]])
    assert store.keyword_path == tmp_path / "q" / "rag_keyword" / "kw.sqlite"
    assert store.keyword_path.exists()
    store.close()


@pytest.mark.parametrize("name", ["a/b", "x" + MANIFEST_SUFFIX, "-x", "", "..", "a b"])
def test_invalid_collection_name(name: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="collection"):
        QdrantStore(name, path=tmp_path / "q")


# -- server mode without a server, settings -----------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_server_names_the_url_and_never_the_key(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    with (
        pytest.raises(StoreError) as info,
        pytest.warns(UserWarning, match="insecure connection"),
    ):
        QdrantStore("x", url=url, api_key=SECRET, keyword_dir=tmp_path)
    message = str(info.value)
    assert url in message and "qdrant_url" in message and SECRET not in message
    with pytest.raises(ConfigError, match="qdrant_url"):
        QdrantStore("x", url="ftp://nowhere", keyword_dir=tmp_path)


def test_make_store_builds_local_and_server_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rag.config import load_settings
    from rag.stores import make_store

    monkeypatch.chdir(tmp_path)
    settings = load_settings(data_dir=tmp_path / "data", store="qdrant", collection="notes")
    store = make_store(settings)
    assert isinstance(store, QdrantStore) and store.path == tmp_path / "data" / "qdrant"
    store.close()
    custom = make_store(settings.model_copy(update={"qdrant_path": tmp_path / "elsewhere"}))
    assert isinstance(custom, QdrantStore) and custom.path == tmp_path / "elsewhere"
    custom.close()
    url = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv("RAG_QDRANT_API_KEY", SECRET)
    remote = load_settings(data_dir=tmp_path / "data", store="qdrant", qdrant_url=url)
    assert server_keyword_dir(remote.data_dir, url).parent == tmp_path / "data" / "keyword"
    with (
        pytest.raises(StoreError) as info,
        pytest.warns(UserWarning, match="insecure connection"),
    ):
        make_store(remote)
    assert SECRET not in str(info.value) and SECRET not in repr(remote)


def test_rag_config_masks_the_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from rag.cli import app

    monkeypatch.setenv("RAG_QDRANT_API_KEY", SECRET)
    monkeypatch.setenv("RAG_QDRANT_URL", "https://qdrant.example:6333")
    result = CliRunner().invoke(app, ["config"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert '"qdrant_api_key": "**********"' in result.output
    assert "https://qdrant.example:6333" in result.output
