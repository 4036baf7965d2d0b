"""Issue #12 cases 2 and 3 and a failing store write, on every store: nothing aborts the run,
what no store holds is mapped (``rag.sanitize``) and named, one bad file never costs the batch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from rag.chunking import TokenChunker
from rag.errors import StoreError
from rag.pipelines.ingest import IngestPipeline
from rag.pipelines.ingest_chunk import load_and_chunk
from rag.pipelines.ingest_commit import Committer
from rag.pipelines.ingest_embed import Embedded, distinct_texts
from rag.pipelines.ingest_plan import plan_file, walk_files
from rag.stores.base import DuplicatePolicy, Store
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder
from rag.types import Chunk, IngestReport, ScoredChunk, Vectors


def pipeline(store: Store, window_chunks: int = 4096) -> IngestPipeline:
    embedder = FakeEmbedder()
    chunker = TokenChunker(embedder.tokenizer, 40, 8)
    return IngestPipeline(store, embedder, chunker, window_chunks=window_chunks)


def setup_dir(root: Path) -> Path:
    """The issue's setup: ``c/a.md`` and ``c/z.md``."""
    c = root / "c"
    c.mkdir()
    (c / "a.md").write_text("# A\n\nmarmot\n")
    (c / "z.md").write_text("# Z\n\nvole\n")
    return c


def chunks_of(store: Store, source: str) -> list[Chunk]:
    hits: list[ScoredChunk] = store.query(FakeEmbedder().embed(["x"])[0], 1000, {"source": source})
    return sorted((h.chunk for h in hits), key=lambda c: c.id)


def state(store: Store) -> dict[str, tuple[str, str]]:
    manifest = store.sources()
    return {
        cid: (source, record.file_hash)
        for source, record in manifest.items()
        for cid in store.ids_for_source(source)
    }


# -- case 2: a JSON key Chroma refuses ------------------------------------------------------


def test_case2_dollar_key_json_ingests_on_every_store(tmp_path: Path, any_store: Store) -> None:
    """Before: Chroma "Invalid metadata at index 1", nothing stored, the file not named."""
    c = setup_dir(tmp_path)
    schema = "http://json-schema.org/draft-07/schema#"
    (c / "b.json").write_text(json.dumps({"$schema": schema, "title": "Cfg"}) + "\n")
    report = pipeline(any_store).run(c)
    assert report.ok and (report.files_new, report.files_failed) == (3, 0)
    assert report.warnings == []  # a key escaped reversibly is no loss: nothing to warn
    (chunk,) = chunks_of(any_store, str((c / "b.json").absolute()))
    assert chunk.metadata["$schema"] == schema and chunk.metadata["title"] == "Cfg"
    assert len(any_store.sources()) == 3
    again = pipeline(any_store).run(c)
    assert (again.files_unchanged, again.files_failed) == (3, 0)


# -- case 3: NUL and lone surrogates --------------------------------------------------------


def test_case3_nul_and_lone_surrogates_ingest_with_a_warning(
    tmp_path: Path, any_store: Store
) -> None:
    """Before: pgvector "invalid byte sequence for encoding UTF8: 0x00" ended the run, later
    files never ingested; a lone surrogate gave a raw TypeError on every store."""
    c = setup_dir(tmp_path)
    records = [
        {"id": "n\u0000", "text": "nul \u0000 here", "tag": "x\u0000y"},
        {"id": "2", "text": "lone \udfff surrogate", "note": "\udfff"},
        {"id": "3", "text": "fine record"},
    ]
    (c / "m.jsonl").write_text("\n".join(json.dumps(r) for r in records) + "\n")
    report = pipeline(any_store).run(c)
    source = str((c / "m.jsonl").absolute())
    assert report.ok and report.files_new == 3
    assert [w.path for w in report.warnings] == [source]
    assert "NUL character(s) removed" in report.warnings[0].warning
    assert "U+FFFD" in report.warnings[0].warning
    stored = {ch.location.record: ch for ch in chunks_of(any_store, source)}
    assert set(stored) == {"n", "2", "3"}
    assert stored["n"].text == "nul  here" and stored["n"].metadata["tag"] == "xy"
    assert stored["2"].text == "lone \ufffd surrogate" and stored["2"].metadata["note"] == "\ufffd"
    assert str((c / "z.md").absolute()) in any_store.sources()  # the later file too
    again = pipeline(any_store).run(c)
    assert (again.files_unchanged, again.chunks_written, again.warnings) == (3, 0, [])


def test_nul_in_a_later_window_of_a_large_file(tmp_path: Path, any_store: Store) -> None:
    """The window-by-window path (a file of several windows) maps and warns the same way."""
    c = setup_dir(tmp_path)
    lines = [json.dumps({"id": str(i), "text": f"record {i} \u0000"}) for i in range(12)]
    (c / "big.jsonl").write_text("\n".join(lines) + "\n")
    report = pipeline(any_store, window_chunks=4).run(c)
    assert report.ok and report.files_new == 3
    assert [Path(w.path).name for w in report.warnings] == ["big.jsonl"]
    texts = {ch.text for ch in chunks_of(any_store, str((c / "big.jsonl").absolute()))}
    assert texts == {f"record {i}" for i in range(12)}


