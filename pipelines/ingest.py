"""Ingest: walk → load → chunk → hash → embed only what is new → write, incrementally.

Per file, in this order, so that a crash at any point is repaired by a re-run:

1. hash the bytes; if the store's manifest has this source at this hash, skip the file
   (nothing is read, chunked or embedded);
2. load and chunk; chunk ids are deterministic (source, record, text);
3. embed and write only the chunks whose ids are not stored yet;
4. delete the source's stored chunks whose ids are no longer produced;
5. record the source and hash in the manifest.

With a keyword index (BM25, ``rag.stores.keyword``) the index is kept in step: 3 also tokenizes
and indexes the chunks the *index* lacks (asked separately from the store, so a crash between
the two writes is repaired), and 4 deletes the index's stale ids before the store's. With a
transactional store (pgvector) all of a file's writes, index rows included, commit together.
An empty index beside a non-empty store (an index added later, or its file deleted) makes the
run re-read every file once, ignoring the manifest, to fill it (nothing is re-embedded).

A crash before 5 leaves no or an old manifest entry, so the re-run redoes the file,
finds the chunks written so far already stored (no duplicates, no re-embedding) and
finishes 4 and 5. Files that disappeared from an ingested directory have their chunks
and manifest entries removed when ``prune`` is on (the default; ``--no-prune`` keeps them).
Chunks of many small files are embedded in shared batches; a failing file is reported
and the others go on.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from rag.chunking import Chunker
from rag.connectors import PartialLoadError, load_file, loader_for, read_bytes, walk
from rag.embeddings import InputType
from rag.errors import LoadError
from rag.stores.base import SourceRecord, Store, Vectors
from rag.types import Chunk, FileFailure, IngestReport

if TYPE_CHECKING:
    from rag.stores.keyword import KeywordIndex

ProgressCallback = Callable[[str, int, int], None]
"""Called as ``progress(event, done, total)``; events: ``"scan"``, ``"file"``, ``"embed"``."""

# files are embedded together until this many new chunks are pending
_EMBED_BATCH_CHUNKS = 512


@dataclass
class _PendingFile:
    source: str
    file_hash: str
    chunks: list[Chunk]
    new: list[Chunk]
    stale: set[str]
    status: str
    kw_new: list[Chunk] = field(default_factory=list)
    """Chunks the keyword index lacks (not necessarily the same as ``new``)."""
    kw_stale: set[str] = field(default_factory=set)


@dataclass
class _Batch:
    files: list[_PendingFile] = field(default_factory=list)
    size: int = 0


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class DocumentEmbedder(Protocol):
    """The part of an Embedder that ingest uses (so a lazily loaded one fits too)."""

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors: ...


class Tokenizer(Protocol):
    """The part of ``rag.keywords.KeywordTokenizer`` that ingest uses."""

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]: ...


class IngestPipeline:
    """Incremental, crash-safe ingest into one store. Reusable across runs.

    ``embedder`` and ``chunker`` are touched only when a file is new or changed, so a
    re-run over an unchanged tree never loads the embedding model.
    """

    def __init__(
        self,
        store: Store,
        embedder: DocumentEmbedder,
        chunker: Chunker,
        keyword_index: KeywordIndex | None = None,
        keyword_tokenizer: Tokenizer | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.chunker = chunker
        self.keyword_index = keyword_index
        self._tokenizer = keyword_tokenizer
        self._backfill = False

    @property
    def tokenizer(self) -> Tokenizer:
        """The keyword tokenizer (the default one is built on first use)."""
        if self._tokenizer is None:
            from rag.keywords import KeywordTokenizer

            self._tokenizer = KeywordTokenizer()
        return self._tokenizer

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
        # an empty keyword index beside stored chunks: re-read every file once to fill it
        self._backfill = (
            self.keyword_index is not None
            and bool(manifest)
            and self.keyword_index.count() == 0
            and self.store.count() > 0
        )
        seen: set[str] = set()
        batch = _Batch()
        total = len(entries)
        if progress:
            progress("scan", 0, total)
        for done, entry in enumerate(entries, 1):
            source = str(entry.path.absolute())
            seen.add(source)
            if entry.error is not None:
                report.files_seen += 1
                self._fail(report, source, entry.error)
            elif loader_for(entry.path) is None:
                report.files_skipped += 1
            else:
                report.files_seen += 1
                pending = self._prepare(entry.path, source, manifest, report)
                if pending is not None:
                    batch.files.append(pending)
                    batch.size += len(pending.new)
                    if batch.size >= _EMBED_BATCH_CHUNKS:
                        self._flush(batch, report, progress)
                        batch = _Batch()
            if progress:
                progress("file", done, total)
        self._flush(batch, report, progress)
        if prune and root.is_dir():
            self._prune(root, seen, manifest, report)
        report.seconds = time.perf_counter() - started
        return report

    def _fail(self, report: IngestReport, source: str, error: str) -> None:
        report.files_failed += 1
        report.failures.append(FileFailure(path=source, error=error))

    def _prepare(
        self, path: Path, source: str, manifest: dict[str, SourceRecord], report: IngestReport
    ) -> _PendingFile | None:
        """Hash, and unless unchanged, load + chunk + find what is new and stale."""
        try:
            data = read_bytes(path)
        except LoadError as exc:
            self._fail(report, source, exc.reason)
            return None
        digest = file_hash(data)
        previous = manifest.get(source)
        if previous is not None and previous.file_hash == digest and not self._backfill:
            report.files_unchanged += 1
            return None
        try:
            documents = load_file(path, data)
        except PartialLoadError as exc:
            # ingest the good records, but record no manifest entry: the next run reports
            # the bad ones again (and re-embeds nothing) until the file is fixed
            documents = exc.documents
            self._fail(report, source, exc.reason)
            digest = ""
        except LoadError as exc:
            self._fail(report, source, exc.reason)
            return None
        for doc in documents:
            doc.source = source
        chunks = self.chunker.chunk(documents)
        ids = [c.id for c in chunks]
        stored = self.store.existing_ids(ids) if ids else set()
        # always ask: a crash may have left chunks of this source without a manifest entry
        old_ids = self.store.ids_for_source(source)
        new = [c for c in chunks if c.id not in stored]
        status = "changed" if previous is not None else "new"
        pending = _PendingFile(source, digest, chunks, new, old_ids - set(ids), status)
        if self.keyword_index is not None:
            indexed = self.keyword_index.existing_ids(ids) if ids else set()
            pending.kw_new = [c for c in chunks if c.id not in indexed]
            pending.kw_stale = self.keyword_index.ids_for_source(source) - set(ids)
        return pending

    def _flush(
        self, batch: _Batch, report: IngestReport, progress: ProgressCallback | None = None
    ) -> None:
        """Embed the batch's new chunks together (identical texts once), then finish each file."""
        if not batch.files:
            return
        texts: list[str] = []
        unique: dict[str, int] = {}
        for f in batch.files:
            for c in f.new:
                if c.content_hash not in unique:
                    unique[c.content_hash] = len(texts)
                    texts.append(c.text)
        vectors = self._embed(texts, progress) if texts else None
        report.chunks_embedded += len(texts)

        def rows(chunks: list[Chunk]) -> Vectors:
            assert vectors is not None
            return np.stack([vectors[unique[c.content_hash]] for c in chunks])

        terms = self._tokenize(batch)
        index = self.keyword_index
        if self.store.supports_transactions:
            # one transaction per file: a crash leaves its old chunks, never a mix
            for f in batch.files:
                with self.store.transaction():
                    if f.new:
                        report.chunks_written += self.store.write(f.new, rows(f.new))
                    if index is not None and f.kw_new:
                        index.add(f.kw_new, [terms[c.content_hash] for c in f.kw_new])
                    self._finish(f, report)
        else:
            # one write for the whole batch (much cheaper than one per file); each file's
            # stale chunks and manifest entry follow, so a crash is repaired by a re-run
            new = [c for f in batch.files for c in f.new]
            if new:
                report.chunks_written += self.store.write(new, rows(new))
            kw_new = [c for f in batch.files for c in f.kw_new]
            if index is not None and kw_new:
                index.add(kw_new, [terms[c.content_hash] for c in kw_new])
            for f in batch.files:
                self._finish(f, report)

    def _tokenize(self, batch: _Batch) -> dict[str, list[str]]:
        """Keyword terms of the batch's chunks the index lacks, by content hash (each text once)."""
        texts: dict[str, str] = {}
        for f in batch.files:
            for c in f.kw_new:
                texts.setdefault(c.content_hash, c.text)
        if not texts:
            return {}
        return dict(zip(texts, self.tokenizer.tokenize_batch(list(texts.values())), strict=True))

    def _finish(self, f: _PendingFile, report: IngestReport) -> None:
        """Delete the file's stale chunks (index first), then record it in the manifest."""
        if self.keyword_index is not None and f.kw_stale:
            self.keyword_index.delete_ids(sorted(f.kw_stale))
        if f.stale:
            report.chunks_deleted += self.store.delete_ids(sorted(f.stale))
        if f.file_hash:
            self.store.set_source(
                SourceRecord(f.source, f.file_hash, len(f.chunks), updated_at=time.time())
            )
        report.chunks_total += len(f.chunks)
        if f.status == "new":
            report.files_new += 1
        else:
            report.files_changed += 1

    def _embed(self, texts: list[str], progress: ProgressCallback | None) -> Vectors:
        """Embed in slices so the progress bar moves during one large file."""
        step = 1024
        if progress is None or len(texts) <= step:
            return self.embedder.embed(texts, input_type="document")
        parts = []
        for start in range(0, len(texts), step):
            parts.append(self.embedder.embed(texts[start : start + step], input_type="document"))
            progress("embed", min(start + step, len(texts)), len(texts))
        return np.concatenate(parts)

    def _prune(
        self, root: Path, seen: set[str], manifest: dict[str, SourceRecord], report: IngestReport
    ) -> None:
        prefix = str(root.absolute()).rstrip("/") + "/"
        for source in manifest:
            if source.startswith(prefix) and source not in seen:
                # the index first: the store's delete drops the manifest entry that makes a
                # re-run after a crash here prune again
                with self.store.transaction():
                    if self.keyword_index is not None:
                        self.keyword_index.delete_source(source)
                    report.chunks_deleted += self.store.delete_source(source)
                report.files_removed += 1
