"""The ingest plan with estimates (``rag ingest --dry-run``): what a run would do, and at what
time and cost, without embedding or writing anything.

``estimate_ingest`` runs stage 1 (plan) over the path and stage 2 (load + chunk, cheap) over
the new, changed and moved files, asks the store which of their chunks it holds already, or
holds the vectors of under a moved file's old key (reads), and counts, per category
(``new``, ``changed``, ``moved``, ``unchanged`` (re-rooted files too: nothing to embed),
``removed``, ``failing``),
the files, chunks, tokens to embed (each distinct text of a file once; counted by the
embedder's tokenizer), estimated seconds and estimated cost. The chunk counts are exact: the
real run chunks the same way. Nothing is embedded; the store is only read.

Seconds come from this machine's measured rate (``EmbedRates``: a file in the cache directory
that every real ingest updates with its seconds per 1000 characters embedded, per embedder;
the whole run's seconds but those building the model, so loading, chunking and writing are in
it) or, before any run, the
documented defaults ``DEFAULT_SECONDS_PER_KCHAR``. Cost is the price list's for a hosted
embedder (``billing``: its backend and model), 0 for a local one, ``None`` when unpriced.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from rag.chunking import Chunker
from rag.connectors import LoaderRegistry, default_loaders
from rag.costs.pricing import PriceTable
from rag.embeddings import Tokenizer
from rag.stores.base import SourceRecord, Store

from .ingest_chunk import load_and_chunk
from .ingest_commit import Committer
from .ingest_embed import distinct_texts
from .ingest_plan import Moves, moved_leftovers, plan_file, removed_sources, walk_files

__all__ = [
    "CATEGORIES",
    "DEFAULT_SECONDS_PER_KCHAR",
    "CategoryEstimate",
    "EmbedRates",
    "IngestEstimate",
    "estimate_ingest",
]

Category = Literal["new", "changed", "moved", "unchanged", "removed", "failing"]
CATEGORIES: tuple[Category, ...] = ("new", "changed", "moved", "unchanged", "removed", "failing")

DEFAULT_SECONDS_PER_KCHAR = {"local": 0.1, "hosted": 0.02}
"""Seconds per 1000 characters embedded before this machine has measured its own rate: the
packaged all-MiniLM-L6-v2 (int8 ONNX) ingesting SciFact on 2 busy x86-64 cores (measured
0.11), and a hosted API's round trips at about 100,000 tokens a request."""
MIN_MEASURED_CHARS = 20_000
"""A run embedding fewer characters does not update the rate (its fixed costs dominate)."""


class CategoryEstimate(BaseModel):
    """One row of the plan."""

    files: int = 0
    chunks: int = 0
    """Chunks the files produce (``unchanged``: stored; ``removed``: to be deleted)."""
    chunks_to_embed: int = 0
    tokens: int = 0
    """Tokens to embed (the embedder's tokenizer; an estimate for hosted models)."""
    chars: int = 0
    """Characters to embed (what the rate is measured in)."""
    seconds: float = 0.0
    cost: Decimal | None = Decimal(0)
    """USD for a hosted embedder; ``None``: its price is unknown."""


class IngestEstimate(BaseModel):
    """What ``rag ingest PATH`` would do: per category, and the totals."""

    collection: str
    embedder: str
    """``backend:model`` (hosted) or the identity's description (local)."""
    categories: dict[str, CategoryEstimate]
    skipped: int = 0
    """Files no loader reads."""
    seconds_per_kchar: float
    rate_source: Literal["measured", "default"]
    plan_seconds: float = 0.0
    """How long this plan took (walk, hash, load and chunk)."""
    failures: list[tuple[str, str]] = Field(default_factory=list)
    """``(file, reason)`` of the failing files."""

    @property
    def total(self) -> CategoryEstimate:
        rows = list(self.categories.values())
        known = [r.cost for r in rows if r.cost is not None]
        return CategoryEstimate(
            files=sum(r.files for r in rows),
            chunks=sum(r.chunks for r in rows if r is not self.categories.get("removed")),
            chunks_to_embed=sum(r.chunks_to_embed for r in rows),
            tokens=sum(r.tokens for r in rows),
            chars=sum(r.chars for r in rows),
            seconds=sum(r.seconds for r in rows),
            cost=sum(known, Decimal(0)) if len(known) == len(rows) else None,
        )