# -- one bad file never costs the batch -----------------------------------------------------


class RefusingStore:
    """A real store whose ``write`` refuses any batch holding a chunk of a ``poisoned`` source,
    after writing the others (a store that fails midway leaves part of the batch behind)."""

    def __init__(self, store: Store, poisoned: set[str]) -> None:
        self.inner = store
        self.poisoned = poisoned
        self.down = False
        self.write_calls = 0

    def __getattr__(self, name: str) -> Any:
        if self.down and name not in ("inner", "poisoned", "down", "close"):
            raise StoreError("connection refused (the store is down)")
        return getattr(self.inner, name)

    def write(
        self,
        chunks: Sequence[Chunk],
        embeddings: Vectors,
        policy: DuplicatePolicy = DuplicatePolicy.OVERWRITE,
        *,
        terms: Sequence[Sequence[str]] | None = None,
    ) -> int:
        self.write_calls += 1
        bad = [i for i, ch in enumerate(chunks) if ch.source in self.poisoned]
        if not bad:
            return self.inner.write(chunks, embeddings, policy, terms=terms)
        good = [i for i in range(len(chunks)) if i not in bad]
        if good:  # part of the batch is stored before the failure
            self.inner.write([chunks[i] for i in good], embeddings[good], policy)
        raise StoreError(f"Chroma failed to write chunks: Invalid metadata at index {bad[0]}")

    def transaction(self) -> AbstractContextManager[None]:
        return self.inner.transaction()


def poisoned_dir(root: Path) -> tuple[Path, str]:
    c = setup_dir(root)
    (c / "bad.md").write_text("# B\n\nbadger\n")
    (c / "m.md").write_text("# M\n\nmole\n")
    return c, str((c / "bad.md").absolute())


def clean_state(c: Path) -> tuple[dict[str, tuple[str, str]], int]:
    clean = MemoryStore("docs")
    pipeline(clean).run(c)
    return state(clean), clean.count()


@pytest.mark.parametrize("window_chunks", [4096, 1], ids=["batched", "windowed"])
def test_a_refused_file_is_named_and_the_others_committed(
    tmp_path: Path, any_store: Store, window_chunks: int
) -> None:
    """Before: the batch's StoreError ended the run, nothing of the batch committed and the
    file not named. After: retried per file; re-run once fixed equals a clean ingest."""
    c, bad = poisoned_dir(tmp_path)
    store = RefusingStore(any_store, {bad})
    report = pipeline(store, window_chunks).run(c)  # type: ignore[arg-type]
    assert [f.path for f in report.failures] == [bad]
    assert "Invalid metadata" in report.failures[0].error
    assert report.files_failed == 1 and report.files_new == 3
    manifest = any_store.sources()
    assert bad not in manifest and len(manifest) == 3
    for name in ("a.md", "m.md", "z.md"):
        assert chunks_of(any_store, str((c / name).absolute()))
    store.poisoned.clear()  # the file is fixed
    again = pipeline(store, window_chunks).run(c)  # type: ignore[arg-type]
    assert again.ok and (again.files_new, again.files_unchanged) == (1, 3)
    expected, count = clean_state(c)
    assert state(any_store) == expected and any_store.count() == count  # nothing doubled


def test_a_store_that_is_down_still_ends_the_run(tmp_path: Path) -> None:
    """A failure of the store itself (its reads fail too) is not one file's fault."""
    c, bad = poisoned_dir(tmp_path)
    store = RefusingStore(MemoryStore("docs"), {bad})
    original = store.write

    def write_then_go_down(*args: Any, **kwargs: Any) -> int:
        try:
            return original(*args, **kwargs)
        except StoreError:
            store.down = True
            raise

    store.write = write_then_go_down  # type: ignore[method-assign]
    with pytest.raises(StoreError, match="Invalid metadata"):
        pipeline(store).run(c)  # type: ignore[arg-type]


def test_distributed_commit_reports_a_refused_file(tmp_path: Path, any_store: Store) -> None:
    """``Committer.commit`` (what a distributed engine calls) fails the file, not the run."""
    c, bad = poisoned_dir(tmp_path)
    store = RefusingStore(any_store, {bad})
    embedder = FakeEmbedder()
    chunker = TokenChunker(embedder.tokenizer, 40, 8)
    committer = Committer(store, keywords=False)  # type: ignore[arg-type]
    report = IngestReport(collection="docs")
    entries = walk_files(c, (), ()).entries

    def embed(chunks: list[Chunk]) -> Embedded:
        texts, index = distinct_texts(chunks)
        return Embedded(index, embedder.embed(texts))

    for entry in entries:
        planned = plan_file(entry, {}, recheck=False)
        committer.commit(load_and_chunk(planned, chunker), embed, report)
    assert [f.path for f in report.failures] == [bad]
    assert bad not in any_store.sources() and len(any_store.sources()) == 3
