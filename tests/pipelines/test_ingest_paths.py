"""Ingest and paths (issue #12, cases 1, 4, 5, 6): root containment, non-UTF-8 names,
one canonical source per file however it is reached, and a prune that deletes only what
the walk positively found missing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from rag.chunking import TokenChunker
from rag.connectors import source_key, source_path, walk
from rag.pipelines.ingest import IngestPipeline
from rag.stores.base import Store
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder
from rag.types import IngestReport


@pytest.fixture(params=["memory", "chroma", "pgvector", "qdrant"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every store: memory, Chroma and Qdrant in a temp dir, pgvector on the session's server."""
    s: Store
    if request.param == "memory":
        s = MemoryStore("docs")
    elif request.param == "chroma":
        from rag.stores.chroma import ChromaStore

        s = ChromaStore("docs", path=tmp_path / "chroma-data")
    elif request.param == "qdrant":
        from rag.stores.qdrant import QdrantStore

        s = QdrantStore("docs", path=tmp_path / "qdrant-data")
    else:
        from rag.stores.pgvector import PgVectorStore

        s = PgVectorStore(request.getfixturevalue("pg_dsn"), f"paths_{uuid.uuid4().hex[:8]}")
    yield s
    s.close()


EMBEDDER = FakeEmbedder()


def ingest(
    store: Store,
    path: Path | str,
    *,
    allow_roots: tuple[Path, ...] = (),
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
) -> IngestReport:
    pipeline = IngestPipeline(store, EMBEDDER, TokenChunker(EMBEDDER.tokenizer, 40, 8))
    return pipeline.run(path, allow_roots=allow_roots, include=include, exclude=exclude)


def texts(store: Store, query: str, k: int = 10) -> list[tuple[str, str]]:
    """(source, text) of the best chunks for ``query``."""
    [vector] = EMBEDDER.embed([query], input_type="query")
    return [(h.chunk.source, h.chunk.text) for h in store.query(vector, k)]


def all_texts(store: Store) -> list[str]:
    return sorted(t for _, t in texts(store, "marmot vole secret", k=1000))


@pytest.fixture()
def c(tmp_path: Path) -> Path:
    """The issue's setup: ``c/a.md`` (marmot) and ``c/z.md`` (vole)."""
    root = tmp_path / "work" / "c"
    root.mkdir(parents=True)
    (root / "a.md").write_text("# A\n\nmarmot\n")
    (root / "z.md").write_text("# Z\n\nvole\n")
    return root


@pytest.fixture()
def outside(tmp_path: Path) -> Path:
    """A folder outside the root with a secret file (an /etc/passwd stand-in)."""
    out = tmp_path / "etc"
    (out / "sub").mkdir(parents=True)
    (out / "passwd").write_text("root:x:0:0:root:/root:/bin/bash secret nologin\n")
    (out / "sub" / "shadow.txt").write_text("secret shadow hashes\n")
    return out


# --- case 1: root containment -----------------------------------------------------------
def test_symlink_to_a_file_outside_the_root_is_not_read_and_is_reported(
    c: Path, outside: Path, store: Store
) -> None:
    (c / "notes.txt").symlink_to(outside / "passwd")
    report = ingest(store, c)
    assert not any("secret" in t for t in all_texts(store)), "the outside file was ingested"
    assert str(outside / "passwd") not in store.sources()
    [failure] = report.failures
    assert failure.path == str(c / "notes.txt"), "reported by the link's name"
    assert "outside" in failure.error and "allow_roots" in failure.error
    assert report.files_new == 2


def test_symlink_to_a_directory_outside_the_root_is_not_walked(
    c: Path, outside: Path, store: Store
) -> None:
    (c / "etc").symlink_to(outside, target_is_directory=True)
    report = ingest(store, c)
    assert report.files_new == 2
    assert [f.path for f in report.failures] == [str(c / "etc")]
    assert not any("secret" in t for t in all_texts(store))
    assert all(s.startswith(str(c.resolve())) for s in store.sources())


def test_links_into_allowed_roots_are_followed(c: Path, outside: Path, store: Store) -> None:
    (c / "notes.txt").symlink_to(outside / "passwd")
    (c / "etc").symlink_to(outside / "sub", target_is_directory=True)
    report = ingest(store, c, allow_roots=(outside,))
    assert report.ok and report.files_new == 4
    assert str((outside / "passwd").resolve()) in store.sources()
    assert str((outside / "sub" / "shadow.txt").resolve()) in store.sources()


def test_a_real_system_file_behind_a_link_is_not_read(c: Path) -> None:
    system = next(
        (Path(p) for p in ("/etc/hostname", "/etc/passwd", "/etc/os-release") if os.path.isfile(p)),
        None,
    )
    if system is None:
        pytest.skip("no readable system file here")
    (c / "notes.txt").symlink_to(system)
    store = MemoryStore("docs")
    report = ingest(store, c)
    assert sorted(Path(s).name for s in store.sources()) == ["a.md", "z.md"]
    assert [f.path for f in report.failures] == [str(c / "notes.txt")]


def test_symlink_loops_terminate(c: Path) -> None:
    (c / "sub").mkdir()
    (c / "sub" / "up").symlink_to(c, target_is_directory=True)
    (c / "x").symlink_to(c / "y")
    (c / "y").symlink_to(c / "x")
    report = ingest(MemoryStore("docs"), c)
    assert report.files_new == 2
    assert {Path(f.path).name for f in report.failures} == {"up", "x", "y"}


