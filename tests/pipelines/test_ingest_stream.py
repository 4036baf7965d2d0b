"""Streaming ingest: JSON Lines read record by record, large files handled in windows.

A file is never held whole: ``rag.connectors.iter_file`` yields the Documents of a JSON
Lines file as it reads, and the ingest pipeline chunks, embeds and writes about
``window_chunks`` chunks at a time. These tests check that the stream gives exactly what
``load_file`` gives, that memory does not grow with the file, and that a crash between two
windows is repaired by a re-run like any other crash.
"""

from __future__ import annotations

import gc
import hashlib
import json
import signal
import threading
import tracemalloc
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import pytest
from test_ingest import ExplodingEmbedder, index_state, ingest_killed, keyword_store

import rag.connectors as connectors
from rag.chunking import TokenChunker
from rag.connectors import (
    LoaderRegistry,
    PartialLoadError,
    default_loaders,
    file_digest,
    iter_file,
    load_file,
)
from rag.errors import LoadError
from rag.keywords import KeywordTokenizer
from rag.pipelines.ingest import IngestPipeline
from rag.stores.base import DuplicatePolicy, Store
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder
from rag.types import Chunk, Document, IngestReport, Vectors

TOKENIZER = KeywordTokenizer()
WORDS = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"]


def record(i: int, words: int = 60) -> dict[str, object]:
    body = " ".join(f"{WORDS[(i + j) % len(WORDS)]}{(i * 7 + j) % 101}." for j in range(words))
    return {"_id": f"doc-{i}", "title": f"Record {i}", "text": body, "year": 2000 + i % 20}


def write_jsonl(path: Path, records: Sequence[dict[str, object]], bad: Sequence[int] = ()) -> None:
    """One record per line; the 1-based line numbers in ``bad`` are written as broken JSON."""
    lines = []
    for n, rec in enumerate(records, 1):
        lines.append("{broken" if n in bad else json.dumps(rec, ensure_ascii=False))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def same_documents(a: Sequence[Document], b: Sequence[Document]) -> bool:
    return [d.model_dump() for d in a] == [d.model_dump() for d in b]


def streamed(path: Path) -> tuple[list[Document], connectors.DocumentStream]:
    stream = iter_file(path)
    return list(stream), stream


# -- the stream gives what load_file gives --------------------------------------------------


