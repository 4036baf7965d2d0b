"""Ingest stage 4, commit: chunks + vectors + keyword terms into the store, then the manifest.

Per file, in this order, so that a crash at any point is repaired by a re-run:

1. ``open_file``: the source's stored chunk ids are the candidates for stale (asked even for a
   new file: a crash may have left chunks of it without a manifest entry);
2. ``add_window``: of each window of chunks, those the store lacks are to be embedded and
   written, and stored ones without keyword rows get their terms alone;
3. ``write``: one ``store.write`` of the new chunks with their keyword terms;
4. ``finish``: delete the source's stored chunks whose ids were not produced again, then
   record the source and hash in the manifest (not when some records failed to load).

A crash before 4 leaves no or an old manifest entry, so the re-run redoes the file, finds the
chunks written so far already stored (no duplicates, no re-embedding) and finishes it.

A file that reuses stored vectors (``PlannedFile.reuse``: a moved file, its old key's; one
stored under another root, its own; a copy, the stored file's with the same bytes) reads them
by content hash in step 2 (``Store.stored_vectors``) and embeds only what they do not cover;
a rewritten file writes every chunk again in step 3 (same ids, its new root and relative
path). The old entry of a moved file is deleted by ``conclude`` at the end of the run, after
the prune and after what its moved root left behind (``moved_leftovers``): until then it is
what tells a re-run that the move is unfinished (the file, recorded under its new key, is
found unchanged and claims it again), so a crash anywhere is repaired by the next run.
``write_batch`` commits several small files: one transaction per file on a store that
``supports_transactions``, else one write for all and then each file's step 4. ``prune``
removes the files that disappeared (the store deletes the manifest entry last).
``commit`` runs 1-4 for one ``FileChunks`` from stage 2 (what a distributed engine calls).

One bad file never costs the batch: when the store refuses a write (``StoreError``), the
batch is written again file by file; the file that still fails is reported by name with the
store's reason and gets no manifest entry (so the next run tries it again, and the chunks it
may have left are found stored or deleted as stale then), the others are committed. An error
about the whole collection (another dimension, a collection gone) or a store that no longer
answers (``ids_for_source`` fails too) still ends the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from rag import tracing
from rag.errors import CollectionNotFoundError, DimensionMismatchError, StoreError
from rag.stores.base import KeywordSearchStore, SourceRecord, Store, keyword_search
from rag.types import Chunk, FileFailure, FileWarning, IngestReport, Vectors

from .ingest_chunk import FileChunks
from .ingest_embed import Embedded, distinct_texts
from .ingest_plan import Moves, PlannedFile, Walked, moved_leftovers, removed_sources


@dataclass
class PendingFile:
    """A new or changed file between its first window and its manifest entry."""

    file: PlannedFile
    record: bool = True
    """False records no manifest entry (some records failed to load)."""
    stale: set[str] = field(default_factory=set)
    """The source's stored chunk ids not produced (yet): stale if still here after the last
    window. Empty for a new file, so a first ingest holds no ids at all."""
    count: int = 0
    new: list[Chunk] = field(default_factory=list)
    """The current window's chunks to write: those the store lacks (all of them when the
    file is rewritten)."""
    kw_only: list[Chunk] = field(default_factory=list)
    """The current window's stored chunks that lack keyword rows."""
    reused: dict[str, Vectors] = field(default_factory=dict)
    """Stored vectors, by content hash, for the current window's ``new`` chunks."""
    embedded: bool = False
    """True once some chunk of it had no stored vector to reuse (so it was embedded)."""

    @property
    def to_embed(self) -> list[Chunk]:
        """The current window's ``new`` chunks that no reused vector covers."""
        if not self.reused:
            return self.new
        return [c for c in self.new if c.content_hash not in self.reused]

    @property
    def source(self) -> str:
        return self.file.source


def fail(report: IngestReport, source: str, error: str) -> None:
    """Count ``source`` as failed, with the reason the user reads."""
    report.files_failed += 1
    report.failures.append(FileFailure(path=source, error=error))


def warn(report: IngestReport, source: str, warning: str | None) -> None:
    """Note that ``source`` was stored with its text or metadata mapped (``rag.sanitize``)."""
    if warning:
        report.warnings.append(FileWarning(path=source, warning=warning))


_COUNTS = (
    *("files_new", "files_copied", "files_changed", "files_rerooted"),
    *("chunks_total", "chunks_written", "chunks_deleted"),
)
"""The report counters a file's store writes add to (taken back when its transaction fails)."""


def _add_counts(report: IngestReport, part: IngestReport) -> None:
    for name in _COUNTS:
        setattr(report, name, getattr(report, name) + getattr(part, name))


