"""Ingest: walk → load → chunk → hash → embed only what is new → write, incrementally.

The work is four stages, each in its own module, and this one composes them for one process:

1. plan (``ingest_plan``): walk the path; hash each file and skip it if the store's manifest
   has it at this hash (nothing is loaded, chunked or embedded);
2. load + chunk (``ingest_chunk``): stream the file's Documents and chunk them in groups;
   chunk ids are deterministic (source, record, text);
3. embed (``ingest_embed``): only the chunks whose ids are not stored yet, each distinct
   text once;
4. commit (``ingest_commit``): write them with their keyword terms, delete the source's stored
   chunks whose ids are no longer produced, then record the source and hash in the manifest.

Memory stays bounded by a window, not by the file: 2-4 are done for about ``window_chunks``
chunks at a time. Only the ids the source had stored before (for the stale deletion, shrinking
as windows produce them again; none for a new file) live as long as the file. A file of one
window joins a batch shared with other small files (their chunks embedded together); a
larger one is embedded and written window by window, and the stale deletion and manifest
entry wait for its last window.

With a keyword tokenizer and a store that ``supports_keyword_search``, the new chunks' terms
go to the same ``store.write`` (stored chunks lacking keyword rows get theirs alone), and a
store with chunks but no keyword rows at all makes the run re-read every file once to fill
them (nothing is re-embedded). With a transactional store (pgvector) all of a file's writes,
every window and the keyword rows included, commit together.

Embedding overlaps the rest: a batch or window is embedded in a background thread while
this one writes the one before it, tokenizes its keywords and reads and chunks the next.
Only the embedding leaves the calling thread; every store call stays in it, in the order
above (the manifest entry of a file still follows its writes).

Traced (``rag.tracing``) as ``ingest`` with ``plan``, then per batch of small files or window
of a large one ``load``, ``chunk``, ``keywords``, ``embed`` (in the embedding thread) and
``commit``, and ``prune``: a bounded number of spans, never one per chunk. Loading and
chunking alternate file by file, so each batch's ``load`` and ``chunk`` spans tile the time
its reading took, each as long as the time spent in that stage.

A crash at any point is repaired by a re-run (see ``ingest_commit`` for the order that makes
it so). Files that disappeared from an ingested directory have their chunks and manifest
entries removed when ``prune`` is on (the default; ``--no-prune`` keeps them). A failing file
is reported and the others go on; a file whose reading fails midway keeps the windows
written, but gets no stale deletion nor manifest entry (its chunk ids are incomplete). A file
the store refuses is reported with the store's reason, and the others are committed (see
``ingest_commit``). When the embedder fails on a batch or window (a hosted model's request
failing after its retries: ``LLMError``), nothing of it is written and its files are reported
as failed by name, without manifest entries. A file stored with text or metadata mapped by
``rag.sanitize`` (NULs, lone surrogates, keys or values no store holds) is named in
``IngestReport.warnings``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from rag import tracing
from rag._memory import release_free_memory
from rag.chunking import Chunker
from rag.connectors import LoaderRegistry, default_loaders
from rag.embeddings import check_compatible
from rag.errors import LLMError, LoadError, StoreError
from rag.stores.base import SourceRecord, Store
from rag.types import Chunk, Document, IngestReport

from .ingest_chunk import (
    WINDOW_CHUNKS,
    FileReader,
    ReadSpans,
    Tokenizer,
    chunk_fn,
    keyword_terms,
)
from .ingest_commit import Committer, PendingFile, fail, warn
from .ingest_embed import DocumentEmbedder, Embedded, SliceProgress, distinct_texts, embed_texts
from .ingest_plan import PlannedFile, plan_file, removed_sources, walk_files

__all__ = [
    "WINDOW_CHUNKS",
    "DocumentEmbedder",
    "IngestParts",
    "IngestPipeline",
    "ProgressCallback",
    "Tokenizer",
]

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(event, done, total)``; events: ``"scan"``, ``"file"``, ``"embed"``.
During a file of several windows, ``"embed"`` counts that file's chunks against an estimated
total (from the share of the file read) that is corrected as it goes."""

_TRACED_COUNTS: tuple[str, ...] = (
    *("files_seen", "files_new", "files_changed", "files_unchanged", "files_failed"),
    *("chunks_total", "chunks_embedded", "chunks_written", "chunks_deleted"),
)
"""The report's counts on the ``ingest`` span."""

