"""Ingest on Ray: the same four stages, with load + chunk and embed spread over a Ray cluster.

- plan (``ingest_plan``) runs on the driver: walk the path, hash each file, diff the manifest;
- load + chunk runs as a Ray Data ``map_batches`` stage of tasks: each new or changed file is
  read and chunked on a worker and cut into parts of ``RAY_PART_CHUNKS`` chunks; parts are
  handed on in units of about that many chunks (one part of a big file, or the parts of a few
  small files), each unit a block of its own, streamed as soon as it is read: one big file,
  such as a JSON Lines corpus, is embedded on every actor while it is still being read;
- embed runs as a ``map_batches`` stage on an actor pool (``ActorPoolStrategy``) of one actor
  per cluster CPU, one unit per call: each actor builds one single-threaded embedder when it
  starts and keeps it; the chunks the store already holds (sent with each part: those of its
  ids the store has) are not embedded;
- commit runs on the driver as the parts stream back, while the actors embed the next units
  (streaming execution, ``preserve_order`` so each file's parts arrive together and in
  order), with the local engine's ``Committer`` and its crash-safe order: open the file
  (stale candidates), each part's missing chunks written with their keyword terms, then the
  stale deletion and the manifest entry, all one transaction where the store supports it.
  A chunk a worker did not embed (the store changed meanwhile) is embedded on the driver.

So a run stores exactly what the local engine stores (same ids, texts, locations, manifest and
keyword rows; vectors equal to float tolerance), and a killed driver or worker is repaired by
a re-run as locally. Ray retries a lost actor's work (Ray Data restarts its actors and retries
their tasks), but a file that kills its worker twice (out of memory, a crash in the embedder)
is reported failed and the others go on; an error Ray cannot retry ends the run with a
``StoreError``-free ``RuntimeError`` naming it, and nothing half-committed is left that a
re-run does not fix.

Every file is read on a worker at its path: the files must be at the same path on every node
(shared storage), as they are on one machine. ``ray`` is imported only when a run starts.
The worker side, the two stages Ray runs, is ``ingest_ray_stages``.
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.connectors import default_loaders
from rag.embeddings import check_compatible
from rag.errors import ConfigError, StoreError
from rag.stores.base import Store
from rag.types import IngestReport

from .ingest_chunk import FileChunks
from .ingest_commit import Committer, PendingFile, _add_counts, fail, warn
from .ingest_embed import DocumentEmbedder, Embedded, embed_chunks
from .ingest_plan import Moves, PlannedFile, plan_file, walk_files
from .ingest_ray_stages import DeathLog, EmbeddedPart, EmbedStage, RayParts, load_stage

__all__ = ["RAY_PART_CHUNKS", "RayIngest", "RayParts", "RayRun"]

RAY_PART_CHUNKS = 128
"""Chunks per part, and per unit an actor embeds in one call (a big file is many): about two
seconds of one CPU with the default model, so the actors finish within a unit of each other
(embedding speed does not depend on it: the ONNX embedder runs one text at a time)."""
FILES_PER_LOAD_TASK = 8
"""Files one load + chunk task reads."""
EMBED_RETRIES = 3
"""Embedding actors that may die in a row while starting (their process lost while building
the embedder) before the run fails. One lost later, mid-run, is restarted and its unit
retried by Ray Data (its default for an actor pool, without bound); a file its worker dies on
twice is reported failed instead (``ingest_ray_stages.DeathLog``)."""

ProgressCallback = Callable[[str, int, int], None]


@dataclass
class RayRun:
    """What one Ray run did beyond the report: which node and process embedded how many
    parts, how long the driver's commit (store writes) took, and how long the driver waited
    for Ray's next embedded parts."""

    report: IngestReport
    parts_by_node: dict[str, int] = field(default_factory=dict)
    parts_by_worker: dict[int, int] = field(default_factory=dict)
    commit_seconds: float = 0.0
    wait_seconds: float = 0.0
    embed_actors: int = 0


# -- the driver ------------------------------------------------------------------------------