class EmbedRates:
    """This machine's measured ingest rates, per embedder identity, in a JSON file of the
    cache directory (``embed_rate.json``). Each real run adds its seconds and characters; older
    runs count half each time, so the rate follows the machine."""

    FILE = "embed_rate.json"

    def __init__(self, cache_dir: Path) -> None:
        self.path = Path(cache_dir) / self.FILE

    def _read(self) -> dict[str, dict[str, float]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def rate(self, key: str) -> float | None:
        """Seconds per 1000 characters measured for embedder ``key`` (None: never measured)."""
        entry = self._read().get(key)
        try:
            chars, seconds = float(entry["chars"]), float(entry["seconds"])  # type: ignore[index]
        except (TypeError, KeyError, ValueError):
            return None
        return 1000 * seconds / chars if chars > 0 and seconds > 0 else None

    def record(self, key: str, seconds: float, chars: int) -> None:
        """Add one real run (ignored below ``MIN_MEASURED_CHARS``); never fails the run."""
        if chars < MIN_MEASURED_CHARS or seconds <= 0:
            return
        data = self._read()
        old = data.get(key) or {}
        entry = {
            "seconds": float(old.get("seconds", 0)) / 2 + seconds,
            "chars": float(old.get("chars", 0)) / 2 + chars,
            "runs": int(old.get("runs", 0)) + 1,
            "updated": time.time(),
        }
        data[key] = entry
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
            tmp.replace(self.path)
        except OSError:
            pass  # a cache: the next run measures again


def estimate_ingest(
    store: Store,
    path: str | Path,
    *,
    chunker: Chunker,
    tokenizer: Tokenizer,
    embedder_key: str,
    embedder_label: str,
    hosted: bool,
    billing: tuple[str, str] | None = None,
    prices: PriceTable | None = None,
    rates: EmbedRates | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    prune: bool = True,
    allow_roots: Sequence[Path | str] = (),
    loaders: LoaderRegistry | None = None,
    keywords: bool = True,
) -> IngestEstimate:
    """The plan of ingesting ``path`` into ``store`` (see the module docstring)."""
    started = time.perf_counter()
    registry = loaders or default_loaders()
    measured = rates.rate(embedder_key) if rates is not None else None
    rate = (
        measured
        if measured is not None
        else DEFAULT_SECONDS_PER_KCHAR["hosted" if hosted else "local"]
    )
    walked = walk_files(path, include, exclude, allow_roots=allow_roots)
    manifest = store.sources()
    moves = Moves(manifest)
    recheck = Committer(store, keywords=keywords).needs_recheck(manifest)
    rows: dict[str, CategoryEstimate] = {c: CategoryEstimate() for c in CATEGORIES}
    failures: list[tuple[str, str]] = []
    skipped = 0
    for entry in walked.entries:
        planned = plan_file(entry, manifest, recheck=recheck, loaders=registry, moves=moves)
        if planned.status == "skipped":
            skipped += 1
        elif planned.status == "failed":
            rows["failing"].files += 1
            failures.append((planned.source, planned.error))
        elif planned.status in ("unchanged", "rerooted"):
            rows["unchanged"].files += 1
            rows["unchanged"].chunks += manifest[planned.source].chunk_count
        else:
            loaded = load_and_chunk(planned, chunker, None, registry)
            row = rows[str(planned.status) if loaded.ok else "failing"]
            if not loaded.ok:
                failures.append((planned.source, loaded.error or ""))
            row.files += 1
            row.chunks += len(loaded.chunks)
            ids = [c.id for c in loaded.chunks]
            stored = store.existing_ids(ids) if ids and not planned.rewrite else set()
            todo = [c for c in loaded.chunks if c.id not in stored]
            if planned.reuse and todo:
                hashes = sorted({c.content_hash for c in todo})
                reused = store.stored_vectors(planned.reuse, hashes)
                todo = [c for c in todo if c.content_hash not in reused]
            texts, _ = distinct_texts(todo)
            row.chunks_to_embed += len(texts)
            row.tokens += sum(tokenizer.count(texts))
            row.chars += sum(len(t) for t in texts)
    if prune:
        seen = {e.source for e in walked.entries if e.ok}
        left = moved_leftovers(walked, manifest, moves.claimed, seen)
        for source in (*removed_sources(walked, seen, manifest).removed, *left.removed):
            if source in moves.claimed:
                continue  # a moved file's old entry: its chunks are the moved ones
            rows["removed"].files += 1
            rows["removed"].chunks += _chunk_count(manifest, source)
    for row in rows.values():
        row.seconds = row.chars / 1000 * rate
        row.cost = _cost(row.tokens, hosted, billing, prices)
    return IngestEstimate(
        collection=store.collection,
        embedder=embedder_label,
        categories=rows,
        skipped=skipped,
        seconds_per_kchar=rate,
        rate_source="measured" if measured is not None else "default",
        plan_seconds=time.perf_counter() - started,
        failures=failures,
    )


def _chunk_count(manifest: Mapping[str, SourceRecord], source: str) -> int:
    record = manifest.get(source)
    return record.chunk_count if record is not None else 0


def _cost(
    tokens: int, hosted: bool, billing: tuple[str, str] | None, prices: PriceTable | None
) -> Decimal | None:
    """USD to embed ``tokens``: 0 locally (or for nothing), the price list's for a hosted
    embedder, None when it has no price."""
    if not hosted or tokens == 0:
        return Decimal(0)
    if billing is None or prices is None:
        return None
    backend, model = billing
    return prices.estimate(backend, model, input_tokens=tokens, max_output_tokens=0)