EMBED_BATCH_CHUNKS = 512
"""Small files are embedded together until this many new chunks are pending."""

T = TypeVar("T")


@dataclass(frozen=True)
class IngestParts:
    """Factories for the parts ingest needs. Each is called at most once per pipeline, and
    only when a file is new or changed, so a re-run over an unchanged tree never builds the
    embedding model or the keyword tokenizer. No ``keyword_tokenizer``: no keyword terms."""

    embedder: Callable[[], DocumentEmbedder]
    chunker: Callable[[], Chunker]
    keyword_tokenizer: Callable[[], Tokenizer] | None = None

    @staticmethod
    def of(
        embedder: DocumentEmbedder, chunker: Chunker, keyword_tokenizer: Tokenizer | None = None
    ) -> IngestParts:
        """Parts that are built already."""
        tokenizer = keyword_tokenizer
        return IngestParts(
            lambda: embedder, lambda: chunker, None if tokenizer is None else lambda: tokenizer
        )


class _Once(Generic[T]):
    """Calls a factory the first time it is needed (from any thread), then keeps the part."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._value: T | None = None
        self._lock = threading.Lock()

    def __call__(self) -> T:
        with self._lock:
            if self._value is None:
                self._value = self._factory()
            return self._value


def _drain(ahead: list[list[Chunk]], rest: Iterator[list[Chunk]]) -> Iterator[list[Chunk]]:
    """The windows read ahead, each let go of as it is handed out, then the rest."""
    while ahead:
        yield ahead.pop(0)
    yield from rest


class IngestPipeline:
    """Incremental, crash-safe ingest into one store. Reusable across runs, and from several
    threads: each run keeps its state to itself.

    ``embedder``, ``chunker`` and ``keyword_tokenizer`` are touched only when a file is new or
    changed (``from_parts`` takes factories, so they are not even built before that). Keyword
    terms are written when a keyword tokenizer is given and the store
    ``supports_keyword_search``. ``window_chunks`` bounds the chunks of one file held at a time
    (see the module docstring).
    """

    def __init__(
        self,
        store: Store,
        embedder: DocumentEmbedder,
        chunker: Chunker,
        keyword_tokenizer: Tokenizer | None = None,
        *,
        window_chunks: int = WINDOW_CHUNKS,
        loaders: LoaderRegistry | None = None,
    ) -> None:
        parts = IngestParts.of(embedder, chunker, keyword_tokenizer)
        self._setup(store, parts, window_chunks, loaders)

    @classmethod
    def from_parts(
        cls,
        store: Store,
        parts: IngestParts,
        *,
        window_chunks: int = WINDOW_CHUNKS,
        loaders: LoaderRegistry | None = None,
    ) -> IngestPipeline:
        """A pipeline whose parts are built on first need (see ``IngestParts``)."""
        pipeline = cls.__new__(cls)
        pipeline._setup(store, parts, window_chunks, loaders)
        return pipeline

    def _setup(
        self,
        store: Store,
        parts: IngestParts,
        window_chunks: int,
        loaders: LoaderRegistry | None,
    ) -> None:
        if window_chunks < 1:
            raise ValueError(f"window_chunks must be at least 1, got {window_chunks}")
        self.store = store
        self.window_chunks = window_chunks
        self.loaders = loaders if loaders is not None else default_loaders()
        """Which loader reads which file extension."""
        self.keywords = parts.keyword_tokenizer is not None
        self.embedder: Callable[[], DocumentEmbedder] = _Once(parts.embedder)
        self.chunker: Callable[[], Chunker] = _Once(parts.chunker)
        self.tokenizer: Callable[[], Tokenizer] | None = (
            None if parts.keyword_tokenizer is None else _Once(parts.keyword_tokenizer)
        )

    def run(
        self,
        path: str | Path,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = True,
        progress: ProgressCallback | None = None,
        allow_roots: Sequence[Path | str] = (),
    ) -> IngestReport:
        """Ingest ``path``. Nothing whose real path is outside ``path`` or ``allow_roots`` is
        read (a link out is reported as failed); see the module docstring for the rest."""
        store = type(self.store).__name__
        with tracing.span("ingest", collection=self.store.collection, store=store) as sp:
            report = self._run(path, include, exclude, prune, progress, allow_roots)
            sp.set(**{k: getattr(report, k) for k in _TRACED_COUNTS})
            return report

    def _run(
        self,
        path: str | Path,
        include: Sequence[str],
        exclude: Sequence[str],
        prune: bool,
        progress: ProgressCallback | None,
        allow_roots: Sequence[Path | str],
    ) -> IngestReport:
        started = time.perf_counter()
        report = IngestReport(collection=self.store.collection)
        with tracing.span("plan") as sp:
            # ConfigError for a missing root
            walked = walk_files(path, include, exclude, allow_roots=allow_roots)
            entries = walked.entries
            manifest = self.store.sources()
            run = _Run(self, report, progress, manifest)
            recheck = run.commit.needs_recheck(manifest)
            sp.set(files=len(entries), stored_sources=len(manifest), recheck=recheck)
        run.reading.mark()
        total = len(entries)
        if progress:
            progress("scan", 0, total)
        try:
            for done, entry in enumerate(entries, 1):
                run.file(plan_file(entry, manifest, recheck=recheck, loaders=self.loaders))
                if progress:
                    progress("file", done, total)
            run.flush()
            run.settle()
        finally:
            run.stop()
        seen = (e.source for e in entries if e.ok)
        pruning = removed_sources(walked, seen, manifest)
        report.files_excluded_kept = pruning.excluded_kept
        if prune and pruning.removed:
            with tracing.span("prune", sources=len(pruning.removed)):
                run.commit.prune(pruning.removed, report)
        elif prune:
            run.commit.prune(pruning.removed, report)
        report.seconds = time.perf_counter() - started
        return report

    def run_planned(
        self,
        files: Iterable[PlannedFile],
        manifest: Mapping[str, SourceRecord],
        *,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Stages 2-4 for files the caller planned against ``manifest`` (documents held in
        memory: ``rag.pipelines.ingest_documents``, read through ``loaders``); no walk, no
        prune beyond each changed file's stale chunks."""
        started = time.perf_counter()
        report = IngestReport(collection=self.store.collection)
        run = _Run(self, report, progress, manifest)
        try:
            for planned in files:
                run.file(planned)
            run.flush()
            run.settle()
        finally:
            run.stop()
        report.seconds = time.perf_counter() - started
        return report