class RayIngest:
    """Incremental, crash-safe ingest into ``store`` with load + chunk and embedding on Ray.

    ``embedder`` is the driver's own (built on first need): its identity is checked against
    the collection's before the first write, and it embeds what a worker did not. ``address``:
    a Ray cluster (``auto``, ``ray://host:10001``, ``host:6379``); None connects to a running
    local one or starts one for the run (stopped after). Already connected (``ray.init`` done
    by the caller): that cluster is used and left running. ``embed_actors``: default one per
    CPU of the cluster."""

    def __init__(
        self,
        store: Store,
        parts: RayParts,
        embedder: Callable[[], DocumentEmbedder],
        *,
        address: str | None = None,
        embed_actors: int | None = None,
        part_chunks: int = RAY_PART_CHUNKS,
    ) -> None:
        if part_chunks < 1:
            raise ValueError(f"part_chunks must be at least 1, got {part_chunks}")
        self.store = store
        self.parts = parts
        self.embedder = embedder
        self.address = address
        self.embed_actors = embed_actors
        self.part_chunks = part_chunks

    def run(
        self,
        path: str | Path,
        *,
        include: list[str] | tuple[str, ...] = (),
        exclude: list[str] | tuple[str, ...] = (),
        prune: bool = True,
        progress: ProgressCallback | None = None,
        allow_roots: list[Path] | tuple[Path | str, ...] = (),
    ) -> IngestReport:
        """Ingest ``path`` (see the module docstring)."""
        return self.run_stats(
            path,
            include=include,
            exclude=exclude,
            prune=prune,
            progress=progress,
            allow_roots=allow_roots,
        ).report

    def run_stats(
        self,
        path: str | Path,
        *,
        include: list[str] | tuple[str, ...] = (),
        exclude: list[str] | tuple[str, ...] = (),
        prune: bool = True,
        progress: ProgressCallback | None = None,
        allow_roots: list[Path] | tuple[Path | str, ...] = (),
    ) -> RayRun:
        """``run``, and what the workers did (``RayRun``)."""
        started = time.perf_counter()
        report = IngestReport(collection=self.store.collection)
        result = RayRun(report)
        walked = walk_files(path, include, exclude, allow_roots=allow_roots)
        manifest = self.store.sources()
        moves = Moves(manifest)
        committer = Committer(self.store, keywords=self.parts.keyword_tokenizer is not None)
        recheck = committer.needs_recheck(manifest)
        loaders = self.parts.loaders or default_loaders()
        total = len(walked.entries)
        if progress:
            progress("scan", 0, total)
        todo: list[PlannedFile] = []
        done = 0
        for entry in walked.entries:
            planned = plan_file(entry, manifest, recheck=recheck, loaders=loaders, moves=moves)
            if planned.status == "skipped":
                report.files_skipped += 1
            else:
                report.files_seen += 1
            if planned.status == "failed":
                fail(report, planned.source, planned.error)
            elif planned.status == "unchanged":
                report.files_unchanged += 1
            if planned.to_ingest:
                todo.append(planned)
            else:
                done += 1
                if progress:
                    progress("file", done, total)
        if todo:
            _Driver(self, committer, result, manifest, progress, (done, total)).run(todo)
        committer.conclude(walked, manifest, moves, prune, report)
        report.embedded_by_node = dict(result.parts_by_node)
        report.seconds = time.perf_counter() - started
        return result


