"""Ingest pipeline: incremental runs, change/delete handling, crash repair, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rag.chunking import TokenChunker
from rag.errors import ConfigError
from rag.keywords import KeywordTokenizer
from rag.pipelines.ingest import IngestPipeline
from rag.stores.base import KeywordSearchStore, Store, keyword_search
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder


def pipeline(store: Store | None = None, embedder: FakeEmbedder | None = None) -> IngestPipeline:
    embedder = embedder or FakeEmbedder()
    return IngestPipeline(
        store or MemoryStore("docs"), embedder, TokenChunker(embedder.tokenizer, 40, 8)
    )


def write_docs(root: Path) -> None:
    (root / "sub").mkdir(parents=True, exist_ok=True)
    (root / "a.md").write_text(
        "# Intro\n\nChroma is the default store.\n\n## Switch\n\nUse --store pgvector.\n"
    )
    (root / "b.txt").write_text("Costs are logged for every call. " * 30)
    (root / "sub" / "c.txt").write_text("Korean text: 한국어 검색은 형태소 분석을 씁니다.")


def state(store: Store) -> dict[str, tuple[str, str]]:
    """Everything stored, as id -> (source, text), plus the manifest, to compare runs."""
    out = {}
    for source in store.sources():
        for cid in store.ids_for_source(source):
            out[cid] = (source, store.sources()[source].file_hash)
    return out


def test_first_run_then_unchanged_rerun_embeds_and_writes_nothing(
    tmp_path: Path, any_store: Store
) -> None:
    write_docs(tmp_path)
    store = any_store
    embedder = FakeEmbedder()
    first = pipeline(store, embedder).run(tmp_path)
    assert (first.files_seen, first.files_new, first.files_failed) == (3, 3, 0)
    assert first.chunks_written == store.count() > 3
    before = state(store)
    embedded = embedder.texts_embedded
    again = pipeline(store, embedder).run(tmp_path)
    assert (again.files_unchanged, again.chunks_embedded, again.chunks_written) == (3, 0, 0)
    assert embedder.texts_embedded == embedded
    assert state(store) == before


def test_changed_file_replaces_exactly_its_own_chunks(tmp_path: Path, any_store: Store) -> None:
    write_docs(tmp_path)
    store = any_store
    pipeline(store).run(tmp_path)
    b_source = str((tmp_path / "b.txt").absolute())
    others = {s: store.ids_for_source(s) for s in store.sources() if s != b_source}
    (tmp_path / "b.txt").write_text("Completely new content about budgets.")
    report = pipeline(store).run(tmp_path)
    assert (report.files_changed, report.files_unchanged) == (1, 2)
    assert report.chunks_deleted > 0
    (chunk_id,) = store.ids_for_source(b_source)
    hits = store.query(FakeEmbedder().embed(["budgets"])[0], 1, {"source": b_source})
    assert hits[0].chunk.id == chunk_id and "budgets" in hits[0].chunk.text
    assert {s: store.ids_for_source(s) for s in others} == others


def test_removed_file_is_pruned_by_default_and_kept_with_no_prune(tmp_path: Path) -> None:
    write_docs(tmp_path)
    store = MemoryStore("docs")
    pipeline(store).run(tmp_path)
    (tmp_path / "sub" / "c.txt").unlink()
    kept = pipeline(store).run(tmp_path, prune=False)
    assert kept.files_removed == 0 and len(store.sources()) == 3
    pruned = pipeline(store).run(tmp_path)
    assert pruned.files_removed == 1 and pruned.chunks_deleted >= 1
    assert len(store.sources()) == 2
    assert not store.ids_for_source(str((tmp_path / "sub" / "c.txt").absolute()))


def test_ingesting_one_file_does_not_prune_its_siblings(tmp_path: Path) -> None:
    write_docs(tmp_path)
    store = MemoryStore("docs")
    pipeline(store).run(tmp_path)
    report = pipeline(store).run(tmp_path / "a.md")
    assert report.files_unchanged == 1 and report.files_removed == 0
    assert len(store.sources()) == 3


class ExplodingEmbedder(FakeEmbedder):
    def __init__(self, fail_on_call: int) -> None:
        super().__init__()
        self.fail_on_call = fail_on_call

    def embed(self, texts, *, input_type="document"):  # type: ignore[no-untyped-def]
        if self.calls + 1 == self.fail_on_call:
            self.calls += 1
            raise RuntimeError("simulated crash")
        return super().embed(texts, input_type=input_type)


def test_interrupted_run_then_rerun_equals_clean_run(tmp_path: Path, any_store: Store) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(60):  # enough files for several embedding batches
        (docs / f"f{i:02}.txt").write_text(" ".join(f"File {i} sentence {j}." for j in range(200)))
    clean = MemoryStore("docs")
    pipeline(clean).run(docs)
    crashed = any_store
    with pytest.raises(RuntimeError, match="simulated crash"):
        pipeline(crashed, ExplodingEmbedder(fail_on_call=2)).run(docs)
    assert 0 < crashed.count() < clean.count()
    pipeline(crashed).run(docs)
    assert state(crashed) == state(clean)
    assert crashed.count() == clean.count()


def test_bad_files_are_reported_and_the_rest_is_ingested(tmp_path: Path) -> None:
    write_docs(tmp_path)
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "binary.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n")
    os.symlink(tmp_path, tmp_path / "sub" / "loop")
    report = pipeline().run(tmp_path)
    assert report.files_new == 3
    failed = {Path(f.path).name: f.error for f in report.failures}
    assert set(failed) >= {"empty.txt", "binary.txt", "broken.pdf"}
    assert "empty" in failed["empty.txt"] and "binary" in failed["binary.txt"]
    assert report.files_skipped == 1  # image.png has no loader
    assert not report.ok


def test_partial_jsonl_ingests_good_records_and_reports_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "1", "title": "One", "text": "first record"}),
        "{oops",
        json.dumps({"id": "2", "text": "second"}),
    ]
    (tmp_path / "c.jsonl").write_text("\n".join(lines) + "\n")
    store = MemoryStore("docs")
    report = pipeline(store).run(tmp_path)
    assert store.count() == 2
    assert report.files_failed == 1 and "2" in report.failures[0].error
    again = pipeline(store).run(tmp_path)
    assert again.files_failed == 1 and again.chunks_embedded == 0 and store.count() == 2


def test_missing_path_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        pipeline().run(tmp_path / "nope")


def test_empty_directory_reports_nothing_to_do(tmp_path: Path) -> None:
    report = pipeline().run(tmp_path)
    assert report.files_seen == 0 and report.ok


def test_identical_texts_are_embedded_once(tmp_path: Path) -> None:
    for name in ("x.txt", "y.txt"):
        (tmp_path / name).write_text("The very same paragraph in two files.")
    embedder = FakeEmbedder()
    store = MemoryStore("docs")
    report = pipeline(store, embedder).run(tmp_path)
    assert report.chunks_embedded == 1 and report.chunks_written == 2 == store.count()


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    from rag.chunking import TokenChunker
    from rag.pipelines.ingest import IngestPipeline
    from rag.stores.chroma import ChromaStore
    from rag.testing import FakeEmbedder

    class KillingEmbedder(FakeEmbedder):
        def embed(self, texts, *, input_type="document"):
            if self.calls == int(sys.argv[3]):
                os.kill(os.getpid(), signal.SIGKILL)
            return super().embed(texts, input_type=input_type)

    e = KillingEmbedder()
    store = ChromaStore("docs", path=sys.argv[2])
    window = {"window_chunks": int(sys.argv[4])} if len(sys.argv) > 4 else {}
    IngestPipeline(store, e, TokenChunker(e.tokenizer, 40, 8), **window).run(sys.argv[1])
    """
)


