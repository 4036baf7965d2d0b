"""Ingest: walk → load → chunk → hash → embed only what is new → write, incrementally.

Per file, in this order, so that a crash at any point is repaired by a re-run:

1. hash the bytes (read in blocks); if the store's manifest has this source at this hash,
   skip the file (nothing is loaded, chunked or embedded);
2. load and chunk; chunk ids are deterministic (source, record, text);
3. embed and write only the chunks whose ids are not stored yet;
4. delete the source's stored chunks whose ids are no longer produced;
5. record the source and hash in the manifest.

Memory stays bounded by a window, not by the file: documents are streamed (JSON Lines record
by record, ``rag.connectors.iter_file``) and chunked in groups, and 2-3 are done for about
``window_chunks`` chunks at a time. Only the ids the source had stored before (for 4, shrinking
as windows produce them again; none for a new file) live as long as the file. A file of one
window joins a batch shared with other small files (their chunks embedded together); a
larger one is embedded and written window by window, and 4 and 5 wait for its last window.

With a keyword tokenizer and a store that ``supports_keyword_search``, 3 also tokenizes the new
chunks and hands their terms to the same ``store.write``; the store keeps its BM25 rows in step
(its deletes in 4 remove them too). Chunks stored without keyword rows (a crash between a
sidecar store's two writes, or written without a tokenizer) are found by ``keyword_ids`` and
get their terms alone (``index_terms``). With a transactional store (pgvector) all of a file's
writes, every window and the keyword rows included, commit together.
A store with chunks but no keyword rows at all (keyword search added later, or its sidecar file
deleted) makes the run re-read every file once, ignoring the manifest, to fill them (nothing
is re-embedded).

Embedding overlaps the rest: a batch or window is embedded in a background thread while
this one writes the one before it, tokenizes its keywords and reads and chunks the next.
Only the embedding leaves the calling thread; every store and index call stays in it, in
the order above (the manifest entry of a file still follows its writes).

A crash before 5 (between two windows, too) leaves no or an old manifest entry, so the
re-run redoes the file, finds the chunks written so far already stored (no duplicates, no
re-embedding) and finishes 4 and 5. Files that disappeared from an ingested directory have
their chunks and manifest entries removed when ``prune`` is on (the default; ``--no-prune``
keeps them). A failing file is reported and the others go on; a file whose reading fails
midway keeps the windows written, but gets neither 4 nor 5 (its chunk ids are incomplete).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from rag._memory import release_free_memory
from rag.chunking import Chunker
from rag.connectors import (
    DocumentStream,
    LoaderRegistry,
    default_loaders,
    file_digest,
    walk,
)
from rag.embeddings import InputType
from rag.errors import LoadError
from rag.stores.base import SourceRecord, Store, Vectors, keyword_search
from rag.types import Chunk, Document, FileFailure, IngestReport

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(event, done, total)``; events: ``"scan"``, ``"file"``, ``"embed"``.
During a file of several windows, ``"embed"`` counts that file's chunks against an estimated
total (from the share of the file read) that is corrected as it goes."""

# files are embedded together until this many new chunks are pending
_EMBED_BATCH_CHUNKS = 512
WINDOW_CHUNKS = 4096
"""Chunks of one file handled at a time (default ``window_chunks``): a few MB of text and
vectors, enough for large store writes and embedding batches."""
# documents are chunked in groups of about this many characters (one tokenizer call each)
_CHUNK_GROUP_CHARS = 1 << 20


@dataclass
class _PendingFile:
    source: str
    file_hash: str
    """"" records no manifest entry (some records failed to load)."""
    status: str
    stale: set[str] = field(default_factory=set)
    """The source's stored chunk ids not produced (yet): stale if still here after the last
    window. Empty for a new file, so a first ingest holds no ids at all."""
    count: int = 0
    produced: int = 0
    """Chunks made so far, including a window read ahead (for the progress estimate)."""
    new: list[Chunk] = field(default_factory=list)
    """The current window's chunks the store lacks."""
    kw_only: list[Chunk] = field(default_factory=list)
    """The current window's stored chunks that lack keyword rows."""


@dataclass
class _Batch:
    files: list[_PendingFile] = field(default_factory=list)
    size: int = 0


Rows = Callable[[list[Chunk]], Vectors]
"""Chunks -> their embedding rows (identical texts were embedded once)."""


def _drain(ahead: list[list[Chunk]], rest: Iterator[list[Chunk]]) -> Iterator[list[Chunk]]:
    """The windows read ahead, each let go of as it is handed out, then the rest."""
    while ahead:
        yield ahead.pop(0)
    yield from rest


class DocumentEmbedder(Protocol):
    """The part of an Embedder that ingest uses (so a lazily loaded one fits too)."""

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors: ...


