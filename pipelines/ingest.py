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
entries removed when ``prune`` is on (the default; ``--no-prune`` keeps them).

Each file is keyed by its real path and recorded with its root and relative path
(``ingest_plan``). A moved or renamed root is not embedded again: a file new here whose
relative path and content hash the manifest has under a path that is gone is ``moved``: its
chunks are made again under the new key, take the stored vectors of the old key's chunks by
content hash, and the old entry is deleted at the end of the run (``Committer.conclude``,
with what the moved root left behind); the report counts ``files_moved``. A stored file
whose root is not recorded (an older version) or narrower than the one walked now is
rewritten under it the same way (``files_rerooted``), nothing embedded. A failing file
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from rag import tracing
from rag.chunking import Chunker
from rag.connectors import LoaderRegistry, default_loaders
from rag.stores.base import SourceRecord, Store
from rag.types import IngestReport

from .ingest_chunk import WINDOW_CHUNKS, Tokenizer
from .ingest_embed import DocumentEmbedder
from .ingest_plan import Moves, PlannedFile, plan_file, walk_files
from .ingest_run import ProgressCallback, Run

__all__ = [
    "WINDOW_CHUNKS",
    "DocumentEmbedder",
    "IngestParts",
    "IngestPipeline",
    "ProgressCallback",
    "Tokenizer",
]

_TRACED_COUNTS: tuple[str, ...] = (
    *("files_seen", "files_new", "files_changed", "files_unchanged", "files_failed"),
    *("files_moved", "files_rerooted", "files_copied", "files_removed"),
    *("chunks_total", "chunks_embedded", "chunks_written", "chunks_deleted"),
)
"""The report's counts on the ``ingest`` span."""

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
            moves = Moves(manifest)
            run = Run(self, report, progress, manifest)
            recheck = run.commit.needs_recheck(manifest)
            sp.set(files=len(entries), stored_sources=len(manifest), recheck=recheck)
        run.reading.mark()
        total = len(entries)
        if progress:
            progress("scan", 0, total)
        try:
            for done, entry in enumerate(entries, 1):
                planned = plan_file(
                    entry, manifest, recheck=recheck, loaders=self.loaders, moves=moves
                )
                run.file(planned)
                if progress:
                    progress("file", done, total)
            run.flush()
            run.settle()
        finally:
            run.stop()
        run.commit.conclude(walked, manifest, moves, prune, report)
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
        run = Run(self, report, progress, manifest)
        try:
            for planned in files:
                run.file(planned)
            run.flush()
            run.settle()
        finally:
            run.stop()
        report.seconds = time.perf_counter() - started
        return report