def _embedding_error(exc: LLMError) -> str:
    return f"embedding failed, nothing of it was written: {exc}; ingest again to retry it"


class _Run:
    """One run of the local pipeline: stages 2-4 per planned file, embedding in a background
    thread while the previous batch or window is written."""

    def __init__(
        self,
        pipeline: IngestPipeline,
        report: IngestReport,
        progress: ProgressCallback | None,
        manifest: Mapping[str, SourceRecord],
    ) -> None:
        self.pipeline = pipeline
        self.store = pipeline.store
        self.manifest = manifest
        self.commit = Committer(pipeline.store, keywords=pipeline.keywords)
        self.report = report
        self.progress = progress
        self.batch: list[PendingFile] = []
        self.batch_size = 0
        self._driver: ThreadPoolExecutor | None = None
        self._pending: Callable[[], None] | None = None
        """Writes the batch or window being embedded once its vectors are there."""
        self._traced = tracing.enabled()
        self.reading = ReadSpans(self._traced)
        """Times the reading between batches for the ``load`` and ``chunk`` spans."""

    def file(self, planned: PlannedFile) -> None:
        """Count a planned file, and ingest it if it is new or changed."""
        report = self.report
        self.reading.files += 1
        if planned.status == "skipped":
            report.files_skipped += 1
            return
        report.files_seen += 1
        if planned.status == "failed":
            fail(report, planned.source, planned.error)
        elif planned.status == "unchanged":
            report.files_unchanged += 1
        else:
            self._ingest(planned)

    def _chunk(self, documents: Sequence[Document]) -> Iterable[Chunk]:
        if not self._traced:
            return chunk_fn(self.pipeline.chunker())(documents)
        return self.reading.chunked(self.pipeline.chunker(), documents)

    def _ingest(self, planned: PlannedFile) -> None:
        """Load + chunk; a file of one window joins the shared batch, a larger one is embedded
        and written window by window."""
        try:
            reader = FileReader(
                planned, self._chunk, self.pipeline.window_chunks, self.pipeline.loaders
            )
            windows = reader.windows()
            first = next(windows, [])
            second = next(windows, None)
        except LoadError as exc:  # nothing written yet: the file just fails
            fail(self.report, planned.source, exc.reason)
            return
        if second is None:
            f = self.commit.open_file(planned)
            self.commit.add_window(f, first)
            self._conclude(f, reader)
            self.batch.append(f)
            self.batch_size += len(f.new)
            if self.batch_size >= EMBED_BATCH_CHUNKS:
                self.flush()
            return
        self.flush()  # the files before it come first, and are
        self.settle()  # written outside its transaction
        ahead = [first, second]
        del first, second  # held by ``ahead`` only, so each is freed once written
        self._ingest_windows(planned, reader, _drain(ahead, windows))

    def _conclude(self, f: PendingFile, reader: FileReader) -> None:
        """After the file's last document: report what the sanitiser changed and the records
        that did not load."""
        warn(self.report, f.source, reader.fixes.describe())
        if reader.failure is not None:
            # ingest the good records, but record no manifest entry: the next run reports
            # the bad ones again (and re-embeds nothing) until the file is fixed
            fail(self.report, f.source, reader.failure)
            f.record = False

    def _ingest_windows(
        self, planned: PlannedFile, reader: FileReader, windows: Iterator[list[Chunk]]
    ) -> None:
        """A file of several windows: each is checked, embedded and written in turn; the stale
        chunks and the manifest entry follow the last (all one transaction where supported).
        A write the store refuses fails this file only (rolled back where supported)."""
        written = self.report.chunks_written
        try:
            self._write_windows(planned, reader, windows)
        except StoreError as exc:
            self._pending = None  # this file's window, if one was still to be written
            if self.store.supports_transactions:  # rolled back: nothing of it was written
                self.report.chunks_written = written
            self.commit.file_failed(planned.source, exc, self.report)
        except LLMError as exc:  # a hosted embedder failed on a window: not written, and the
            self._pending = None  # file gets no manifest entry (the windows before stay, as
            if self.store.supports_transactions:  # after a LoadError midway)
                self.report.chunks_written = written
            fail(self.report, planned.source, _embedding_error(exc))

    def _write_windows(
        self, planned: PlannedFile, reader: FileReader, windows: Iterator[list[Chunk]]
    ) -> None:
        report, progress = self.report, self.progress
        with self.store.transaction():
            f = self.commit.open_file(planned)
            try:
                for window in windows:
                    self.reading.done()
                    self.commit.add_window(f, window)
                    on_slice = None
                    if progress is not None:
                        on_slice = self._window_progress(f, reader, len(window), progress)
                    new, kw_only = f.new, f.kw_only
                    f.new, f.kw_only = [], []
                    rows = self._start_embedding(new, on_slice)
                    terms = self._terms(new, kw_only)

                    def write(
                        new: list[Chunk] = new,
                        kw_only: list[Chunk] = kw_only,
                        rows: Future[Embedded] = rows,
                        terms: dict[str, list[str]] = terms,
                        on_slice: SliceProgress | None = on_slice,
                    ) -> None:
                        embedded = rows.result()
                        with tracing.span("commit", files=1, chunks=len(new) + len(kw_only)):
                            self.commit.write(new, kw_only, embedded, terms, report)
                        if on_slice is not None:
                            on_slice(1, 1)
                        release_free_memory()  # what the window held goes back to the OS

                    # the previous window is written while this one is embedded; then this
                    # window's chunks are held only by ``write`` as the next one is read
                    self._then(write)
                    del window, new, kw_only, rows, terms, write
                    self.reading.mark()
                self.settle()
            except LoadError as exc:
                # unreadable midway: what was written stays (a re-run finds it stored), but
                # without all of the file's ids nothing can be called stale, nor the file done
                self.settle()
                fail(report, f.source, exc.reason)
                return
            self._conclude(f, reader)
            with tracing.span("commit", files=1, finish=True):
                self.commit.finish(f, report)
        if progress is not None:
            progress("embed", f.count, f.count)

    @staticmethod
    def _window_progress(
        f: PendingFile, reader: FileReader, size: int, progress: ProgressCallback
    ) -> SliceProgress:
        """``"embed"`` progress in the file's chunks; the total is estimated from the share
        of the file read so far."""
        read, produced = reader.fraction_read, reader.produced
        estimate = max(produced, round(produced / read) if read > 0 else produced)
        before = f.count - size

        def on_slice(done: int, total: int) -> None:
            progress("embed", before + size * done // max(total, 1), estimate)

        return on_slice

    def flush(self) -> None:
        """Embed the batch's new chunks together (identical texts once), then finish each file."""
        self.reading.done()
        files = self.batch
        if not files:
            return
        self.batch, self.batch_size = [], 0
        on_slice = None
        if self.progress is not None:
            progress = self.progress

            def on_slice(done: int, total: int) -> None:
                progress("embed", done, total)

        new = [c for f in files for c in f.new]
        kw_only = [c for f in files for c in f.kw_only]
        rows = self._start_embedding(new, on_slice)
        terms = self._terms(new, kw_only)
        chunks = len(new) + len(kw_only)
        del new, kw_only

        def write() -> None:
            try:
                embedded = rows.result()
            except LLMError as exc:  # a hosted embedder failed: nothing of the batch is written
                self._embedding_failed(files, exc)
                return
            with tracing.span("commit", files=len(files), chunks=chunks):
                self.commit.write_batch(files, embedded, terms, self.report)

        self._then(write)
        self.reading.mark()

    def _embedding_failed(self, files: list[PendingFile], exc: LLMError) -> None:
        """Report each file of a batch whose embedding failed (after the embedder's retries):
        none of it was written, and without a manifest entry the next run does it again."""
        texts, _ = distinct_texts([c for f in files for c in f.new])
        self.report.chunks_embedded -= len(texts)
        self.report.chars_embedded -= sum(len(t) for t in texts)
        for f in files:
            fail(self.report, f.source, _embedding_error(exc))

    def _terms(self, new: list[Chunk], kw_only: list[Chunk]) -> dict[str, list[str]]:
        """Keyword terms by chunk id; none without keyword search (or without chunks, so
        the tokenizer is not built for nothing)."""
        tokenizer = self.pipeline.tokenizer
        if self.commit.keywords is None or tokenizer is None or not (new or kw_only):
            return {}
        with tracing.span("keywords", chunks=len(new) + len(kw_only)):
            return keyword_terms(tokenizer(), new, kw_only)

    # -- the embedding thread: one batch or window embedded while the previous is written --

    def _start_embedding(
        self, chunks: list[Chunk], on_slice: SliceProgress | None
    ) -> Future[Embedded]:
        """Embed ``chunks`` (identical texts once) in the background."""
        texts, index = distinct_texts(chunks)
        self.report.chunks_embedded += len(texts)
        self.report.chars_embedded += sum(len(t) for t in texts)
        # the embedder is built (if it must be) here, in the calling thread
        embedder = self.pipeline.embedder() if texts else None
        if embedder is not None and not self.commit.embedder:
            self._check_embedder(embedder)

        count = len(chunks)
        model = _model_of(embedder) if self._traced else None

        def embed() -> Embedded:
            if embedder is None:
                return Embedded(index, None)
            with tracing.span(
                "embed", {"gen_ai.request.model": model}, texts=len(texts), chunks=count
            ):
                return Embedded(index, embed_texts(embedder, texts, on_slice))

        if self._driver is None:
            self._driver = ThreadPoolExecutor(1, thread_name_prefix="rag-ingest-embed")
        return self._driver.submit(tracing.bind(embed))

    def _check_embedder(self, embedder: DocumentEmbedder) -> None:
        """Before the first vectors: refuse another model than the collection's (its vectors
        would be meaningless beside these), warn on another backend or quantization of it, and
        record this embedder's identity with every file written from now on."""
        recorded = (r.embedder for r in self.manifest.values())
        self.commit.embedder = check_compatible(recorded, embedder, self.store.collection).key()

    def _then(self, write: Callable[[], None] | None) -> None:
        """Keep ``write`` pending and run the one before it (which waits for its vectors)."""
        previous, self._pending = self._pending, write
        if previous is not None:
            previous()

    def settle(self) -> None:
        """Run the pending write: everything embedded so far is stored after this."""
        self._then(None)
        self.reading.mark()

    def stop(self) -> None:
        """End of a run, or an error: drop what is pending and wait for the thread to end."""
        self._pending = None
        if self._driver is not None:
            self._driver.shutdown(wait=True, cancel_futures=True)
            self._driver = None


def _model_of(embedder: DocumentEmbedder | None) -> str | None:
    """The embedding model's name, for the ``embed`` span (None when it has no identity)."""
    identity = getattr(embedder, "identity", None)
    model = getattr(identity, "model", None)
    return model if isinstance(model, str) else None