class Tokenizer(Protocol):
    """The part of ``rag.keywords.KeywordTokenizer`` that ingest uses."""

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]: ...


class IngestPipeline:
    """Incremental, crash-safe ingest into one store. Reusable across runs.

    ``embedder``, ``chunker`` and ``keyword_tokenizer`` are touched only when a file is new or
    changed, so a re-run over an unchanged tree never loads the embedding model. Keyword terms
    are written when ``keyword_tokenizer`` is given and the store ``supports_keyword_search``.
    ``window_chunks`` bounds the chunks of one file held at a time (see the module docstring).
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
        if window_chunks < 1:
            raise ValueError(f"window_chunks must be at least 1, got {window_chunks}")
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.window_chunks = window_chunks
        self.tokenizer = keyword_tokenizer
        self._keywords = keyword_search(store) if keyword_tokenizer is not None else None
        self.loaders = loaders if loaders is not None else default_loaders()
        """Which loader reads which file extension."""
        self._backfill = False
        self._driver: ThreadPoolExecutor | None = None
        self._pending: Callable[[], None] | None = None
        """Writes the batch or window being embedded once its vectors are there."""

    def run(
        self,
        path: str | Path,
        *,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = True,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        root = Path(path).expanduser()
        report = IngestReport(collection=self.store.collection)
        entries = list(walk(root, include, exclude))  # raises ConfigError for a missing root
        manifest = self.store.sources()
        # stored chunks without any keyword rows: re-read every file once to fill them
        self._backfill = (
            self._keywords is not None
            and bool(manifest)
            and self._keywords.keyword_count() == 0
            and self.store.count() > 0
        )
        seen: set[str] = set()
        batch = _Batch()
        total = len(entries)
        if progress:
            progress("scan", 0, total)
        try:
            for done, entry in enumerate(entries, 1):
                source = str(entry.path.absolute())
                seen.add(source)
                if entry.error is not None:
                    report.files_seen += 1
                    self._fail(report, source, entry.error)
                elif self.loaders.loader_for(entry.path) is None:
                    report.files_skipped += 1
                else:
                    report.files_seen += 1
                    self._ingest_file(entry.path, source, manifest, report, batch, progress)
                if progress:
                    progress("file", done, total)
            self._flush(batch, report, progress)
            self._settle()
        finally:
            self._stop_driver()
        if prune and root.is_dir():
            self._prune(root, seen, manifest, report)
        report.seconds = time.perf_counter() - started
        return report

    def _fail(self, report: IngestReport, source: str, error: str) -> None:
        report.files_failed += 1
        report.failures.append(FileFailure(path=source, error=error))

    def _ingest_file(
        self,
        path: Path,
        source: str,
        manifest: dict[str, SourceRecord],
        report: IngestReport,
        batch: _Batch,
        progress: ProgressCallback | None,
    ) -> None:
        """Hash, and unless unchanged, load + chunk; a file of one window joins the shared
        batch, a larger one is embedded and written window by window."""
        try:
            digest = file_digest(path)
        except LoadError as exc:
            self._fail(report, source, exc.reason)
            return
        previous = manifest.get(source)
        if previous is not None and previous.file_hash == digest and not self._backfill:
            report.files_unchanged += 1
            return
        f = _PendingFile(source, digest, "changed" if previous is not None else "new")
        try:
            stream = self.loaders.iter_file(path)
            windows = self._windows(stream, f)
            first = next(windows, [])
            second = next(windows, None)
        except LoadError as exc:  # nothing written yet: the file just fails
            self._fail(report, source, exc.reason)
            return
        if second is None:
            self._stored(f)
            self._add_window(f, first)
            self._conclude(f, stream, report)
            batch.files.append(f)
            batch.size += len(f.new)
            if batch.size >= _EMBED_BATCH_CHUNKS:
                self._flush(batch, report, progress)
            return
        self._flush(batch, report, progress)  # the files before it come first, and are
        self._settle()  # written outside its transaction
        ahead = [first, second]
        del first, second  # held by ``ahead`` only, so each is freed once written
        self._ingest_windows(f, stream, _drain(ahead, windows), report, progress)

    def _windows(self, stream: DocumentStream, f: _PendingFile) -> Iterator[list[Chunk]]:
        """The file's chunks, ``window_chunks`` at a time, from documents chunked in groups."""
        size = self.window_chunks
        window: list[Chunk] = []
        group: list[Document] = []
        chars = 0
        for doc in stream:
            doc.source = f.source
            group.append(doc)
            chars += len(doc.text)
            if chars >= _CHUNK_GROUP_CHARS:
                window.extend(self._chunk(group, f))
                group, chars = [], 0
                while len(window) >= size:
                    yield window[:size]
                    window = window[size:]
        if group:
            window.extend(self._chunk(group, f))
        while len(window) > size:
            yield window[:size]
            window = window[size:]
        if window:
            yield window

    def _chunk(self, documents: list[Document], f: _PendingFile) -> list[Chunk]:
        chunks = self.chunker.chunk(documents)
        f.produced += len(chunks)
        return chunks

    def _stored(self, f: _PendingFile) -> None:
        """The source's chunk ids stored now: the candidates for stale. Always asked, even for
        a new file: a crash may have left chunks of it without a manifest entry."""
        f.stale = self.store.ids_for_source(f.source)

    def _add_window(self, f: _PendingFile, chunks: list[Chunk]) -> None:
        """Count the window's chunks as produced (not stale) and find those the store lacks,
        and the stored ones without keyword rows."""
        f.count += len(chunks)
        ids = [c.id for c in chunks]
        f.stale.difference_update(ids)
        stored = self.store.existing_ids(ids) if ids else set()
        f.new = [c for c in chunks if c.id not in stored]
        f.kw_only = []
        if self._keywords is not None and stored:
            indexed = self._keywords.keyword_ids(sorted(stored))
            f.kw_only = [c for c in chunks if c.id in stored and c.id not in indexed]

    def _conclude(self, f: _PendingFile, stream: DocumentStream, report: IngestReport) -> None:
        """After the file's last document: report the records that did not load."""
        if stream.failure is not None:
            # ingest the good records, but record no manifest entry: the next run reports
            # the bad ones again (and re-embeds nothing) until the file is fixed
            self._fail(report, f.source, stream.failure.reason)
            f.file_hash = ""

    def _ingest_windows(
        self,
        f: _PendingFile,
        stream: DocumentStream,
        windows: Iterator[list[Chunk]],
        report: IngestReport,
        progress: ProgressCallback | None,
    ) -> None:
        """A file of several windows: each is checked, embedded and written in turn; the stale
        chunks and the manifest entry follow the last (all one transaction where supported)."""
        with self.store.transaction():
            self._stored(f)
            try:
                for window in windows:
                    self._add_window(f, window)
                    on_slice = None
                    if progress is not None:
                        on_slice = self._window_progress(f, stream, len(window), progress)
                    new, kw_only = f.new, f.kw_only
                    f.new, f.kw_only = [], []
                    rows = self._start_embedding(new, report, on_slice)
                    terms = self._tokenize(new, kw_only)

                    def write(
                        new: list[Chunk] = new,
                        kw_only: list[Chunk] = kw_only,
                        rows: Future[Rows] = rows,
                        terms: dict[str, list[str]] = terms,
                        on_slice: Callable[[int, int], None] | None = on_slice,
                    ) -> None:
                        self._write(new, kw_only, rows.result(), terms, report)
                        if on_slice is not None:
                            on_slice(1, 1)
                        release_free_memory()  # what the window held goes back to the OS

                    # the previous window is written while this one is embedded; then this
                    # window's chunks are held only by ``write`` as the next one is read
                    self._then(write)
                    del window, new, kw_only, rows, terms, write
                self._settle()
            except LoadError as exc:
                # unreadable midway: what was written stays (a re-run finds it stored), but
                # without all of the file's ids nothing can be called stale, nor the file done
                self._settle()
                self._fail(report, f.source, exc.reason)
                return
            self._conclude(f, stream, report)
            self._finish(f, report)
        if progress is not None:
            progress("embed", f.count, f.count)

    @staticmethod
    def _window_progress(
        f: _PendingFile, stream: DocumentStream, size: int, progress: ProgressCallback
    ) -> Callable[[int, int], None]:
        """``"embed"`` progress in the file's chunks; the total is estimated from the share
        of the file read so far."""
        read = stream.fraction_read
        estimate = max(f.produced, round(f.produced / read) if read > 0 else f.produced)
        before = f.count - size

        def on_slice(done: int, total: int) -> None:
            progress("embed", before + size * done // max(total, 1), estimate)

        return on_slice

    def _flush(
        self, batch: _Batch, report: IngestReport, progress: ProgressCallback | None = None
    ) -> None:
        """Embed the batch's new chunks together (identical texts once), then finish each file."""
        files = batch.files
        if not files:
            return
        batch.files, batch.size = [], 0
        on_slice = None
        if progress is not None:

            def on_slice(done: int, total: int) -> None:
                progress("embed", done, total)

        new = [c for f in files for c in f.new]
        kw_only = [c for f in files for c in f.kw_only]
        rows = self._start_embedding(new, report, on_slice)
        terms = self._tokenize(new, kw_only)

        def write() -> None:
            vectors = rows.result()
            if self.store.supports_transactions:
                # one transaction per file: a crash leaves its old chunks, never a mix
                for f in files:
                    with self.store.transaction():
                        self._write(f.new, f.kw_only, vectors, terms, report)
                        self._finish(f, report)
            else:
                # one write for the whole batch (much cheaper than one per file); each file's
                # stale chunks and manifest entry follow, so a crash is repaired by a re-run
                self._write(new, kw_only, vectors, terms, report)
                for f in files:
                    self._finish(f, report)

        self._then(write)

    # -- the embedding thread: one batch or window embedded while the previous is written --

    def _start_embedding(
        self,
        chunks: list[Chunk],
        report: IngestReport,
        on_slice: Callable[[int, int], None] | None,
    ) -> Future[Rows]:
        """Embed ``chunks`` (identical texts once) in the background; the future gives rows."""
        texts: list[str] = []
        unique: dict[str, int] = {}
        for c in chunks:
            if c.content_hash not in unique:
                unique[c.content_hash] = len(texts)
                texts.append(c.text)
        report.chunks_embedded += len(texts)

        def embed() -> Rows:
            vectors = self._embed(texts, on_slice) if texts else None

            def rows(chunks: list[Chunk]) -> Vectors:
                assert vectors is not None
                return np.stack([vectors[unique[c.content_hash]] for c in chunks])

            return rows

        if self._driver is None:
            self._driver = ThreadPoolExecutor(1, thread_name_prefix="rag-ingest-embed")
        return self._driver.submit(embed)

    def _then(self, write: Callable[[], None] | None) -> None:
        """Keep ``write`` pending and run the one before it (which waits for its vectors)."""
        previous, self._pending = self._pending, write
        if previous is not None:
            previous()

    def _settle(self) -> None:
        """Run the pending write: everything embedded so far is stored after this."""
        self._then(None)

    def _stop_driver(self) -> None:
        """End of a run, or an error: drop what is pending and wait for the thread to end."""
        self._pending = None
        if self._driver is not None:
            self._driver.shutdown(wait=True, cancel_futures=True)
            self._driver = None

    def _write(
        self,
        new: list[Chunk],
        kw_only: list[Chunk],
        rows: Rows,
        terms: dict[str, list[str]],
        report: IngestReport,
    ) -> None:
        """One store write of the new chunks with their keyword terms; the terms alone for
        stored chunks that lack them."""
        if new:
            if self._keywords is None:
                report.chunks_written += self.store.write(new, rows(new))
            else:
                report.chunks_written += self.store.write(
                    new, rows(new), terms=[terms[c.content_hash] for c in new]
                )
        if self._keywords is not None and kw_only:
            self._keywords.index_terms(kw_only, [terms[c.content_hash] for c in kw_only])

    def _tokenize(self, *groups: list[Chunk]) -> dict[str, list[str]]:
        """Keyword terms of the chunks, by content hash (each text once); none without keyword
        search."""
        if self._keywords is None or self.tokenizer is None:
            return {}
        texts: dict[str, str] = {}
        for chunks in groups:
            for c in chunks:
                texts.setdefault(c.content_hash, c.text)
        if not texts:
            return {}
        return dict(zip(texts, self.tokenizer.tokenize_batch(list(texts.values())), strict=True))

    def _finish(self, f: _PendingFile, report: IngestReport) -> None:
        """Delete the file's stale chunks (with their keyword rows), then record it in the
        manifest."""
        if f.stale:
            report.chunks_deleted += self.store.delete_ids(sorted(f.stale))
        if f.file_hash:
            self.store.set_source(
                SourceRecord(f.source, f.file_hash, f.count, updated_at=time.time())
            )
        report.chunks_total += f.count
        if f.status == "new":
            report.files_new += 1
        else:
            report.files_changed += 1

    def _embed(self, texts: list[str], on_slice: Callable[[int, int], None] | None) -> Vectors:
        """Embed in slices so the progress bar moves during a large batch or window."""
        step = 1024
        if on_slice is None or len(texts) <= step:
            return self.embedder.embed(texts, input_type="document")
        parts = []
        for start in range(0, len(texts), step):
            parts.append(self.embedder.embed(texts[start : start + step], input_type="document"))
            on_slice(min(start + step, len(texts)), len(texts))
        return np.concatenate(parts)

    def _prune(
        self, root: Path, seen: set[str], manifest: dict[str, SourceRecord], report: IngestReport
    ) -> None:
        prefix = str(root.absolute()).rstrip("/") + "/"
        for source in manifest:
            if source.startswith(prefix) and source not in seen:
                # chunks, keyword rows and manifest entry (the store deletes the entry last,
                # so a re-run after a crash here prunes again)
                report.chunks_deleted += self.store.delete_source(source)
                report.files_removed += 1
