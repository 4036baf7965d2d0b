"""The worker side of ``--engine ray`` (``rag.pipelines.ingest_ray``): the two Ray Data stages,
plain functions and one class that Ray pickles by reference and runs on the cluster.

- ``load_stage`` (tasks): files -> parts of at most ``size`` chunks, handed on in units of
  about ``size`` chunks as soon as each is read (a generator: every unit its own block);
- ``EmbedStage`` (one per actor): a unit -> the same parts with the vectors of the chunks the
  store lacks, from the one embedder the actor builds when it starts;
- ``DeathLog`` (one actor the driver owns): which unit, and which file of it, an embedding
  actor was on when its process died, so that a file that kills its worker is reported failed
  instead of retried for ever.

Rows carry pickled bytes (``payload``): Ray Data moves them between processes without
looking inside.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from rag.chunking import Chunker
from rag.connectors import LoaderRegistry, default_loaders
from rag.errors import LoadError
from rag.types import Chunk

from .ingest_chunk import FileChunks, FileReader, Tokenizer, keyword_terms
from .ingest_embed import DocumentEmbedder, Embedded, embed_chunks
from .ingest_plan import PlannedFile

__all__ = ["DeathLog", "EmbedStage", "EmbeddedPart", "LoadedPart", "RayParts", "load_stage"]

LOST_FILE = (
    "embedding this file killed the Ray worker twice (out of memory, or a crash in the "
    "embedder); the other files went on. Run `rag ingest` on it with --engine local to see "
    "the error, or leave it out with --exclude"
)
"""The failure a file gets when its worker's process died once on its unit and once on it
alone."""


@dataclass(frozen=True)
class RayParts:
    """What the workers need; all of it pickles. ``embedder`` is a factory called once in each
    embedding actor, which holds one CPU (so it should build a one-thread embedder, as
    ``RAG`` does with ``embed_threads = 1``); ``chunker``, ``keyword_tokenizer`` and
    ``loaders`` are shipped built."""

    embedder: Callable[[], DocumentEmbedder]
    chunker: Chunker
    keyword_tokenizer: Tokenizer | None = None
    loaders: LoaderRegistry | None = None


def _load_parts(planned: PlannedFile, parts: RayParts, size: int) -> Iterator[FileChunks]:
    """One file's chunks as ``FileChunks`` of at most ``size`` chunks; the last one carries the
    file's error, completeness and sanitiser warning (as ``load_and_chunk`` would)."""
    loaders = parts.loaders or default_loaders()
    error: str | None = None
    complete = True
    reader: FileReader | None = None
    pending: list[Chunk] = []
    try:
        reader = FileReader(planned, parts.chunker.chunk, size, loaders)
        for window in reader.windows():
            if pending:
                yield _part(planned, pending, parts.keyword_tokenizer)
            pending = window
        error = reader.failure
    except LoadError as exc:
        error, complete = exc.reason, False
    warning = None if reader is None else (reader.fixes.describe() or None)
    last = _part(planned, pending, parts.keyword_tokenizer)
    yield FileChunks(planned, last.chunks, last.terms, error, complete, warning)


def _flagged(parts: Iterator[FileChunks]) -> Iterator[tuple[FileChunks, bool]]:
    """Each part with ``True`` for the file's last, reading one part ahead (never the file)."""
    ahead = next(parts)  # a file yields at least one part
    for part in parts:
        yield ahead, False
        ahead = part
    yield ahead, True


def _part(planned: PlannedFile, chunks: list[Chunk], tokenizer: Tokenizer | None) -> FileChunks:
    terms = None
    if tokenizer is not None:
        by_id = keyword_terms(tokenizer, chunks)
        terms = [by_id[c.id] for c in chunks]
    return FileChunks(planned, chunks, terms)


LoadedPart = tuple[int, bool, FileChunks, frozenset[str]]
"""(file no, the file's last part?, the part, those of its chunk ids the store holds)."""
EmbeddedPart = tuple[int, bool, FileChunks, Embedded]
"""(file no, the file's last part?, the part, the vectors of its chunks the store lacks)."""


def load_stage(
    batch: dict[str, np.ndarray], parts: RayParts, size: int
) -> Iterator[dict[str, Any]]:
    """Ray Data stage 2: rows of ``(file no, PlannedFile, stored ids)`` -> rows of embedding
    units, each yielded as soon as it is read: a unit is one part of ``size`` chunks of a big
    file, or the parts of several small files together (until ``size`` chunks)."""
    unit: list[LoadedPart] = []
    chunks = 0
    for key, work in zip(batch["key"], batch["work"], strict=True):
        planned, stored = pickle.loads(work)
        for part, last in _flagged(_load_parts(planned, parts, size)):
            held = frozenset(c.id for c in part.chunks if c.id in stored) if stored else frozenset()
            unit.append((int(key), last, part, held))
            chunks += len(part.chunks)
            if chunks >= size:
                yield _unit_row(unit)
                unit, chunks = [], 0
    if unit:
        yield _unit_row(unit)