class Committer:
    """The store side of an ingest run. Keyword terms are written when ``keywords`` is on and
    the store ``supports_keyword_search``; only the calling thread should use it."""

    def __init__(self, store: Store, *, keywords: bool) -> None:
        self.store = store
        self.keywords: KeywordSearchStore | None = keyword_search(store) if keywords else None
        self.embedder = ""
        """The identity (``EmbedderIdentity.key()``) recorded with each file's manifest entry;
        set once the embedder is built."""

    def needs_recheck(self, manifest: Mapping[str, SourceRecord]) -> bool:
        """True when stored chunks have no keyword rows at all (keyword search added later, or
        its sidecar deleted): every file is read once more to fill them (none re-embedded)."""
        return (
            self.keywords is not None
            and bool(manifest)
            and self.keywords.keyword_count() == 0
            and self.store.count() > 0
        )

    def open_file(self, file: PlannedFile) -> PendingFile:
        """Step 1: a pending file whose stale candidates are the chunks stored now."""
        return PendingFile(file, stale=self.store.ids_for_source(file.source))

    def add_window(self, f: PendingFile, chunks: list[Chunk]) -> None:
        """Step 2: count the window's chunks as produced (not stale), find those the store
        lacks (all, for a rewritten file), the stored ones without keyword rows, and the
        stored vectors the ones to write may reuse."""
        f.count += len(chunks)
        ids = [c.id for c in chunks]
        f.stale.difference_update(ids)
        f.kw_only = []
        if f.file.rewrite:
            f.new = list(chunks)  # again, with the root and relative path recorded now
        else:
            stored = self.store.existing_ids(ids) if ids else set()
            f.new = [c for c in chunks if c.id not in stored]
            if self.keywords is not None and stored:
                indexed = self.keywords.keyword_ids(sorted(stored))
                f.kw_only = [c for c in chunks if c.id in stored and c.id not in indexed]
        f.reused = {}
        if f.file.reuse and f.new:
            hashes = sorted({c.content_hash for c in f.new})
            f.reused = self.store.stored_vectors(f.file.reuse, hashes)
        if f.to_embed:
            f.embedded = True

    def write(
        self,
        new: list[Chunk],
        kw_only: list[Chunk],
        embedded: Embedded,
        terms: Mapping[str, list[str]],
        report: IngestReport,
    ) -> None:
        """Step 3: one store write of the new chunks with their keyword terms (by chunk
        id); the terms alone for stored chunks that lack them."""
        if new:
            if self.keywords is None:
                report.chunks_written += self.store.write(new, embedded.rows(new))
            else:
                report.chunks_written += self.store.write(
                    new, embedded.rows(new), terms=[terms[c.id] for c in new]
                )
        if self.keywords is not None and kw_only:
            self.keywords.index_terms(kw_only, [terms[c.id] for c in kw_only])

    def finish(self, f: PendingFile, report: IngestReport) -> None:
        """Step 4: delete the file's stale chunks (with their keyword rows), then record it in
        the manifest."""
        if f.stale:
            report.chunks_deleted += self.store.delete_ids(sorted(f.stale))
        file = f.file
        if f.record:
            # vectors all reused: they are the recorded embedder's, not this run's
            embedder = self.embedder if f.embedded else file.embedder or self.embedder
            self.store.set_source(
                SourceRecord(
                    f.source,
                    file.file_hash,
                    f.count,
                    time.time(),
                    embedder=embedder,
                    root=file.root,
                    rel_path=file.rel_path,
                )
            )
        report.chunks_total += f.count
        if file.status == "new":
            report.files_new += 1
            report.files_copied += bool(file.copy_of)
        elif file.status == "rerooted":
            report.files_rerooted += 1
        elif file.status != "moved":  # moves are counted as ``conclude`` finishes them
            report.files_changed += 1

    def write_batch(
        self,
        files: list[PendingFile],
        embedded: Embedded,
        terms: Mapping[str, list[str]],
        report: IngestReport,
    ) -> None:
        """Steps 3 and 4 for small files embedded together (``f.new``/``f.kw_only`` set). A
        file the store refuses is reported; the others are committed (module docstring)."""
        if self.store.supports_transactions:
            # one transaction per file: a crash leaves its old chunks, never a mix
            for f in files:
                part = IngestReport(collection=report.collection)
                try:
                    with self.store.transaction():
                        self.write(f.new, f.kw_only, embedded, terms, part)
                        self.finish(f, part)
                except StoreError as exc:  # rolled back: its counts are not added
                    self.file_failed(f.source, exc, report)
                else:
                    _add_counts(report, part)
            return
        # one write for the whole batch (much cheaper than one per file); each file's stale
        # chunks and manifest entry follow, so a crash is repaired by a re-run
        new = [c for f in files for c in f.new]
        kw_only = [c for f in files for c in f.kw_only]
        written = files
        try:
            self.write(new, kw_only, embedded, terms, report)
        except StoreError as exc:
            if len(files) == 1:
                self.file_failed(files[0].source, exc, report)
                return
            self._check_store(exc, files[0].source)
            written = []  # which file was it? each is written on its own (OVERWRITE: the
            for f in files:  # chunks the batch wrote before failing are replaced, not doubled)
                try:
                    self.write(f.new, f.kw_only, embedded, terms, report)
                except StoreError as exc:
                    self.file_failed(f.source, exc, report)
                else:
                    written.append(f)
        del new, kw_only
        for f in written:
            try:
                self.finish(f, report)
            except StoreError as exc:
                self.file_failed(f.source, exc, report)

    def _check_store(self, exc: StoreError, source: str) -> None:
        """Re-raise ``exc`` when it is not about one file's data: the collection as a whole
        (dimension, gone) or a store that no longer answers (a cheap read fails too)."""
        if isinstance(exc, DimensionMismatchError | CollectionNotFoundError):
            raise exc
        try:
            self.store.ids_for_source(source)
        except StoreError:
            raise exc from None

    def file_failed(self, source: str, exc: StoreError, report: IngestReport) -> None:
        """Report ``source`` as failed with the store's reason, unless the store itself is
        failing (then ``exc`` ends the run, as before)."""
        self._check_store(exc, source)
        fail(report, source, f"the store refused it: {exc}; fix the file and ingest again")

    def commit(
        self,
        loaded: FileChunks,
        embed: Callable[[list[Chunk]], Embedded],
        report: IngestReport,
    ) -> None:
        """Steps 1-4 for one file loaded by ``load_and_chunk`` (one transaction where the
        store supports it), embedding only the chunks the store lacks. A file that failed is
        reported; what it loaded is written, but only a complete one is finished."""
        if self.keywords is not None and loaded.terms is None and loaded.chunks:
            raise ValueError("the store has keyword search: load_and_chunk needs a tokenizer")
        if loaded.error is not None:
            fail(report, loaded.file.source, loaded.error)
        if not loaded.complete and not loaded.chunks:
            return
        terms: dict[str, list[str]] = {}
        if loaded.terms is not None:
            terms = {c.id: t for c, t in zip(loaded.chunks, loaded.terms, strict=True)}
        part = IngestReport(collection=report.collection)
        try:
            with self.store.transaction():
                f = self.open_file(loaded.file)
                f.record = loaded.error is None
                self.add_window(f, loaded.chunks)
                todo = f.to_embed
                embedded = embed(todo) if todo else Embedded({}, None)
                embedded = Embedded(embedded.index, embedded.vectors, f.reused)
                part.chunks_embedded += len(embedded.index)
                part.chars_embedded += sum(len(t) for t in distinct_texts(todo)[0])
                self.write(f.new, f.kw_only, embedded, terms, part)
                if loaded.complete:
                    self.finish(f, part)
        except StoreError as exc:
            report.chunks_embedded += part.chunks_embedded
            report.chars_embedded += part.chars_embedded
            if not self.store.supports_transactions:  # what was written stays written
                _add_counts(report, part)
            self.file_failed(loaded.file.source, exc, report)
            return
        report.chunks_embedded += part.chunks_embedded
        report.chars_embedded += part.chars_embedded
        _add_counts(report, part)
        warn(report, loaded.file.source, loaded.warning)

    def prune(self, sources: Iterable[str], report: IngestReport) -> None:
        """Remove files that disappeared: chunks, keyword rows and manifest entry (the store
        deletes the entry last, so a re-run after a crash here prunes again)."""
        for source in sources:
            report.chunks_deleted += self.store.delete_source(source)
            report.files_removed += 1

    def conclude(
        self,
        walked: Walked,
        manifest: Mapping[str, SourceRecord],
        moves: Moves,
        prune: bool,
        report: IngestReport,
    ) -> None:
        """The end of a run over a walked root: prune (when ``prune``) the files the walk
        found missing and what moved roots left behind (``moved_leftovers``), then delete the
        old entry of each file moved, once it is recorded under its new key (last: see the
        module docstring)."""
        seen = {e.source for e in walked.entries if e.ok}
        pruning = removed_sources(walked, seen, manifest)
        left = moved_leftovers(walked, manifest, moves.claimed, seen)
        report.files_excluded_kept = pruning.excluded_kept + left.excluded_kept
        removed = [s for s in (*pruning.removed, *left.removed) if s not in moves.claimed]
        if prune and removed:
            with tracing.span("prune", sources=len(removed)):
                self.prune(removed, report)
        if not moves.claimed:
            return
        recorded = self.store.sources()
        for old, claim in sorted(moves.claimed.items()):
            moved = recorded.get(claim.new)  # not when the file failed: its old entry stays
            if moved is not None and moved.file_hash == manifest[old].file_hash:
                report.chunks_deleted += self.store.delete_source(old)
                report.files_moved += 1
