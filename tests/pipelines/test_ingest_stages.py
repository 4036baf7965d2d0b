"""Ingest stages on their own: plan, load + chunk (pure, picklable), embed, commit.

The local pipeline composes them (tests/pipelines/test_ingest.py, test_ingest_stream.py); these
tests check what a distributed engine relies on: the plan is a value, load + chunk runs in
another process and turns a bad file into a value, and the stages composed by hand store
exactly what the pipeline stores.
"""

from __future__ import annotations

import json
import multiprocessing
import pickle
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TypeVar

from test_ingest import index_state, state, write_docs

from rag.chunking import Chunker, TokenChunker
from rag.keywords import KeywordTokenizer
from rag.pipelines.ingest import IngestParts, IngestPipeline
from rag.pipelines.ingest_chunk import FileChunks, load_and_chunk
from rag.pipelines.ingest_commit import Committer, fail
from rag.pipelines.ingest_embed import Embedded, embed_chunks
from rag.pipelines.ingest_plan import Plan, make_plan
from rag.stores.base import Store
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder
from rag.types import Chunk, IngestReport


def chunker() -> TokenChunker:
    return TokenChunker(FakeEmbedder().tokenizer, 40, 8)


def write_bad_files(root: Path) -> None:
    (root / "empty.txt").write_bytes(b"")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    lines = [json.dumps({"id": "1", "text": "first record"}), "{oops", '{"text": "third"}']
    (root / "partial.jsonl").write_text("\n".join(lines) + "\n")


def test_the_plan_is_a_value_of_new_changed_unchanged_failed_skipped_and_removed(
    tmp_path: Path,
) -> None:
    write_docs(tmp_path)
    store = MemoryStore("docs")
    IngestPipeline(store, FakeEmbedder(), chunker()).run(tmp_path)
    (tmp_path / "b.txt").write_text("Changed.")
    (tmp_path / "sub" / "c.txt").unlink()
    (tmp_path / "new.md").write_text("# New\n\nA new file.\n")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n")
    plan = make_plan(tmp_path, store.sources())
    status = {f.path.name: f.status for f in plan.files}
    assert status == {
        "a.md": "unchanged",
        "b.txt": "changed",
        "new.md": "new",
        "empty.txt": "new",  # hashed fine; loading it fails in stage 2
        "image.png": "skipped",
    }
    assert [f.path.name for f in plan.to_ingest] == ["b.txt", "empty.txt", "new.md"]
    assert plan.removed == (str((tmp_path / "sub" / "c.txt").absolute()),)
    assert pickle.loads(pickle.dumps(plan)) == plan
    recheck = make_plan(tmp_path, store.sources(), recheck=True)
    assert {f.path.name for f in recheck.with_status("unchanged")} == set()
    only_a = make_plan(tmp_path / "a.md", store.sources())
    assert only_a.removed == () and [f.status for f in only_a.files] == ["unchanged"]


def test_load_and_chunk_pickles_and_runs_in_another_process(tmp_path: Path) -> None:
    write_docs(tmp_path)
    write_bad_files(tmp_path)
    plan = make_plan(tmp_path, {})
    parts = (chunker(), KeywordTokenizer())
    # the function, its inputs and its outputs all round-trip through pickle
    fn = pickle.loads(pickle.dumps(load_and_chunk))
    assert fn is load_and_chunk
    here = [load_and_chunk(f, *parts) for f in plan.to_ingest]
    inputs = pickle.loads(pickle.dumps((plan.to_ingest, parts)))
    assert [fn(f, *inputs[1]) for f in inputs[0]] == here
    assert pickle.loads(pickle.dumps(here)) == here
    # and in a fresh interpreter (spawn: nothing inherited but what pickles)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        n = len(plan.to_ingest)
        there = list(pool.map(load_and_chunk, plan.to_ingest, [parts[0]] * n, [parts[1]] * n))
    assert there == here
    assert sum(len(r.chunks) for r in there) > 3 and all(r.terms is not None for r in there)


