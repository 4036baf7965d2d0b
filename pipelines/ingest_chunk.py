"""Ingest stage 2, load + chunk: one file's Documents -> its Chunks (and their keyword terms).

Documents are streamed (JSON Lines record by record, ``LoaderRegistry.iter_file``) and
chunked in groups of about ``CHUNK_GROUP_CHARS`` characters (one tokenizer call each), so
memory is bounded by a group, not by the file. Two forms share that core:

- ``FileReader``: the local pipeline's form, the chunks ``window_chunks`` at a time, with the
  share of the file read (for progress) and ``LoadError`` raised where reading fails;
- ``load_and_chunk``: a pure, picklable function from a planned file to a ``FileChunks``
  value holding all of its chunks and their terms; a file that cannot be read is a value
  too (``error`` set), so one bad file never stops the others. A distributed engine runs
  it on workers (its arguments and result pickle).

Each Document passes ``rag.sanitize`` before it is chunked (the one boundary before any
store: NULs, lone surrogates and metadata no store holds are mapped), so chunk ids, hashes and
keyword terms come from what is stored; what it changed is counted per file (``Fixes``) for
the report's warning.

``ReadSpans`` times the reading of a batch for its ``load`` and ``chunk`` spans.

``keyword_terms`` tokenizes chunks for BM25 (with their title field), each distinct text once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from rag import tracing
from rag.chunking import Chunker
from rag.connectors import DocumentStream, LoaderRegistry, default_loaders
from rag.errors import LoadError
from rag.sanitize import Fixes, clean_document
from rag.types import Chunk, Document

from .ingest_plan import PlannedFile

WINDOW_CHUNKS = 4096
"""Chunks of one file handled at a time (default ``window_chunks``): a few MB of text and
vectors, enough for large store writes and embedding batches."""
CHUNK_GROUP_CHARS = 1 << 20
"""Documents are chunked in groups of about this many characters (one tokenizer call each)."""

GROUP_CHUNKS = 1024
"""Chunks handed on at a time from one group of Documents (bounds a huge Document's)."""

ChunkFn = Callable[[Sequence[Document]], Iterable[Chunk]]


class Tokenizer(Protocol):
    """The part of ``rag.keywords.KeywordTokenizer`` that ingest uses."""

    def tokenize_batch(self, texts: Sequence[str]) -> list[list[str]]: ...

    def chunk_text(self, chunk: Chunk) -> str: ...


def chunk_groups(
    stream: DocumentStream, file: PlannedFile, chunk: ChunkFn, fixes: Fixes | None = None
) -> Iterator[list[Chunk]]:
    """The chunks of ``stream``'s Documents (given ``file``'s source as their source, and
    sanitised: what changed is counted in ``fixes``), one group of about ``CHUNK_GROUP_CHARS``
    characters at a time, each chunk with ``file``'s root and relative path; a group's
    Documents are let go of once chunked. Raises ``LoadError`` where reading fails."""
    group: list[Document] = []
    chars = 0
    where = (file.root, file.rel_path)
    for loaded in stream:
        loaded.source = file.source
        doc = clean_document(loaded, fixes)
        del loaded
        group.append(doc)
        chars += len(doc.text)
        if chars >= CHUNK_GROUP_CHARS:
            yield from _slices(chunk(group), where)
            group, chars = [], 0
    if group:
        yield from _slices(chunk(group), where)
        group = []


def _slices(chunks: Iterable[Chunk], where: tuple[str, str]) -> Iterator[list[Chunk]]:
    """``chunks`` in lists of at most ``GROUP_CHUNKS`` (one huge Document's chunks never all
    exist at once when ``chunks`` is a generator), each given ``where`` (root, relative
    path)."""
    root, rel_path = where
    batch: list[Chunk] = []
    for c in chunks:
        c.root, c.rel_path = root, rel_path
        batch.append(c)
        if len(batch) >= GROUP_CHUNKS:
            yield batch
            batch = []
    if batch:
        yield batch


def chunk_fn(chunker: Chunker) -> ChunkFn:
    """``chunker.iter_chunks`` when it has one (chunks made as they are consumed), else
    ``chunker.chunk``."""
    fn: ChunkFn | None = getattr(chunker, "iter_chunks", None)
    return fn if fn is not None else chunker.chunk


class FileReader:
    """One new or changed file read as windows of ``window_chunks`` chunks. Iterate
    ``windows()`` once; ``LoadError`` comes from opening or from the iteration."""

    def __init__(
        self,
        file: PlannedFile,
        chunk: ChunkFn,
        window_chunks: int,
        loaders: LoaderRegistry | None = None,
    ) -> None:
        self.file = file
        self.stream = (loaders or default_loaders()).iter_file(file.path)
        self._chunk = chunk
        self.window_chunks = window_chunks
        self.produced = 0
        """Chunks made so far, including windows read ahead (for the progress estimate)."""
        self.fixes = Fixes()
        """What ``rag.sanitize`` changed in the Documents read so far."""

    @property
    def fraction_read(self) -> float:
        return self.stream.fraction_read

    @property
    def failure(self) -> str | None:
        """After the last window: why some records did not load (None if all did)."""
        return None if self.stream.failure is None else self.stream.failure.reason

    def windows(self) -> Iterator[list[Chunk]]:
        """The file's chunks, ``window_chunks`` at a time (the last window may be shorter)."""
        size = self.window_chunks
        window: list[Chunk] = []
        for chunks in chunk_groups(self.stream, self.file, self._chunk, self.fixes):
            self.produced += len(chunks)
            window.extend(chunks)
            del chunks
            while len(window) >= size:
                yield window[:size]
                window = window[size:]
        if window:
            yield window


@dataclass(frozen=True)
class FileChunks:
    """What load + chunk made of one file: a value, for a file that failed too.

    ``error`` set and ``complete`` True: some records did not load; the chunks of the others
    are all here (stored, the stale ones deleted, but no manifest entry so the next run reports
    the file again). ``complete`` False: reading failed; ``chunks`` are those read before (may
    be stored, but nothing may be called stale nor the file done).
    """

    file: PlannedFile
    chunks: list[Chunk]
    terms: list[list[str]] | None = None
    """``terms[i]``: the keyword terms of ``chunks[i]``; None without a tokenizer."""
    error: str | None = None
    complete: bool = True
    warning: str | None = None
    """What ``rag.sanitize`` changed in the file's text or metadata (None: nothing)."""

    @property
    def ok(self) -> bool:
        return self.error is None


def load_and_chunk(
    file: PlannedFile,
    chunker: Chunker,
    tokenizer: Tokenizer | None = None,
    loaders: LoaderRegistry | None = None,
) -> FileChunks:
    """Stage 2 for one file, whole: its chunks and (with ``tokenizer``) their keyword terms.
    Never raises ``LoadError``: an unreadable file is a ``FileChunks`` with ``error`` set.
    ``loaders``: which loader reads which extension (default: ``default_loaders()``)."""
    chunks: list[Chunk] = []
    error: str | None = None
    complete = True
    fixes = Fixes()
    try:
        stream = (loaders or default_loaders()).iter_file(file.path)
        for group in chunk_groups(stream, file, chunk_fn(chunker), fixes):
            chunks.extend(group)
        if stream.failure is not None:
            error = stream.failure.reason
    except LoadError as exc:
        error, complete = exc.reason, False
    terms = None
    if tokenizer is not None:
        by_id = keyword_terms(tokenizer, chunks)
        terms = [by_id[c.id] for c in chunks]
    return FileChunks(file, chunks, terms, error, complete, fixes.describe() or None)


def keyword_terms(tokenizer: Tokenizer, *groups: Sequence[Chunk]) -> dict[str, list[str]]:
    """Keyword terms of the chunks, by chunk id (``tokenizer.chunk_text``: the text and its
    title field; each distinct such text tokenized once)."""
    by_id = {c.id: tokenizer.chunk_text(c) for chunks in groups for c in chunks}
    if not by_id:
        return {}
    texts = list(dict.fromkeys(by_id.values()))
    terms = dict(zip(texts, tokenizer.tokenize_batch(texts), strict=True))
    return {cid: terms[text] for cid, text in by_id.items()}


class ReadSpans:
    """The ``load`` and ``chunk`` spans (``rag.tracing``) of the files read between two
    batches. Loading and chunking alternate file by file, so rather than two spans per file
    (unbounded on a large corpus) each stretch of reading gets one of each: consecutive,
    tiling the stretch, each as long as the time spent in its stage. Does nothing when
    ``on`` is false."""

    def __init__(self, on: bool) -> None:
        self.on = on
        self.files = 0
        """Files planned since ``mark`` (hashed; read too when new or changed)."""
        self.chunks = 0
        self._start = 0
        self._chunk_ns = 0

    def mark(self) -> None:
        """Reading starts now."""
        if self.on:
            self._start = tracing.now_ns()

    def chunked(self, chunker: Chunker, documents: Sequence[Document]) -> Iterator[Chunk]:
        """``chunk_fn(chunker)(documents)``, each chunk's making timed as it is taken."""
        chunks = iter(chunk_fn(chunker)(documents))
        while True:
            started = time.perf_counter_ns()
            chunk = next(chunks, None)
            self._chunk_ns += time.perf_counter_ns() - started
            if chunk is None:
                return
            self.chunks += 1
            yield chunk

    def done(self) -> None:
        """Emit the spans of the reading since ``mark`` (none if nothing was read)."""
        if not self.on or not (self.files or self.chunks):
            return
        end = tracing.now_ns()
        split = max(self._start, end - self._chunk_ns)
        tracing.emit("load", self._start, split, files=self.files)
        if self.chunks:
            tracing.emit("chunk", split, end, chunks=self.chunks)
        self.files = self.chunks = self._chunk_ns = 0