# --- case 4: file names that are not valid UTF-8 ----------------------------------------
def test_source_key_escapes_undecodable_bytes_reversibly(tmp_path: Path) -> None:
    raw = os.fsdecode(b"/data/caf\xe9-\xff.md")
    key = source_key(Path(raw))
    assert key == "/data/caf\\xe9-\\xff.md"
    key.encode("utf-8")  # storable
    assert source_path(key) == Path(raw)
    plain = tmp_path / "café.md"
    assert source_key(plain) == str(plain) and source_path(str(plain)) == plain


def test_non_utf8_file_name_is_ingested_retrievable_and_unchanged_on_rerun(
    c: Path, store: Store
) -> None:
    name = os.fsdecode(b"caf\xe9.md")
    (c / name).write_text("# Cafe\n\ncroissant espresso\n")
    report = ingest(store, c)
    assert report.ok and report.files_new == 3
    key = str(c.resolve()) + "/caf\\xe9.md"
    assert key in store.sources()
    [(source, text)] = texts(store, "croissant espresso", k=1)
    assert source == key and "croissant" in text
    assert source_path(source) == (c / name).resolve()
    again = ingest(store, c)
    assert (again.files_unchanged, again.files_new, again.files_removed) == (3, 0, 0)


# --- case 5: one canonical source per file ----------------------------------------------
def test_three_spellings_of_one_folder_leave_one_copy(
    c: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest(store, c)
    once = store.count()
    monkeypatch.chdir(c.parent)
    ingest(store, Path("..") / c.parent.name / "c")  # ../work/c from inside work
    link = c.parent / "c-link"
    link.symlink_to(c, target_is_directory=True)
    report = ingest(store, link)
    assert report.files_unchanged == 2 and report.files_new == 0
    assert store.count() == once
    assert sorted(store.sources()) == [str(c.resolve() / "a.md"), str(c.resolve() / "z.md")]


def test_a_file_linked_inside_the_root_is_one_source(c: Path, store: Store) -> None:
    (c / "again.md").symlink_to(c / "a.md")
    report = ingest(store, c)
    assert report.ok and report.files_new == 2
    assert len(store.sources()) == 2


# --- case 6: prune deletes only what is positively missing ------------------------------
def test_narrower_include_keeps_the_other_files(c: Path, store: Store) -> None:
    (c / "notes.txt").write_text("shrew notes\n")
    ingest(store, c)
    before = store.count()
    report = ingest(store, c, include=("*.md",))
    assert store.count() == before, "chunks of excluded files were pruned"
    assert report.files_removed == 0 and report.files_excluded_kept == 1
    report = ingest(store, c, exclude=("a.md",))
    assert store.count() == before and report.files_excluded_kept == 1


def test_deleted_files_and_folders_are_still_pruned(c: Path, store: Store) -> None:
    (c / "old").mkdir()
    (c / "old" / "gone.md").write_text("# Gone\n\nbadger\n")
    ingest(store, c)
    (c / "z.md").unlink()
    (c / "old" / "gone.md").unlink()
    (c / "old").rmdir()
    report = ingest(store, c)
    assert report.files_removed == 2
    assert sorted(Path(s).name for s in store.sources()) == ["a.md"]


def test_dangling_symlinked_subfolder_keeps_its_chunks(
    c: Path, tmp_path: Path, store: Store
) -> None:
    target = tmp_path / "shared"
    target.mkdir()
    (target / "s.md").write_text("# S\n\nhedgehog\n")
    (c / "linked").symlink_to(target, target_is_directory=True)
    ingest(store, c, allow_roots=(target,))
    before = store.count()
    assert str(target.resolve() / "s.md") in store.sources()
    target.rename(tmp_path / "shared-moved")  # briefly missing
    report = ingest(store, c, allow_roots=(target,))
    assert store.count() == before and report.files_removed == 0
    [failure] = report.failures
    assert failure.path == str(c / "linked") and "kept" in failure.error
    (tmp_path / "shared-moved").rename(target)
    again = ingest(store, c, allow_roots=(target,))
    assert again.ok and again.files_unchanged == 3


def test_legacy_unresolved_sources_are_replaced_by_canonical_ones(c: Path) -> None:
    """A store written before canonical keys (sources spelled through a link) ends with one
    copy of each file after a re-ingest."""
    link = c.parent / "c-link"
    link.symlink_to(c, target_is_directory=True)
    store = MemoryStore("docs")
    ingest(store, c)
    canonical = dict(store.sources())
    # what an older version stored: the same files under the link's spelling
    for source, record in canonical.items():
        old = str(link / Path(source).name)
        store.set_source(replace(record, source=old))
    report = ingest(store, link)
    assert sorted(store.sources()) == sorted(canonical)
    assert report.files_removed == 2


def test_walk_dedupes_real_paths(c: Path) -> None:
    (c / "same.md").symlink_to(c / "a.md")
    assert [e.path.name for e in walk(c)] == ["a.md", "z.md"]


def test_non_utf8_names_in_failures_are_printable(c: Path) -> None:
    (c / os.fsdecode(b"bad\xff.md")).write_bytes(b"")  # empty: fails to load
    (c / os.fsdecode(b"link\xfe.md")).symlink_to(c / "missing.md")
    report = ingest(MemoryStore("docs"), c)
    assert report.files_new == 2
    assert sorted(Path(f.path).name for f in report.failures) == ["bad\\xff.md", "link\\xfe.md"]
    report.model_dump_json().encode("utf-8")  # no lone surrogate anywhere


def test_allow_roots_or_root_with_a_link_loop_never_hang(c: Path, tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    report = ingest(MemoryStore("docs"), c, allow_roots=(tmp_path / "loop",))
    assert report.ok and report.files_new == 2