def test_a_bad_file_is_a_failure_value_and_the_other_files_go_on(tmp_path: Path) -> None:
    write_docs(tmp_path)
    write_bad_files(tmp_path)
    results = {f.path.name: load_and_chunk(f, chunker()) for f in make_plan(tmp_path, {}).files}
    for name in ("empty.txt", "binary.txt", "broken.pdf"):
        bad = results[name]
        assert not bad.ok and not bad.complete and bad.chunks == [], name
        assert bad.error
    assert "empty" in (results["empty.txt"].error or "")
    partial = results["partial.jsonl"]
    assert not partial.ok and partial.complete and "2" in (partial.error or "")
    assert [c.text for c in partial.chunks] == ["first record", "third"]
    for name in ("a.md", "b.txt", "c.txt"):
        good = results[name]
        assert good.ok and good.complete and good.chunks and good.terms is None, name
        assert {c.source for c in good.chunks} == {good.file.source}


def ingest_by_stages(store: Store, root: Path, embedder: FakeEmbedder) -> IngestReport:
    """The four stages composed one file at a time, as a distributed engine would: plan on
    the driver, load + chunk through pickle, embed and commit on the driver."""
    report = IngestReport(collection=store.collection)
    plan: Plan = make_plan(root, store.sources())
    committer = Committer(store, keywords=True)
    parts = pickle.dumps((chunker(), KeywordTokenizer()))
    for f in plan.files:
        report.files_seen += f.status != "skipped"
        report.files_unchanged += f.status == "unchanged"
        report.files_skipped += f.status == "skipped"
        if f.status == "failed":
            fail(report, f.source, f.error)
    loaded: list[FileChunks] = [load_and_chunk(f, *pickle.loads(parts)) for f in plan.to_ingest]

    def embed(chunks: list[Chunk]) -> Embedded:
        return embed_chunks(embedder, chunks)

    for result in pickle.loads(pickle.dumps(loaded)):
        committer.commit(result, embed, report)
    committer.prune(plan.removed, report)
    return report


def test_the_stages_composed_by_hand_store_what_the_pipeline_stores(
    tmp_path: Path, any_store: Store
) -> None:
    docs = tmp_path / "docs"
    write_docs(docs)
    write_bad_files(docs)
    tokenizer = KeywordTokenizer()

    def both() -> tuple[IngestReport, IngestReport]:
        piped = IngestPipeline(reference, FakeEmbedder(), chunker(), tokenizer).run(docs)
        staged = ingest_by_stages(any_store, docs, FakeEmbedder())
        assert state(any_store) == state(reference)
        assert index_state(any_store) == index_state(reference)
        fields = set(IngestReport.model_fields) - {"collection", "seconds", "failures"}
        assert piped.model_dump(include=fields) == staged.model_dump(include=fields)
        assert {f.path for f in piped.failures} == {f.path for f in staged.failures}
        return piped, staged

    reference = MemoryStore("docs")
    first, _ = both()
    assert first.files_new == 4 and first.files_failed == 4
    (docs / "b.txt").write_text("Completely new content about budgets.")
    (docs / "sub" / "c.txt").unlink()
    changed, _ = both()
    assert changed.files_changed == 1 and changed.files_removed == 1
    assert changed.chunks_deleted > 0


T = TypeVar("T")


def counting(make: Callable[[], T], calls: list[str], name: str) -> Callable[[], T]:
    def factory() -> T:
        calls.append(name)
        return make()

    return factory


def test_parts_are_built_once_and_only_for_a_new_or_changed_file(tmp_path: Path) -> None:
    write_bad_files(tmp_path)  # files that fail to load need no part, except the partial one
    (tmp_path / "partial.jsonl").unlink()
    store = MemoryStore("docs")
    calls: list[str] = []
    embedder = FakeEmbedder()
    chunk_with: Chunker = TokenChunker(embedder.tokenizer, 40, 8)
    parts = IngestParts(
        embedder=counting(lambda: embedder, calls, "embedder"),
        chunker=counting(lambda: chunk_with, calls, "chunker"),
        keyword_tokenizer=counting(KeywordTokenizer, calls, "tokenizer"),
    )
    failed = IngestPipeline.from_parts(store, parts).run(tmp_path)
    assert failed.files_failed == 3 and calls == []
    write_docs(tmp_path)
    pipeline = IngestPipeline.from_parts(store, parts)
    first = pipeline.run(tmp_path)
    assert first.files_new == 3 and sorted(calls) == ["chunker", "embedder", "tokenizer"]
    (tmp_path / "b.txt").write_text("Changed once more.")
    assert pipeline.run(tmp_path).files_changed == 1
    assert len(calls) == 3, "each factory is called once per pipeline"
    calls.clear()
    again = IngestPipeline.from_parts(store, parts).run(tmp_path)
    assert again.files_unchanged == 3 and calls == []