def test_jsonl_stream_equals_load_file_including_crlf_bom_blank_lines_and_unicode(
    tmp_path: Path,
) -> None:
    records = [record(i) for i in range(5)]
    records.append({"id": 7, "text": "한국어 검색은 형태소 분석을 씁니다.", "title": "Korean"})
    records.append({"name": "no text field", "tags": ["a", "b"], "nested": {"k": 1}})
    records.append({"text": "   "})  # no text: skipped, but its line still counts
    body = "\r\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\r\n\r\n  \r\n"
    for name, data in [
        ("plain.jsonl", body.encode()),
        ("bom.ndjson", b"\xef\xbb\xbf" + body.encode()),
        ("lone-cr.jsonl", body.replace("\r\n", "\r").encode()),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        docs, stream = streamed(path)
        assert stream.streaming and stream.failure is None
        assert len(docs) == 7, name
        assert same_documents(docs, load_file(path, data)), name
        assert docs[5].location.record == "7" and docs[5].location.start_line == 6


def test_bad_lines_end_the_stream_with_a_failure_naming_them(tmp_path: Path) -> None:
    path = tmp_path / "mixed.jsonl"
    write_jsonl(path, [record(i) for i in range(30)], bad=[3, 4, 5, 20])
    docs, stream = streamed(path)
    assert len(docs) == 26
    with pytest.raises(PartialLoadError) as info:
        load_file(path, path.read_bytes())
    assert same_documents(docs, info.value.documents)
    failure = stream.failure
    assert failure is not None and failure.failed == ["3", "4", "5", "20"]
    assert failure.reason == info.value.reason and "lines 3-5, 20" in failure.reason
    assert failure.documents == []  # they were yielded already


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty file"),
        (b"\n  \n\t\n", "only whitespace"),
        (b'{"text": ""}\n[]\n', "empty records"),
        (b"{nope\n[1,\n", "no line is valid JSON"),
        (b'{"text": "x"}\n\x00\x00\x00', "NUL"),
    ],
)
def test_a_stream_with_nothing_to_ingest_raises_what_load_file_raises(
    tmp_path: Path, data: bytes, message: str
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(data)
    with pytest.raises(LoadError) as via_load:
        load_file(path, data)
    with pytest.raises(LoadError) as via_stream:
        list(iter_file(path))
    assert not isinstance(via_stream.value, PartialLoadError)
    assert str(via_stream.value) == str(via_load.value) and message in str(via_stream.value)


def test_legacy_encodings_are_decoded_whole_like_load_file(tmp_path: Path) -> None:
    """A byte that is not UTF-8 far into the file (after the first MB) still makes the whole
    file decode with the detected legacy encoding: no record is yielded as UTF-8 first."""
    ascii_part = [record(i, words=40) for i in range(4000)]  # > 1 MB before the odd byte
    lines = [json.dumps(r) for r in ascii_part]
    lines.append(json.dumps({"id": "fr", "text": "Un café très noir, s'il vous plaît."}))
    path = tmp_path / "western.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode("cp1252"))
    assert path.stat().st_size > 1 << 20
    docs, _ = streamed(path)
    assert docs[-1].text == "Un café très noir, s'il vous plaît."
    assert same_documents(docs, load_file(path, path.read_bytes()))
    korean = tmp_path / "korean.jsonl"
    korean.write_bytes(
        "\n".join(
            json.dumps(
                {"id": i, "text": f"{i}번째 문서: 한국어 검색은 형태소 분석을 씁니다."},
                ensure_ascii=False,
            )
            for i in range(50)
        ).encode("cp949")
    )
    docs, _ = streamed(korean)
    assert docs[3].text.startswith("3번째 문서") and len(docs) == 50
    assert same_documents(docs, load_file(korean, korean.read_bytes()))


def test_a_file_loaded_whole_reports_its_bad_records_the_same_way(tmp_path: Path) -> None:
    """Not UTF-8, so not streamed: load's PartialLoadError becomes the stream's failure too."""
    path = tmp_path / "legacy.jsonl"
    text = "Un café très noir, s'il vous plaît, et la crème brûlée du jour."
    lines = [json.dumps({"id": i, "text": f"{text} ({i})"}, ensure_ascii=False) for i in range(5)]
    lines[2] = "{broken"
    path.write_bytes("\n".join(lines).encode("cp1252"))
    docs, stream = streamed(path)
    assert [d.location.record for d in docs] == ["0", "1", "3", "4"]
    assert docs[0].text == f"{text} (0)"
    assert stream.failure is not None and stream.failure.failed == ["3"]
    assert stream.failure.documents == [] and stream.fraction_read == 1.0


def test_json_lines_named_json_streams_and_a_json_value_is_loaded_whole(tmp_path: Path) -> None:
    lines = tmp_path / "lines.json"
    lines.write_text('\n{"text": "one"}\n{"text": "two"}\n')
    docs, stream = streamed(lines)
    assert [d.text for d in docs] == ["one", "two"] and stream.failure is None
    assert same_documents(docs, load_file(lines, lines.read_bytes()))
    for name, text in [
        ("list.json", json.dumps([{"text": "a"}, {"id": "x", "text": "b"}])),
        ("pretty.json", json.dumps({"name": "rag", "store": {"kind": "chroma"}}, indent=2)),
        ("one-line.json", '{"text": "alone"}\n\n'),
        ("bad.json", '{"a": 1,\n "b": }'),
    ]:
        path = tmp_path / name
        path.write_text(text)
        try:
            want = load_file(path, path.read_bytes())
        except LoadError as exc:
            with pytest.raises(LoadError, match="not valid JSON") as info:
                list(iter_file(path))
            assert str(info.value) == str(exc)
            continue
        assert same_documents(list(iter_file(path)), want), name


def test_other_file_types_come_through_load_file(tmp_path: Path) -> None:
    path = tmp_path / "guide.md"
    path.write_text("# Title\n\nSome text.\n\n## Part\n\nMore text.\n")
    docs, stream = streamed(path)
    assert not stream.streaming and stream.fraction_read == 1.0
    assert same_documents(docs, load_file(path, path.read_bytes()))
    with pytest.raises(LoadError, match=r"no loader for '\.xyz'"):
        iter_file(tmp_path / "data.xyz")
    with pytest.raises(LoadError, match="does not exist"):
        list(iter_file(tmp_path / "gone.jsonl"))


def test_file_digest_is_the_sha256_of_the_bytes_read_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    write_jsonl(path, [record(i) for i in range(3000)])
    assert file_digest(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(LoadError, match="does not exist"):
        file_digest(tmp_path / "gone.jsonl")
    with pytest.raises(LoadError, match="is a directory"):
        file_digest(tmp_path)


def _peak_while_streaming(path: Path) -> tuple[int, int]:
    """(documents, peak traced bytes) while reading ``path`` one Document at a time."""
    gc.collect()
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_file(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


def test_streaming_a_jsonl_file_takes_the_same_memory_at_10x_the_size(tmp_path: Path) -> None:
    """Reading a 10x larger file must not allocate more: the file is never held whole."""
    small, large = tmp_path / "x1.jsonl", tmp_path / "x10.jsonl"
    write_jsonl(small, [record(i) for i in range(1500)])
    write_jsonl(large, [record(i) for i in range(15000)])
    assert large.stat().st_size > 6 * 10**6
    n_small, peak_small = _peak_while_streaming(small)
    n_large, peak_large = _peak_while_streaming(large)
    assert (n_small, n_large) == (1500, 15000)
    assert peak_large < 1.3 * peak_small + 256 * 1024, (peak_small, peak_large)
    assert peak_large < large.stat().st_size / 2


# -- the pipeline: windows ------------------------------------------------------------------


def pipeline(
    store: Store,
    embedder: FakeEmbedder | None = None,
    *,
    window: int = 64,
    keywords: bool = False,
    chunker: TokenChunker | None = None,
    loaders: LoaderRegistry | None = None,
) -> IngestPipeline:
    embedder = embedder or FakeEmbedder()
    return IngestPipeline(
        store,
        embedder,
        chunker or TokenChunker(embedder.tokenizer, 40, 8),
        keyword_tokenizer=TOKENIZER if keywords else None,
        window_chunks=window,
        loaders=loaders,
    )


def state(store: Store) -> dict[str, object]:
    """Every source's chunk ids and manifest hash and count, to compare runs."""
    return {
        s: (sorted(store.ids_for_source(s)), rec.file_hash, rec.chunk_count)
        for s, rec in store.sources().items()
    }


def corpus(root: Path, n: int = 200) -> Path:
    """A directory with small files and one JSONL file of many windows."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "a.txt").write_text("A small file about alpha and beta. " * 20)
    (root / "b.md").write_text("# Notes\n\nGamma delta notes.\n\n## More\n\nEpsilon.\n")
    write_jsonl(root / "big.jsonl", [record(i) for i in range(n)])
    (root / "z.txt").write_text("The last small file, after the big one.")
    return root


def test_window_size_does_not_change_what_is_stored(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs")
    one = MemoryStore("docs")
    whole = pipeline(one, window=1_000_000).run(docs)
    windowed_store = MemoryStore("docs")
    windowed = pipeline(windowed_store, window=7, keywords=True).run(docs)
    assert state(windowed_store) == state(one)
    assert index_state(windowed_store)
    assert windowed.chunks_total == whole.chunks_total == one.count() > 400
    assert (windowed.files_new, windowed.files_failed) == (4, 0)
    big = str((docs / "big.jsonl").absolute())
    assert one.sources()[big].chunk_count == len(one.ids_for_source(big))


class CountingChunker(TokenChunker):
    """Records, at every call, how many Documents and Chunks are alive in the process."""

    def __init__(self, embedder: FakeEmbedder) -> None:
        super().__init__(embedder.tokenizer, 40, 8)
        self.calls = 0
        self.most_documents = 0
        self.most_docs_per_call = 0

    def iter_chunks(self, documents: Iterable[Document]) -> Iterator[Chunk]:
        """The seam ingest calls (``chunk`` is its list)."""
        documents = list(documents)
        self.calls += 1
        self.most_docs_per_call = max(self.most_docs_per_call, len(documents))
        alive = sum(1 for o in gc.get_objects() if type(o) is Document)
        self.most_documents = max(self.most_documents, alive)
        return super().iter_chunks(documents)


class WindowCheckingStore(MemoryStore):
    """A memory store that records the largest write and id lookup it was asked for."""

    largest_write = 0
    largest_lookup = 0

    def write(
        self,
        chunks: Sequence[Chunk],
        embeddings: Vectors,
        policy: DuplicatePolicy = DuplicatePolicy.OVERWRITE,
        *,
        terms: Sequence[Sequence[str]] | None = None,
    ) -> int:
        self.largest_write = max(self.largest_write, len(chunks))
        return super().write(chunks, embeddings, policy, terms=terms)

    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        self.largest_lookup = max(self.largest_lookup, len(ids))
        return super().existing_ids(ids)


def live_documents() -> int:
    return sum(1 for o in gc.get_objects() if type(o) is Document)


def test_a_large_jsonl_file_is_never_materialised(tmp_path: Path) -> None:
    """Live Documents stay at one chunking group, store calls at one window, whatever N is."""
    docs = tmp_path / "docs"
    docs.mkdir()
    n = 6000
    write_jsonl(docs / "big.jsonl", [record(i, words=150) for i in range(n)])  # ~7 MB
    embedder = FakeEmbedder(dimension=16)
    chunker = CountingChunker(embedder)
    store = WindowCheckingStore("docs")
    gc.collect()
    baseline = live_documents()
    report = pipeline(store, embedder, window=500, chunker=chunker).run(docs)
    assert report.files_new == 1 and report.chunks_written == store.count() >= 2 * n
    assert chunker.calls >= 5 and chunker.most_docs_per_call < n / 5
    assert chunker.most_documents - baseline <= chunker.most_docs_per_call, "Documents pile up"
    assert store.largest_write <= 500 and store.largest_lookup <= 500
    assert embedder.calls >= report.chunks_written // 500


@pytest.mark.parametrize("change", [False, True])
def test_crash_between_windows_then_rerun_equals_a_clean_run(
    tmp_path: Path, any_store: Store, change: bool
) -> None:
    """Embedding call 4 fails: the first windows of the big file are written (rolled back on
    pgvector), its manifest entry is not; the re-run embeds only what is missing."""
    docs = corpus(tmp_path / "docs")
    big = str((docs / "big.jsonl").absolute())
    crashed = keyword_store(any_store)
    if change:  # an older version of the big file is stored: its dropped records must go
        pipeline(crashed, keywords=True).run(docs)
        write_jsonl(docs / "big.jsonl", [record(i) for i in range(50, 300)])
    old_ids, old_record = crashed.ids_for_source(big), crashed.sources().get(big)
    clean = MemoryStore("docs")
    pipeline(clean, keywords=True).run(docs)
    clean_ids = clean.ids_for_source(big)
    with pytest.raises(RuntimeError, match="simulated crash"):
        # new: call 1 embeds a.txt and b.md, 2-3 the first windows of big.jsonl;
        # changed: the windows of records 50-199 are stored already, 1-3 embed the next ones
        pipeline(crashed, ExplodingEmbedder(fail_on_call=4), keywords=True).run(docs)
    assert crashed.sources().get(big) == old_record, "a manifest entry before the last window"
    stored = crashed.ids_for_source(big)
    if crashed.supports_transactions:
        assert stored == old_ids, "the file's windows commit together"
    else:
        assert len(stored - old_ids) >= 128 and not (stored - old_ids) >= clean_ids - old_ids
        assert crashed.keyword_ids(sorted(stored | clean_ids)) - old_ids == stored - old_ids
    embedder = FakeEmbedder()
    report = pipeline(crashed, embedder, keywords=True).run(docs)
    assert state(crashed) == state(clean)
    assert index_state(crashed) == index_state(clean)
    z_new = 0 if change else 1  # z.txt (one chunk) comes after the crash
    assert report.chunks_written == len(clean_ids - stored) + z_new
    assert embedder.texts_embedded <= report.chunks_written, "stored chunks re-embedded"
    assert report.chunks_deleted == len(stored - clean_ids)
    assert (len(stored - clean_ids) > 0) == change


def test_bad_lines_in_a_large_file_ingest_the_rest_and_leave_no_manifest_entry(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_jsonl(docs / "big.jsonl", [record(i) for i in range(200)], bad=[2, 150, 151])
    store, embedder = MemoryStore("docs"), FakeEmbedder()
    report = pipeline(store, embedder).run(docs)
    assert report.chunks_total > 5 * 64 and store.count() == report.chunks_total
    assert report.files_failed == 1 and report.files_new == 1
    assert "3 of 200 lines" in report.failures[0].error
    assert "lines 2, 150-151" in report.failures[0].error
    assert store.sources() == {}, "the bad lines must be reported again next run"
    embedded = embedder.texts_embedded
    again = pipeline(store, embedder).run(docs)
    assert again.files_failed == 1 and again.chunks_embedded == 0
    assert embedder.texts_embedded == embedded and store.count() == report.chunks_total


class FlakyLoader:
    """JSON Lines whose reading fails after ``fail_after`` records (a disk error midway)."""

    extensions = (".flaky",)
    fail_after: int | None = 100

    def load(self, path: Path, data: bytes) -> list[Document]:
        return default_loaders()[".jsonl"].load(path, data)

    def iter_load(self, path: Path, file: BinaryIO) -> Iterator[Document]:
        inner = default_loaders()[".jsonl"]
        assert isinstance(inner, connectors.StreamingLoader)
        for n, doc in enumerate(inner.iter_load(path, file)):
            if n == self.fail_after:
                raise OSError(5, "Input/output error")
            yield doc


def test_a_read_error_midway_keeps_the_windows_written_but_deletes_nothing(
    tmp_path: Path,
) -> None:
    loader = FlakyLoader()
    loaders = default_loaders()
    loaders.register(loader)
    docs = tmp_path / "docs"
    docs.mkdir()
    path, source = docs / "data.flaky", str((docs / "data.flaky").absolute())
    # ~2.6 KB records: the read fails after the first chunking group (~1 MB) was written
    write_jsonl(path, [record(i, words=300) for i in range(600)])

    def run(store: Store) -> IngestReport:
        chunker = TokenChunker(FakeEmbedder().tokenizer, 200, 16)
        return pipeline(store, chunker=chunker, loaders=loaders).run(docs)

    store = MemoryStore("docs")
    loader.fail_after = None
    run(store)
    complete = store.ids_for_source(source)
    # changed: 100 new records first (written before the failure), 0-99 dropped
    write_jsonl(path, [record(i, words=300) for i in [*range(700, 800), *range(100, 600)]])
    loader.fail_after = 500
    report = run(store)
    assert report.files_failed == 1 and "Input/output error" in report.failures[0].error
    assert report.chunks_written > 0 and report.chunks_deleted == 0
    kept = store.ids_for_source(source)
    assert kept > complete, "old chunks kept (no stale deletion without every id)"
    assert store.sources()[source].file_hash != file_digest(path)
    loader.fail_after = None
    fixed = run(store)
    clean = MemoryStore("docs")
    run(clean)
    assert state(store) == state(clean)
    assert fixed.files_changed == 1 and fixed.files_failed == 0
    assert fixed.chunks_deleted == len(complete - clean.ids_for_source(source)) > 0
    assert fixed.chunks_written == fixed.chunks_embedded == 0, "all written before the failure"


def test_embed_progress_moves_during_one_large_file(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs", n=400)
    events: list[tuple[str, int, int]] = []
    report = pipeline(MemoryStore("docs")).run(
        docs, progress=lambda e, d, t: events.append((e, d, t))
    )
    embed = [(d, t) for e, d, t in events if e == "embed"]
    assert len(embed) >= 10
    assert all(0 <= d <= t for d, t in embed)
    dones = [d for d, _ in embed]
    assert dones == sorted(dones), "progress within the file only moves forward"
    big = MemoryStore("docs")
    pipeline(big).run(docs / "big.jsonl")
    assert embed[-1] == (big.count(), big.count())
    files = [(d, t) for e, d, t in events if e == "file"]
    assert files[-1] == (4, 4) and report.files_new == 4


def test_an_unchanged_large_file_is_only_hashed(tmp_path: Path) -> None:
    docs = corpus(tmp_path / "docs")
    store = MemoryStore("docs")
    pipeline(store).run(docs)
    embedder = FakeEmbedder()
    chunker = CountingChunker(embedder)
    again = pipeline(store, embedder, chunker=chunker).run(docs)
    assert again.files_unchanged == 4 and (chunker.calls, embedder.calls) == (0, 0)


@pytest.mark.integration
def test_kill_9_between_windows_then_rerun_leaves_chroma_like_a_clean_run(tmp_path: Path) -> None:
    from rag.stores.chroma import ChromaStore

    docs = corpus(tmp_path / "docs")
    # at the sixth embedding call: writes overlap the next embedding, so 3+ windows are stored
    killed = ingest_killed(docs, tmp_path / "crashed", 5, window_chunks=64)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    crashed = ChromaStore("docs", path=tmp_path / "crashed")
    big = str((docs / "big.jsonl").absolute())
    partial = crashed.ids_for_source(big)
    assert len(partial) >= 3 * 64 and big not in crashed.sources()
    embedder = FakeEmbedder()
    report = pipeline(crashed, embedder).run(docs)
    clean = ChromaStore("docs", path=tmp_path / "clean")
    pipeline(clean).run(docs)
    assert state(crashed) == state(clean)
    assert crashed.count() == clean.count() > len(partial)
    assert report.chunks_written == len(clean.ids_for_source(big) - partial) + 1
    assert embedder.texts_embedded <= report.chunks_written
    crashed.close()
    clean.close()


def test_freed_window_memory_goes_back_to_the_os() -> None:
    import sys

    from rag._memory import release_free_memory

    # glibc Linux here (CI): the call is made; elsewhere it is a harmless no-op
    assert release_free_memory() is sys.platform.startswith("linux")


class _HandshakeEmbedder(FakeEmbedder):
    """Signals when its second call starts."""

    def __init__(self) -> None:
        super().__init__()
        self.second_started = threading.Event()

    def embed(self, texts, *, input_type="document"):  # type: ignore[no-untyped-def]
        if self.calls == 1:
            self.second_started.set()
        return super().embed(texts, input_type=input_type)


class _WaitingStore(MemoryStore):
    """Its first write waits until the embedder is on the next window."""

    def __init__(self, embedder: _HandshakeEmbedder) -> None:
        super().__init__("docs")
        self.embedder = embedder
        self.overlapped: bool | None = None

    def write(self, chunks, embeddings, policy=DuplicatePolicy.OVERWRITE):  # type: ignore[no-untyped-def]
        if self.overlapped is None:
            self.overlapped = self.embedder.second_started.wait(timeout=30)
        return super().write(chunks, embeddings, policy)


def test_the_next_window_is_embedded_while_the_previous_is_written(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    write_jsonl(docs / "big.jsonl", [record(i) for i in range(200)])
    embedder = _HandshakeEmbedder()
    store = _WaitingStore(embedder)
    report = pipeline(store, embedder).run(docs)
    # run one after the other, the first write would wait for a call that never comes
    assert store.overlapped is True
    clean = MemoryStore("docs")
    pipeline(clean).run(docs)
    assert state(store) == state(clean) and report.chunks_written == clean.count()


def test_an_embedding_error_in_the_background_ends_the_run_and_its_thread(
    tmp_path: Path,
) -> None:
    docs = corpus(tmp_path / "docs")
    store = MemoryStore("docs")
    with pytest.raises(RuntimeError, match="simulated crash"):
        pipeline(store, ExplodingEmbedder(fail_on_call=3)).run(docs)
    assert not [t for t in threading.enumerate() if t.name.startswith("rag-ingest-embed")]
    assert store.count() > 0  # the windows before the failing one were written
    assert str((docs / "big.jsonl").absolute()) not in store.sources()
