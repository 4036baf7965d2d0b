"""Roots (issue #12, root containment): every chunk and manifest entry records the root its
file was ingested under and its path relative to it; a file is one source however it was
reached and two roots never collide; a moved or renamed root is re-keyed with its stored
vectors (nothing embedded, nothing stale or doubled), also after a crash midway; a store
written before roots were recorded gets them on the next ingest, nothing embedded. The
previous version's exact layouts and a SIGKILL midway: ``test_ingest_roots_legacy.py``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from roots_helpers import (
    CHUNKER,
    STORES,
    TOKENIZER,
    all_chunks,
    all_chunks_of,
    clean,
    folder_c,
    open_store,
    pipeline,
    plan,
    rel_paths,
    snapshot,
    without_embedding,
    write_tree,
)

from rag.pipelines.ingest import IngestParts, IngestPipeline
from rag.stores.base import Store
from rag.testing import FakeEmbedder


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    s = open_store(request.param, request)
    yield s
    s.close()


@pytest.fixture()
def c(tmp_path: Path) -> Path:
    return folder_c(tmp_path)


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


def test_a_copied_folder_takes_the_stored_vectors_instead_of_embedding(
    tmp_path: Path, store: Store
) -> None:
    """A second clone or a mirrored folder: each file whose bytes are stored under another
    root is its own new source, with the original's vectors (nothing embedded); an edited
    copy embeds only its changed text. The store equals two clean ingests."""
    from rag.stores.memory import MemoryStore

    one, two = tmp_path / "one", tmp_path / "two"
    write_tree(one)
    pipeline(store).run(one)
    before = store.count()
    shutil.copytree(one, two)
    report = without_embedding(store).run(two)
    assert report.ok, report.failures
    assert (report.files_new, report.chunks_embedded, report.chunks_written) == (4, 0, before)
    assert report.files_copied == 4
    assert store.count() == 2 * before
    fresh = MemoryStore("docs")
    pipeline(fresh).run(one)
    pipeline(fresh).run(two)
    assert snapshot(store) == snapshot(fresh)
    # an edited copy: only the new text is embedded, the rest still taken
    three = tmp_path / "three"
    shutil.copytree(one, three)
    (three / "a.md").write_text((one / "a.md").read_text() + "\nThe pika whistles too.\n")
    embedder = FakeEmbedder()
    edited = pipeline(store, embedder).run(three)
    assert edited.ok and (edited.files_new, edited.files_copied) == (4, 3)
    a_md = {ch.text for ch in all_chunks_of(three) if ch.rel_path == "a.md"}
    assert 0 < embedder.texts_embedded <= len(a_md) < edited.chunks_written
    pipeline(fresh).run(three)
    assert snapshot(store) == snapshot(fresh)


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


def test_the_dry_run_counts_moved_and_copied_files_as_nothing_to_embed(
    c: Path, store: Store
) -> None:
    pipeline(store).run(c)
    d = c.with_name("d")
    c.rename(d)
    estimate = plan(store, d)
    moved = estimate.categories["moved"]
    assert (moved.files, moved.chunks_to_embed) == (4, 0) and moved.chunks == store.count()
    assert estimate.categories["removed"].files == 0 and estimate.categories["new"].files == 0
    # a copy of the folder once moved: new files, nothing to embed either
    without_embedding(store).run(d)
    e = c.with_name("e")
    shutil.copytree(d, e)
    estimate = plan(store, e)
    new = estimate.categories["new"]
    assert (new.files, new.chunks_to_embed) == (4, 0) and new.chunks == store.count()
    assert estimate.categories["moved"].files == 0


def test_ingest_documents_keeps_no_root(store: Store) -> None:
    """Documents held in memory are no files: no root, no relative path (citations show the
    source)."""
    from rag.pipelines.ingest_commit import Committer
    from rag.pipelines.ingest_documents import plan_documents
    from rag.types import Document

    docs = [Document(source="notes/x", text="A marmot in memory.")]
    planned = plan_documents(docs, store.sources(), Committer(store, keywords=True))
    pipe = IngestPipeline.from_parts(
        store, IngestParts(FakeEmbedder, lambda: CHUNKER, lambda: TOKENIZER), loaders=planned.given
    )
    assert pipe.run_planned(planned.files, store.sources()).ok
    assert {(ch.root, ch.rel_path) for ch in all_chunks(store)} == {("", "")}
