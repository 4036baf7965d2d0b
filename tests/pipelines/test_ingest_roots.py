"""Roots (issue #12, root containment): every chunk and manifest entry records the root its
file was ingested under and its path relative to it; a file is one source however it was
reached and two roots never collide; a moved or renamed root is re-keyed with its stored
vectors (nothing embedded, nothing stale or doubled), also after a crash midway; a store
written before roots were recorded gets them on the next ingest, nothing embedded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rag.chunking import TokenChunker
from rag.keywords import KeywordTokenizer
from rag.pipelines.ingest import IngestParts, IngestPipeline
from rag.stores.base import Store, keyword_search
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder
from rag.types import Chunk

EMBEDDER = FakeEmbedder()
CHUNKER = TokenChunker(EMBEDDER.tokenizer, 40, 8)
TOKENIZER = KeywordTokenizer()


@pytest.fixture(params=["memory", "chroma", "pgvector", "qdrant"])
def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """Every store: memory, Chroma and Qdrant in a temp dir (outside the walked folders),
    pgvector on the session's server."""
    s: Store
    if request.param == "memory":
        s = MemoryStore("docs")
    elif request.param == "chroma":
        from rag.stores.chroma import ChromaStore

        s = ChromaStore("docs", path=tmp_path_factory.mktemp("chroma"))
    elif request.param == "qdrant":
        from rag.stores.qdrant import QdrantStore

        s = QdrantStore("docs", path=tmp_path_factory.mktemp("qdrant"))
    else:
        from rag.stores.pgvector import PgVectorStore

        s = PgVectorStore(request.getfixturevalue("pg_dsn"), f"roots_{uuid.uuid4().hex[:8]}")
    yield s
    s.close()


def pipeline(store: Store, embedder: FakeEmbedder | None = None) -> IngestPipeline:
    return IngestPipeline(store, embedder or FakeEmbedder(), CHUNKER, keyword_tokenizer=TOKENIZER)


def _refuse() -> FakeEmbedder:
    raise AssertionError("the embedder was built: something was embedded again")


def without_embedding(store: Store) -> IngestPipeline:
    """A pipeline that fails if it needs the embedder at all."""
    parts = IngestParts(_refuse, lambda: CHUNKER, lambda: TOKENIZER)
    return IngestPipeline.from_parts(store, parts)


def write_tree(root: Path) -> None:
    (root / "docs" / "deep").mkdir(parents=True)
    (root / "a.md").write_text("# Marmots\n\nThe marmot whistles.\n\n## Burrows\n\nDeep ones.\n")
    (root / "docs" / "b.md").write_text("# Voles\n\nThe vole eats grass. " * 12)
    (root / "docs" / "deep" / "c.txt").write_text("Shrews are small. " * 40)
    (root / "docs" / "notes.txt").write_text("Hedgehogs roll up when scared.\n")


def all_chunks(store: Store) -> list[Chunk]:
    if store.count() == 0:
        return []
    [probe] = EMBEDDER.embed(["marmot vole shrew hedgehog"], input_type="query")
    return [h.chunk for h in store.query(probe, 10_000)]


def snapshot(store: Store) -> dict[str, Any]:
    """Everything that must match a clean ingest, store-independent: the manifest (but the
    time), every chunk with its root and place, each source's vectors, the keyword rows."""
    chunks = {c.id: c.model_dump(mode="json") for c in all_chunks(store)}
    manifest = {s: replace(r, updated_at=0.0) for s, r in store.sources().items()}
    by_source: dict[str, set[str]] = {}
    for c in chunks.values():
        by_source.setdefault(c["source"], set()).add(c["id"])
    assert by_source == {s: store.ids_for_source(s) for s in manifest}, "chunks without entry"
    vectors = {}
    for source in manifest:
        hashes = sorted({c["content_hash"] for c in chunks.values() if c["source"] == source})
        got = store.stored_vectors(source, hashes)
        vectors.update({(source, h): Close(v) for h, v in got.items()})
    kw = keyword_search(store)
    assert kw is not None and kw.keyword_count() == store.count() == len(chunks)
    assert kw.keyword_ids(sorted(chunks)) == set(chunks)
    hits = kw.keyword_query(TOKENIZER.tokenize("vole grass"), 100)
    keyword = sorted((h.chunk.id, h.chunk.root, h.chunk.rel_path) for h in hits)
    return {"manifest": manifest, "chunks": chunks, "vectors": vectors, "keyword": keyword}