class _Driver:
    """One run's Ray side: connect, build the dataset, commit the parts as they arrive."""

    def __init__(
        self,
        ingest: RayIngest,
        committer: Committer,
        result: RayRun,
        manifest: Mapping[str, Any],
        progress: ProgressCallback | None,
        counts: tuple[int, int],
    ) -> None:
        self.ingest = ingest
        self.store = ingest.store
        self.committer = committer
        self.result = result
        self.report = result.report
        self.manifest = manifest
        self.progress = progress
        self.done, self.total = counts
        self.chunks_done = 0

    def run(self, todo: list[PlannedFile]) -> None:
        ray = _ray()
        started_here = not ray.is_initialized()
        if started_here:
            try:
                ray.init(
                    address=self.ingest.address,
                    include_dashboard=False,
                    log_to_driver=False,
                    configure_logging=False,
                )
            except ConnectionError as exc:
                raise ConfigError(
                    f"could not connect to the Ray cluster at {self.ingest.address!r} ({exc}); "
                    "start one (`ray start --head`), or leave --ray-address unset to start a "
                    "local Ray for the run"
                ) from None
        try:
            self._run(ray, todo)
        finally:
            if started_here:
                ray.shutdown()

    def _run(self, ray: Any, todo: list[PlannedFile]) -> None:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actors = self.ingest.embed_actors or cpus
        self.result.embed_actors = actors
        rows = [
            {"key": i, "work": pickle.dumps((f, self.store.ids_for_source(f.source)))}
            for i, f in enumerate(todo)
        ]
        blocks = max(1, min(len(rows), 4 * cpus))
        ds = ray.data.from_items(rows, override_num_blocks=blocks)
        ctx = ds.context  # this dataset's own copy
        ctx.execution_options.preserve_order = True
        ctx.enable_progress_bars = False
        # every unit the load stage yields is a block of its own, handed on at once: one big
        # file becomes many blocks, embedded on every actor while it is still being read
        # (Ray Data otherwise merges a task's output up to 128 MiB: one block, one actor)
        ctx.target_max_block_size = 1
        # an embedder whose construction keeps killing its actor's process ends the run
        ctx.max_consecutive_actor_init_deaths = EMBED_RETRIES
        ds = ds.map_batches(
            load_stage,
            batch_size=FILES_PER_LOAD_TASK,
            batch_format="numpy",
            fn_kwargs={"parts": self.ingest.parts, "size": self.ingest.part_chunks},
            num_cpus=0,  # light beside embedding; never starves for the actors' CPUs
            compute=ray.data.TaskPoolStrategy(size=min(cpus, blocks)),
        )
        # which unit and file each actor was on: one that keeps killing its worker fails
        deaths = ray.remote(num_cpus=0)(DeathLog).remote()
        ds = ds.map_batches(
            EmbedStage,
            batch_size=1,  # one unit (about ``part_chunks`` chunks) per call
            batch_format="numpy",
            fn_constructor_kwargs={"parts": self.ingest.parts, "deaths": deaths},
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=1,
            # a lost actor (its worker or node died) is restarted and its unit retried: Ray
            # Data's own default for every actor pool (``max_restarts``/``max_task_retries``
            # went with ``**ray_remote_args``, deprecated since Ray 2.60)
        )
        batches = iter(ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=1))
        try:
            self._commit_all(todo, _rows(batches, self.result))
        finally:
            ray.kill(deaths)

    def _commit_all(self, todo: list[PlannedFile], rows: Iterator[EmbeddedPart]) -> None:
        """Commit each file from its parts, in walk order (the time spent, less the waits for
        Ray's parts, is the commit time)."""
        started = time.perf_counter()
        row = next(rows, None)
        while row is not None:
            key = row[0]
            row = self._commit_file(todo[key], key, row, rows)
            self.done += 1
            if self.progress:
                self.progress("file", self.done, self.total)
        spent = time.perf_counter() - started
        self.result.commit_seconds = max(0.0, spent - self.result.wait_seconds)

    def _commit_file(
        self,
        planned: PlannedFile,
        key: int,
        first: EmbeddedPart,
        rows: Iterator[EmbeddedPart],
    ) -> EmbeddedPart | None:
        """One file: its parts written in one transaction (where supported), in the local
        engine's order. Returns the first row of the next file."""

        def parts() -> Iterator[tuple[FileChunks, Embedded]]:
            row: EmbeddedPart | None = first
            while row is not None:
                if row[0] != key:
                    raise RuntimeError(f"Ray returned parts out of order ({row[0]} in {key})")
                yield row[2], row[3]
                if row[1]:
                    return
                row = next(rows, None)

        part_report = IngestReport(collection=self.report.collection)
        stream = parts()
        last: FileChunks | None = None
        lost: str | None = None  # a part not read or not embedded: the file is not done
        try:
            with self.store.transaction():
                f = self.committer.open_file(planned)
                for part, embedded in stream:
                    last = part
                    if not part.complete and lost is None:
                        lost = part.error
                    self._write_part(f, part, embedded, part_report)
                assert last is not None, "a file yields at least one part"
                error = lost or last.error
                f.record = error is None
                if error is not None:
                    fail(self.report, planned.source, error)
                if last.complete and lost is None:
                    self.committer.finish(f, part_report)
        except StoreError as exc:
            for _ in stream:  # the rest of this file's parts
                pass
            self.report.chunks_embedded += part_report.chunks_embedded
            if not self.store.supports_transactions:
                _add_counts(self.report, part_report)
            self.committer.file_failed(planned.source, exc, self.report)
            return next(rows, None)
        self.report.chunks_embedded += part_report.chunks_embedded
        _add_counts(self.report, part_report)
        warn(self.report, planned.source, last.warning)
        return next(rows, None)

    def _write_part(
        self, f: PendingFile, part: FileChunks, embedded: Embedded, report: IngestReport
    ) -> None:
        committer = self.committer
        if committer.keywords is not None and part.terms is None and part.chunks:
            raise ValueError("the store has keyword search: the workers need a tokenizer")
        committer.add_window(f, part.chunks)
        if f.to_embed and not committer.embedder:
            recorded = (r.embedder for r in self.manifest.values())
            identity = check_compatible(recorded, self.ingest.embedder(), self.store.collection)
            committer.embedder = identity.key()
        rows = self._rows_for(f, embedded)
        report.chunks_embedded += len(rows.index)
        terms: dict[str, list[str]] = {}
        if part.terms is not None:
            terms = {c.id: t for c, t in zip(part.chunks, part.terms, strict=True)}
        committer.write(f.new, f.kw_only, rows, terms, report)
        self.chunks_done += len(part.chunks)
        if self.progress:
            self.progress("embed", self.chunks_done, self.chunks_done)

    def _rows_for(self, f: PendingFile, embedded: Embedded) -> Embedded:
        """The vectors of ``f.new`` (each distinct text once): stored ones it reuses, the
        worker's, and the driver's for any the worker skipped (stored when it looked, gone
        since; or a file whose stored vectors do not cover it all)."""
        todo = f.to_embed
        if not todo:
            return Embedded({}, None, f.reused)
        missing = [c for c in todo if c.content_hash not in embedded.index]
        extra = embed_chunks(self.ingest.embedder(), missing) if missing else Embedded({}, None)
        index: dict[str, int] = {}
        rows: list[np.ndarray] = []
        for c in todo:
            h = c.content_hash
            if h in index:
                continue
            index[h] = len(rows)
            source = embedded if h in embedded.index else extra
            assert source.vectors is not None
            rows.append(source.vectors[source.index[h]])
        return Embedded(index, np.stack(rows), f.reused)


def _rows(batches: Iterator[dict[str, np.ndarray]], result: RayRun) -> Iterator[EmbeddedPart]:
    """The parts in order, counting which node and process embedded each, and the time spent
    waiting for them."""
    while True:
        started = time.perf_counter()
        batch = next(batches, None)
        result.wait_seconds += time.perf_counter() - started
        if batch is None:
            return
        for payload, count, node, pid in zip(
            batch["payload"], batch["parts"], batch["node"], batch["pid"], strict=True
        ):
            node_id, n = str(node), int(count)
            result.parts_by_node[node_id] = result.parts_by_node.get(node_id, 0) + n
            result.parts_by_worker[int(pid)] = result.parts_by_worker.get(int(pid), 0) + n
            yield from pickle.loads(payload)


def _ray() -> Any:
    """``ray`` with Ray Data, or a ConfigError naming the extra."""
    from rag._lazy import require

    ray = require("ray", "ray", "--engine ray")
    require("ray.data", "ray", "--engine ray")
    return ray