def _unit_row(unit: list[LoadedPart]) -> dict[str, Any]:
    payload = np.empty(1, dtype=object)
    payload[0] = pickle.dumps(unit, protocol=5)
    return {"payload": payload}


class DeathLog:
    """Keys that were started and never finished: a task Ray retries after its actor's
    process died finds its key still open. Kept in one actor the driver owns (no CPU), so it
    outlives every embedding actor; it holds one short key per unit in flight."""

    def __init__(self) -> None:
        self.open: dict[str, int] = {}

    def start(self, key: str) -> int:
        """How many times ``key`` was started before without finishing (its deaths)."""
        deaths = self.open.get(key, 0)
        self.open[key] = deaths + 1
        return deaths

    def finish(self, key: str) -> None:
        self.open.pop(key, None)


class EmbedStage:
    """Ray Data stage 3, one per actor: builds the embedder once, then embeds each unit's
    chunks that the store lacks (each distinct text once per call).

    Ray Data restarts a lost actor and retries its unit without bound. So each unit is logged
    in ``deaths`` (the ``DeathLog`` actor) first, and a unit retried after a death is embedded
    one file at a time, each file logged first: a file whose worker died on it alone too
    comes back as a failed part (``LOST_FILE``, no chunks, ``complete`` False) and the rest
    of the unit is embedded. A worker killed once (a node lost) costs a retry, a file that
    crashes the embedder two."""

    def __init__(self, parts: RayParts, deaths: Any) -> None:
        import ray

        self.embedder = parts.embedder()
        self.node = ray.get_runtime_context().get_node_id()
        self.pid = os.getpid()
        self.deaths = deaths

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        out = np.empty(len(batch["payload"]), dtype=object)
        counts = []
        for i, payload in enumerate(batch["payload"]):
            done = self._logged(hashlib.sha1(payload).hexdigest(), pickle.loads(payload))
            out[i] = pickle.dumps(done, protocol=5)
            counts.append(len(done))
        n = len(counts)
        return {
            "payload": out,
            "parts": np.array(counts, dtype=np.int64),
            "node": np.array([self.node] * n, dtype=object),
            "pid": np.array([self.pid] * n, dtype=np.int64),
        }

    def _embed(self, unit: list[LoadedPart]) -> list[EmbeddedPart]:
        # a file that reuses stored vectors (moved, re-rooted, a copy) is left to the driver, which
        # reads them and embeds only what they do not cover
        todo = [
            c
            for _, _, part, held in unit
            if not part.file.reuse
            for c in part.chunks
            if c.id not in held
        ]
        embedded = embed_chunks(self.embedder, todo)
        return [(key, last, part, _share(embedded, part.chunks)) for key, last, part, _ in unit]

    def _logged(self, key: str, unit: list[LoadedPart]) -> list[EmbeddedPart]:
        """``unit`` embedded with its key open in the death log: whole the first time, file
        by file once a worker died on it."""
        import ray

        log = self.deaths
        if ray.get(log.start.remote(key)) == 0:
            done = self._embed(unit)
        else:
            done = []
            files: dict[int, list[LoadedPart]] = {}
            for item in unit:
                files.setdefault(item[0], []).append(item)
            for file_no, items in files.items():
                file_key = f"{key}:{file_no}"
                if ray.get(log.start.remote(file_key)) == 0:
                    done += self._embed(items)
                else:
                    done += [
                        (n, last, _lost(part), Embedded({}, None)) for n, last, part, _ in items
                    ]
                ray.get(log.finish.remote(file_key))  # done before the next file starts
        log.finish.remote(key)
        return done


def _lost(part: FileChunks) -> FileChunks:
    """``part`` as a failed read that stored nothing: its file is reported, never finished."""
    terms: list[list[str]] | None = None if part.terms is None else []
    return FileChunks(part.file, [], terms, LOST_FILE, complete=False, warning=part.warning)


def _share(embedded: Embedded, chunks: list[Chunk]) -> Embedded:
    """The rows of ``embedded`` that ``chunks`` need (none for chunks all stored)."""
    hashes = {c.content_hash for c in chunks}
    rows = {h: i for h, i in embedded.index.items() if h in hashes}
    if not rows or embedded.vectors is None:
        return Embedded({}, None)
    return Embedded({h: k for k, h in enumerate(rows)}, embedded.vectors[list(rows.values())])