class Close:
    """A vector that equals another within float32 rounding (stores normalise it again)."""

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Close) and np.allclose(self.vector, other.vector, atol=1e-5)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Close({np.round(self.vector, 4).tolist()})"


def clean(root: Path) -> dict[str, Any]:
    """The snapshot of a clean ingest of ``root`` into a new store."""
    fresh = MemoryStore("docs")
    report = pipeline(fresh).run(root)
    assert report.ok
    return snapshot(fresh)


@pytest.fixture()
def c(tmp_path: Path) -> Path:
    root = tmp_path / "work" / "c"
    write_tree(root)
    return root


def rel_paths(store: Store) -> dict[str, tuple[str, str]]:
    return {s: (r.root, r.rel_path) for s, r in store.sources().items()}


# -- what is recorded ---------------------------------------------------------------------


def test_every_chunk_and_entry_records_its_root_and_relative_path(
    c: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(c.parent)
    (c / "again.md").symlink_to(c / "a.md")  # a link inside the root: the same file
    report = pipeline(store).run("./c")
    assert report.ok and report.files_new == 4
    root = str(c.resolve())
    expected = {
        f"{root}/{rel}": (root, rel)
        for rel in ("a.md", "docs/b.md", "docs/deep/c.txt", "docs/notes.txt")
    }
    assert rel_paths(store) == expected
    chunks = all_chunks(store)
    assert chunks and all((ch.root, ch.rel_path) == expected[ch.source] for ch in chunks)
    # the same files reached as /abs/c, through a link to the folder: nothing to do
    link = c.parent / "c-link"
    link.symlink_to(c, target_is_directory=True)
    for spelling in (c.resolve(), link):
        again = without_embedding(store).run(spelling)
        assert (again.files_unchanged, again.files_rerooted, again.chunks_written) == (4, 0, 0)
    assert rel_paths(store) == expected


def test_a_single_file_is_recorded_under_its_parent_directory(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "x.md").write_text("# X\n\nA single marmot.\n")
    link = tmp_path / "x-link.md"
    link.symlink_to(folder / "x.md")
    pipeline(store).run(link)  # the real file's parent, not the link's
    assert rel_paths(store) == {str(folder.resolve() / "x.md"): (str(folder.resolve()), "x.md")}


def test_links_into_allowed_roots_and_undecodable_names_are_recorded_too(
    c: Path, tmp_path: Path, store: Store
) -> None:
    """A file reached through a link into an allowed root is recorded under that root; a
    name that is not valid UTF-8 gets the escaped form in its relative path, as in its key."""
    shared = tmp_path / "shared"
    (shared / "sub").mkdir(parents=True)
    (shared / "sub" / "s.md").write_text("# S\n\nA hedgehog.\n")
    (c / "linked").symlink_to(shared / "sub", target_is_directory=True)
    odd = os.fsdecode(b"caf\xe9.md")
    (c / odd).write_text("# Cafe\n\nA marmot in a cafe.\n")
    report = pipeline(store).run(c, allow_roots=(shared,))
    assert report.ok
    got = rel_paths(store)
    assert got[str(shared.resolve() / "sub" / "s.md")] == (str(shared.resolve()), "sub/s.md")
    assert got[str(c.resolve()) + "/caf\\xe9.md"] == (str(c.resolve()), "caf\\xe9.md")
    for chunk in all_chunks(store):
        chunk.rel_path.encode("utf-8")  # what every store holds


def test_two_roots_with_the_same_files_never_collide(tmp_path: Path, store: Store) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    write_tree(one)
    write_tree(two)
    pipeline(store).run(one)
    pipeline(store).run(two)
    roots = {r.root for r in store.sources().values()}
    assert roots == {str(one.resolve()), str(two.resolve())}
    assert len(store.sources()) == 8
    chunks = all_chunks(store)
    assert len({ch.id for ch in chunks}) == len(chunks) == 2 * len(all_chunks_of(one))
    a_md = sorted(ch.root for ch in chunks if ch.rel_path == "a.md")
    assert len(set(a_md)) == 2


def all_chunks_of(root: Path) -> list[Chunk]:
    fresh = MemoryStore("x")
    pipeline(fresh).run(root)
    return all_chunks(fresh)


def test_a_wider_root_is_kept_and_a_narrower_one_never_replaces_it(c: Path, store: Store) -> None:
    sub = c / "docs"
    pipeline(store).run(sub)
    b = str(sub.resolve() / "b.md")
    assert rel_paths(store)[b] == (str(sub.resolve()), "b.md")
    # the parent folder: docs' files are recorded under it now, only a.md (new) embedded
    embedder = FakeEmbedder()
    report = pipeline(store, embedder).run(c)
    assert report.files_rerooted == 3 and report.files_new == 1
    a_md = {ch.text for ch in all_chunks_of(c) if ch.rel_path == "a.md"}
    assert embedder.texts_embedded == report.chunks_embedded == len(a_md)
    assert rel_paths(store)[b] == (str(c.resolve()), "docs/b.md")
    assert snapshot(store) == clean(c)
    # the subfolder again, or one of its files: the wider root stays
    for narrower in (sub, sub / "b.md"):
        again = without_embedding(store).run(narrower)
        assert again.files_rerooted == 0 and again.chunks_written == 0
    assert snapshot(store) == clean(c)


# -- a moved or renamed root --------------------------------------------------------------


def test_a_moved_root_is_rekeyed_without_embedding(c: Path, store: Store) -> None:
    pipeline(store).run(c)
    before = store.count()
    d = c.parent.parent / "moved" / "d"
    d.parent.mkdir()
    c.rename(d)  # mv c d
    report = without_embedding(store).run(d)
    assert report.ok, report.failures
    assert (report.files_moved, report.files_new, report.files_removed) == (4, 0, 0)
    assert report.chunks_embedded == 0 and report.chunks_written == before
    assert report.chunks_deleted == before  # the old keys' chunks
    assert store.count() == before
    assert {r.root for r in store.sources().values()} == {str(d.resolve())}
    assert snapshot(store) == clean(d)
    again = without_embedding(store).run(d)
    assert (again.files_unchanged, again.files_moved, again.chunks_written) == (4, 0, 0)


def test_a_moved_root_with_edits_reuses_what_it_can(c: Path, store: Store) -> None:
    pipeline(store).run(c)
    d = c.with_name("d")
    c.rename(d)
    (d / "a.md").write_text("# Marmots\n\nThe marmot whistles loudly now.\n")  # changed
    (d / "docs" / "notes.txt").unlink()  # deleted while it was moved
    (d / "new.md").write_text("# New\n\nA pika appears.\n")  # added
    embedder = FakeEmbedder()
    report = pipeline(store, embedder).run(d)
    assert report.ok
    assert (report.files_moved, report.files_new, report.files_removed) == (2, 2, 2)
    new_texts = {ch.text for ch in all_chunks_of(d) if ch.rel_path in ("a.md", "new.md")}
    assert 0 < embedder.texts_embedded <= len(new_texts)
    assert not any(s.startswith(str(c.resolve()) + "/") for s in store.sources())
    assert snapshot(store) == clean(d)


def test_a_gone_root_sharing_one_file_keeps_its_other_entries(tmp_path: Path, store: Store) -> None:
    """An unmounted drive's folder is not taken as moved because another folder holds one of
    its files: that file is re-keyed, the rest stay for when the drive is back."""
    usb, home = tmp_path / "usb" / "docs", tmp_path / "home"
    write_tree(usb)
    home.mkdir()
    (home / "a.md").write_bytes((usb / "a.md").read_bytes())
    pipeline(store).run(usb)
    usb.rename(tmp_path / "usb" / "unmounted")
    report = pipeline(store).run(home)
    assert (report.files_moved, report.files_removed) == (1, 0)
    assert len([s for s in store.sources() if s.startswith(str(usb))]) == 3


class CrashingStore:
    """Wraps a store: the ``n``-th call of ``method`` fails, after doing its work when
    ``after`` (as a process killed right after the call)."""

    def __init__(self, inner: Store, method: str, n: int, *, after: bool = False) -> None:
        self.inner, self.method, self.n, self.after = inner, method, n, after
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name != self.method:
            return attr

        def crashing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls != self.n:
                return attr(*args, **kwargs)
            if self.after:
                attr(*args, **kwargs)
            raise RuntimeError(f"simulated crash in {name}")

        return crashing


@pytest.mark.parametrize(
    ("method", "n", "after", "moved", "removed"),
    [
        ("write", 1, True, 3, 1),  # moved chunks written, no new entry yet
        ("set_source", 2, True, 3, 1),  # two files recorded under their new keys
        ("delete_source", 1, False, 3, 1),  # at the old root's deleted file
        ("delete_source", 3, True, 1, 0),  # midway through deleting the old entries
    ],
)
def test_a_crash_while_moving_is_repaired_by_the_next_run(
    c: Path, store: Store, method: str, n: int, after: bool, moved: int, removed: int
) -> None:
    pipeline(store).run(c)
    d = c.with_name("d")
    c.rename(d)
    (d / "docs" / "notes.txt").unlink()  # deleted while it was moved: a leftover to prune
    crashing = CrashingStore(store, method, n, after=after)
    with pytest.raises(RuntimeError, match="simulated crash"):
        without_embedding(crashing).run(d)  # type: ignore[arg-type]
    report = without_embedding(store).run(d)
    assert report.ok and report.chunks_embedded == 0
    assert (report.files_moved, report.files_removed) == (moved, removed)
    assert snapshot(store) == clean(d)
    assert not any(s.startswith(str(c.resolve()) + "/") for s in store.sources())


# -- a store written before roots were recorded ---------------------------------------------


def strip_roots(store: Store) -> None:
    """What a version that recorded no roots stored: the same chunks and entries without
    root and relative path (written through the store, as that version wrote them)."""
    for source, record in store.sources().items():
        chunks = [ch for ch in all_chunks(store) if ch.source == source]
        vectors = store.stored_vectors(source, [ch.content_hash for ch in chunks])
        old = [ch.model_copy(update={"root": "", "rel_path": ""}) for ch in chunks]
        terms = TOKENIZER.tokenize_batch([TOKENIZER.chunk_text(ch) for ch in old])
        store.write(old, np.stack([vectors[ch.content_hash] for ch in old]), terms=terms)
        store.set_source(replace(record, root="", rel_path=""))
    assert all(ch.root == "" for ch in all_chunks(store))


def test_entries_without_a_root_get_theirs_on_the_next_ingest(c: Path, store: Store) -> None:
    pipeline(store).run(c)
    strip_roots(store)
    report = without_embedding(store).run(c)
    assert report.ok and (report.files_rerooted, report.chunks_embedded) == (4, 0)
    assert snapshot(store) == clean(c)
    again = without_embedding(store).run(c)
    assert (again.files_unchanged, again.chunks_written) == (4, 0)


def test_a_root_moved_before_roots_were_recorded_is_rekeyed_too(c: Path, store: Store) -> None:
    pipeline(store).run(c)
    strip_roots(store)
    d = c.with_name("d")
    c.rename(d)
    report = without_embedding(store).run(d)
    assert (report.files_moved, report.chunks_embedded) == (4, 0)
    assert snapshot(store) == clean(d)


def test_the_dry_run_counts_moved_files_as_nothing_to_embed(c: Path, store: Store) -> None:
    from rag.pipelines.ingest_estimate import estimate_ingest

    pipeline(store).run(c)
    d = c.with_name("d")
    c.rename(d)
    plan = estimate_ingest(
        store,
        d,
        chunker=CHUNKER,
        tokenizer=EMBEDDER.tokenizer,
        embedder_key="fake",
        embedder_label="fake",
        hosted=False,
    )
    moved = plan.categories["moved"]
    assert (moved.files, moved.chunks_to_embed) == (4, 0) and moved.chunks == store.count()
    assert plan.categories["removed"].files == 0 and plan.categories["new"].files == 0


def test_ingest_documents_keeps_no_root(store: Store) -> None:
    """Documents held in memory are no files: no root, no relative path (citations show the
    source)."""
    from rag.pipelines.ingest_commit import Committer
    from rag.pipelines.ingest_documents import plan_documents
    from rag.types import Document

    docs = [Document(source="notes/x", text="A marmot in memory.")]
    plan = plan_documents(docs, store.sources(), Committer(store, keywords=True))
    pipe = IngestPipeline.from_parts(
        store, IngestParts(FakeEmbedder, lambda: CHUNKER, lambda: TOKENIZER), loaders=plan.given
    )
    assert pipe.run_planned(plan.files, store.sources()).ok
    assert {(ch.root, ch.rel_path) for ch in all_chunks(store)} == {("", "")}


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
