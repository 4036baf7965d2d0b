"""One run of the local ingest pipeline (``rag.pipelines.ingest``): stages 2-4 per planned
file, embedding in a background thread while the previous batch or window is written.

Small files join a shared batch embedded together; a file of several windows is embedded
and written window by window in one transaction where the store supports it. A file that
reuses stored vectors (moved, rewritten under a new root, or a copy of a stored file:
``PlannedFile.reuse``) embeds only the chunks they do not cover, and builds no embedder when
they cover all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from rag import tracing
from rag._memory import release_free_memory
from rag.chunking import Chunker
from rag.connectors import LoaderRegistry
from rag.embeddings import check_compatible
from rag.errors import LLMError, LoadError, StoreError
from rag.stores.base import SourceRecord, Store
from rag.types import Chunk, Document, IngestReport, Vectors

from .ingest_chunk import FileReader, ReadSpans, Tokenizer, chunk_fn, keyword_terms
from .ingest_commit import Committer, PendingFile, fail, warn
from .ingest_embed import DocumentEmbedder, Embedded, SliceProgress, distinct_texts, embed_texts
from .ingest_plan import PlannedFile

__all__ = ["EMBED_BATCH_CHUNKS", "ProgressCallback", "Run", "RunParts"]

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(event, done, total)``; events: ``"scan"``, ``"file"``, ``"embed"``.
During a file of several windows, ``"embed"`` counts that file's chunks against an estimated
total (from the share of the file read) that is corrected as it goes."""

EMBED_BATCH_CHUNKS = 512
"""Small files are embedded together until this many new chunks are pending."""


class RunParts(Protocol):
    """What a run takes from its ``IngestPipeline``: the store, the parts (built on first
    call) and the settings."""

    store: Store
    window_chunks: int
    loaders: LoaderRegistry
    keywords: bool
    embedder: Callable[[], DocumentEmbedder]
    chunker: Callable[[], Chunker]
    tokenizer: Callable[[], Tokenizer] | None


def _drain(ahead: list[list[Chunk]], rest: Iterator[list[Chunk]]) -> Iterator[list[Chunk]]:
    """The windows read ahead, each let go of as it is handed out, then the rest."""
    while ahead:
        yield ahead.pop(0)
    yield from rest


def _embedding_error(exc: LLMError) -> str:
    return f"embedding failed, nothing of it was written: {exc}; ingest again to retry it"


class Run:
    """One run of the local pipeline: stages 2-4 per planned file, embedding in a background
    thread while the previous batch or window is written."""

    def __init__(
        self,
        pipeline: RunParts,
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
                    new, kw_only, reused = f.new, f.kw_only, f.reused
                    f.new, f.kw_only, f.reused = [], [], {}
                    rows = self._start_embedding(new, on_slice, reused)
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
                    del window, new, kw_only, reused, rows, terms, write
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
        reused = {h: v for f in files for h, v in f.reused.items()}
        rows = self._start_embedding(new, on_slice, reused)
        terms = self._terms(new, kw_only)
        chunks = len(new) + len(kw_only)
        del new, kw_only, reused

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
        texts, _ = distinct_texts([c for f in files for c in f.to_embed])
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
        self,
        chunks: list[Chunk],
        on_slice: SliceProgress | None,
        reused: Mapping[str, Vectors],
    ) -> Future[Embedded]:
        """Embed ``chunks`` (identical texts once; not those ``reused`` has a stored vector
        for) in the background."""
        if reused:
            chunks = [c for c in chunks if c.content_hash not in reused]
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
                return Embedded(index, None, reused)
            with tracing.span(
                "embed", {"gen_ai.request.model": model}, texts=len(texts), chunks=count
            ):
                return Embedded(index, embed_texts(embedder, texts, on_slice), reused)

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