def ingest_killed(
    docs: Path, store_dir: Path, at_call: int, window_chunks: int | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``rag`` ingest of ``docs`` into Chroma at ``store_dir`` in a child process that is
    killed with SIGKILL as it asks for its ``at_call``-th embedding batch."""
    window = [str(window_chunks)] if window_chunks else []
    args = [sys.executable, "-c", KILL_SCRIPT, str(docs), str(store_dir), str(at_call), *window]
    return subprocess.run(args, capture_output=True, timeout=300)


@pytest.mark.integration
def test_kill_9_mid_ingest_then_rerun_leaves_chroma_like_a_clean_run(tmp_path: Path) -> None:
    from rag.stores.chroma import ChromaStore

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(60):
        (docs / f"f{i:02}.txt").write_text(" ".join(f"File {i} sentence {j}." for j in range(200)))
    # at the third batch: the first is written by then (the second may be, as writes overlap
    # the next batch's embedding)
    killed = ingest_killed(docs, tmp_path / "crashed", 2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    crashed = ChromaStore("docs", path=tmp_path / "crashed")
    partial = crashed.count()
    assert partial > 0
    pipeline(crashed).run(docs)  # type: ignore[arg-type]
    clean = ChromaStore("docs", path=tmp_path / "clean")
    pipeline(clean).run(docs)  # type: ignore[arg-type]
    assert crashed.count() == clean.count() > partial
    assert crashed.sources().keys() == clean.sources().keys()
    for source in clean.sources():
        assert crashed.ids_for_source(source) == clean.ids_for_source(source)


# -- keyword rows kept in step with the chunks, by the store --------------------------------------


def keyword_store(store: Store) -> KeywordSearchStore:
    """``store`` as a keyword-searchable store (every backend declares the capability)."""
    kw = keyword_search(store)
    assert kw is not None, f"{store!r} does not declare supports_keyword_search"
    return kw


TOKENIZER = KeywordTokenizer()


class CountingTokenizer(KeywordTokenizer):
    def __init__(self) -> None:
        super().__init__()
        self.texts = 0

    def tokenize_batch(self, texts):  # type: ignore[no-untyped-def]
        self.texts += len(texts)
        return super().tokenize_batch(texts)


def kw_pipeline(
    store: Store,
    embedder: FakeEmbedder | None = None,
    tokenizer: KeywordTokenizer | None = None,
) -> IngestPipeline:
    embedder = embedder or FakeEmbedder()
    return IngestPipeline(
        store,
        embedder,
        TokenChunker(embedder.tokenizer, 40, 8),
        keyword_tokenizer=tokenizer or TOKENIZER,
    )


def index_state(store: Store) -> dict[str, set[str]]:
    """Per source: the chunk ids with keyword rows; asserts they are all the store's chunks."""
    kw = keyword_store(store)
    out = {}
    for source in store.sources():
        ids = store.ids_for_source(source)
        out[source] = kw.keyword_ids(sorted(ids))
        assert out[source] == ids, source
    assert kw.keyword_count() == store.count()
    return out


def test_keyword_rows_follow_new_changed_and_removed_files(
    tmp_path: Path, any_store: Store
) -> None:
    docs = tmp_path / "docs"
    write_docs(docs)
    store = keyword_store(any_store)
    tokenizer = CountingTokenizer()
    kw_pipeline(store, tokenizer=tokenizer).run(docs)
    assert store.keyword_count() == store.count() and index_state(store)
    hit = store.keyword_query(TOKENIZER.tokenize("형태소 분석이란?"), 3)[0]
    assert hit.chunk.source.endswith("c.txt")
    # unchanged: nothing tokenized
    seen = tokenizer.texts
    kw_pipeline(store, tokenizer=tokenizer).run(docs)
    assert tokenizer.texts == seen
    # changed: the old terms are gone, the new ones found
    (docs / "b.txt").write_text("Completely new content about budgets.")
    kw_pipeline(store).run(docs)
    index_state(store)
    assert store.keyword_query(["cost"], 5) == []
    assert store.keyword_query(["budget"], 5)[0].chunk.source.endswith("b.txt")
    # removed: pruned from the keyword rows too
    (docs / "sub" / "c.txt").unlink()
    kw_pipeline(store).run(docs)
    assert store.keyword_query(TOKENIZER.tokenize("형태소"), 3) == []
    assert store.keyword_count() == store.count() and len(index_state(store)) == 2


class HalfWritingStore:
    """Wraps a store: its n-th ``write`` with terms stores the chunks without their keyword
    rows and then fails, as if the process died between a sidecar store's two writes (on a
    transactional store, the transaction rolls both back)."""

    def __init__(self, inner: Store, fail_on_write: int) -> None:
        self.inner = inner
        self.writes = 0
        self.fail_on_write = fail_on_write

    def write(self, chunks, embeddings, policy=None, *, terms=None):  # type: ignore[no-untyped-def]
        if terms is not None:
            self.writes += 1
            if self.writes == self.fail_on_write:
                self.inner.write(chunks, embeddings)
                raise RuntimeError("simulated crash between the chunk and keyword writes")
        if policy is None:
            return self.inner.write(chunks, embeddings, terms=terms)
        return self.inner.write(chunks, embeddings, policy, terms=terms)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


@pytest.mark.parametrize("crash", ["embedder", "index"])
def test_crash_then_rerun_leaves_keyword_rows_like_a_clean_run(
    tmp_path: Path, any_store: Store, crash: str
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(20):  # > 512 chunks: two embedding batches
        (docs / f"f{i:02}.txt").write_text(" ".join(f"File {i} sentence {j}." for j in range(200)))
    (docs / "ko.txt").write_text("LoRA를 사용하면 모델을 빠르게 미세조정할 수 있다. " * 5)
    clean = MemoryStore("docs")
    kw_pipeline(clean).run(docs)
    crashed = keyword_store(any_store)
    if crash == "embedder":
        with pytest.raises(RuntimeError, match="simulated crash"):
            kw_pipeline(crashed, ExplodingEmbedder(fail_on_call=2)).run(docs)
    else:
        with pytest.raises(RuntimeError, match="simulated crash"):
            kw_pipeline(HalfWritingStore(crashed, fail_on_write=2)).run(docs)  # type: ignore[arg-type]
    assert crashed.keyword_count() < clean.keyword_count()
    if not crashed.supports_transactions and crash == "index":
        # chunks stored, not yet keyword-indexed: the gap to repair
        assert crashed.count() > crashed.keyword_count()
    kw_pipeline(crashed).run(docs)
    assert index_state(crashed) == index_state(clean)
    question = TOKENIZER.tokenize("LoRA는 무엇인가? file 7 sentence 3")
    got = sorted((-round(h.score, 6), h.chunk.id) for h in crashed.keyword_query(question, 1000))
    want = sorted((-round(h.score, 6), h.chunk.id) for h in clean.keyword_query(question, 1000))
    assert got == want and len(got) > 10


def test_missing_keyword_rows_are_filled_from_an_existing_collection(tmp_path: Path) -> None:
    write_docs(tmp_path)
    store = MemoryStore("docs")
    embedder = FakeEmbedder()
    pipeline(store, embedder).run(tmp_path)  # no tokenizer: ingested without keyword terms
    assert store.keyword_count() == 0
    embedded = embedder.texts_embedded
    report = kw_pipeline(store, embedder).run(tmp_path)
    assert store.keyword_count() == store.count() and embedder.texts_embedded == embedded
    assert report.chunks_embedded == 0 and report.files_changed == 3
    index_state(store)
    again = kw_pipeline(store, embedder).run(tmp_path)
    assert again.files_unchanged == 3


def test_title_terms_are_indexed_with_every_chunk_of_a_record(tmp_path: Path) -> None:
    """The title is written once at the top of a JSONL record, but every chunk of the record
    is found by a word of its title (the title field, ``KeywordTokenizer.chunk_text``);
    Markdown headings likewise."""
    body = " ".join(f"Sentence {i} talks about rivers and boats." for i in range(40))
    (tmp_path / "docs.jsonl").write_text(
        json.dumps({"id": "r1", "title": "Zanzibar handbook", "text": body})
        + "\n"
        + json.dumps({"id": "r2", "title": "Other title", "text": body})
        + "\n",
        encoding="utf-8",
    )
    (tmp_path / "guide.md").write_text(
        "# Quokka setup\n\n" + "\n\n".join(f"Step {i}: run the tool again." for i in range(30)),
        encoding="utf-8",
    )
    store = MemoryStore("titles")
    kw_pipeline(store).run(tmp_path)
    kw = keyword_search(store)
    assert isinstance(kw, KeywordSearchStore)
    everything = [h.chunk for h in kw.keyword_query(["river", "tool"], 1000)]
    records = [c for c in everything if c.location.record == "r1"]
    assert len(records) > 1, "the record should make several chunks"
    found = {h.chunk.id for h in kw.keyword_query(["zanzibar"], 100)}
    assert found == {c.id for c in records}
    # the same text under another title: its own terms (keyed by chunk, not by text)
    assert not found & {h.chunk.id for h in kw.keyword_query(["other"], 100)}
    md = [c for c in everything if c.source.endswith("guide.md")]
    assert len(md) > 1 and {h.chunk.id for h in kw.keyword_query(["quokka"], 100)} == {
        c.id for c in md
    }
    plain = MemoryStore("plain")
    kw_pipeline(plain, tokenizer=KeywordTokenizer(title_weight=0)).run(tmp_path)
    only_first = keyword_search(plain).keyword_query(["zanzibar"], 100)  # type: ignore[union-attr]
    assert len(only_first) == 1
