"""How a ``RAG`` ingests: files under a path (here, or on Ray), documents held in memory, and
the dry run that estimates it; each over the ``Parts`` the RAG holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from rag.api._parts import Parts
    from rag.pipelines.ingest import ProgressCallback
    from rag.pipelines.ingest_estimate import IngestEstimate
    from rag.stores.base import Store
    from rag.types import IngestReport

_T = TypeVar("_T")


def ingest(
    parts: Parts,
    path: str | Path,
    *,
    include: list[str] | None,
    exclude: list[str] | None,
    prune: bool | None,
    progress: ProgressCallback | None,
    allow_roots: list[Path] | None,
) -> IngestReport:
    """``RAG.ingest``: in this process, recording this machine's embedding rate for the next
    ``plan_ingest``, or on Ray (``ingest_engine = "ray"``)."""
    if parts.settings.ingest_engine == "ray":
        return _ingest_ray(parts, path, include, exclude, prune, progress, allow_roots)
    import time

    from rag.pipelines.ingest import IngestParts, IngestPipeline

    # factories, not parts: an ingest that finds nothing new or changed never builds the
    # embedding model or the keyword tokenizer
    # seconds spent building the models (an ONNX export, a model load, Kiwi's dictionary):
    # a one-off, left out of the embedding rate the dry run estimates with
    building = [0.0]

    def timed(build: Callable[[], _T]) -> Callable[[], _T]:
        def made() -> _T:
            started = time.perf_counter()
            built = build()
            building[0] += time.perf_counter() - started
            return built

        return made

    factories = IngestParts(
        embedder=timed(lambda: parts.embedder),
        chunker=timed(lambda: parts.chunker),
        keyword_tokenizer=timed(lambda: parts.keyword_tokenizer),
    )
    with parts.trace_scope():
        pipeline = IngestPipeline.from_parts(parts.store, factories, loaders=parts.loaders)
        report = pipeline.run(
            path,
            include=include if include is not None else parts.settings.include,
            exclude=exclude if exclude is not None else parts.settings.exclude,
            prune=parts.settings.prune if prune is None else prune,
            progress=progress,
            allow_roots=allow_roots if allow_roots is not None else parts.settings.allow_roots,
        )
    if report.chars_embedded:  # this machine's rate (building the model apart), for the
        from rag.embeddings import identity_of  # next ``plan_ingest``
        from rag.pipelines.ingest_estimate import EmbedRates

        key = identity_of(parts.embedder).key()
        seconds = report.seconds - building[0]
        EmbedRates(parts.settings.cache_dir).record(key, seconds, report.chars_embedded)
    return report


def _ingest_ray(
    parts: Parts,
    path: str | Path,
    include: list[str] | None,
    exclude: list[str] | None,
    prune: bool | None,
    progress: ProgressCallback | None,
    allow_roots: list[Path] | None,
) -> IngestReport:
    """``ingest`` with ``ingest_engine = "ray"`` (``rag.pipelines.ingest_ray``): the
    workers build the embedder from these settings, one CPU thread per actor."""
    from functools import partial

    from rag.embeddings import make_embedder
    from rag.pipelines.ingest_ray import RayIngest, RayParts

    s = parts.settings
    if parts.embedder_given:  # shipped to the workers as it is (it must pickle)
        embedder_factory: Any = partial(_same, parts.embedder)
    else:
        worker_settings = s.model_copy(update={"embed_threads": 1})
        embedder_factory = partial(make_embedder, worker_settings)
    ray_parts = RayParts(
        embedder=embedder_factory,
        chunker=parts.chunker,
        keyword_tokenizer=parts.keyword_tokenizer,
        loaders=parts.loaders,
    )
    engine = RayIngest(parts.store, ray_parts, lambda: parts.embedder, address=s.ray_address)
    return engine.run(
        path,
        include=include if include is not None else s.include,
        exclude=exclude if exclude is not None else s.exclude,
        prune=s.prune if prune is None else prune,
        progress=progress,
        allow_roots=allow_roots if allow_roots is not None else s.allow_roots,
    )


def _same(part: _T) -> _T:
    """A factory of a part that is given (``functools.partial(_same, part)`` pickles)."""
    return part


def ingest_documents(parts: Parts, docs: Iterable[object], *, source: str | None) -> IngestReport:
    """``RAG.ingest_documents``: plan the documents' sources against the store's manifest,
    then chunk, embed and commit only what changed."""
    from rag.pipelines.ingest import IngestParts, IngestPipeline
    from rag.pipelines.ingest_commit import Committer
    from rag.pipelines.ingest_documents import SourceChunker, plan_documents

    manifest = parts.store.sources()
    committer = Committer(parts.store, keywords=True)
    plan = plan_documents(docs, manifest, committer, source=source)
    # factories, as for ``ingest``: nothing unchanged builds the embedding model
    factories = IngestParts(
        embedder=lambda: parts.embedder,
        chunker=lambda: SourceChunker(parts.chunker, plan.fold),
        keyword_tokenizer=lambda: parts.keyword_tokenizer,
    )
    pipeline = IngestPipeline.from_parts(parts.store, factories, loaders=plan.given)
    return pipeline.run_planned(plan.files, manifest)


def plan_ingest(
    parts: Parts,
    path: str | Path,
    *,
    include: list[str] | None,
    exclude: list[str] | None,
    prune: bool | None,
    allow_roots: list[Path] | None,
) -> IngestEstimate:
    """``RAG.plan_ingest``: the estimate, from the embedder's identity and billing and this
    machine's recorded embedding rates."""
    from rag.embeddings import identity_of
    from rag.pipelines.ingest_estimate import EmbedRates, estimate_ingest

    s = parts.settings
    embedder = parts.embedder
    identity = identity_of(embedder)
    billing: tuple[str, str] | None = getattr(embedder, "billing", None)
    hosted = billing is not None
    return estimate_ingest(
        _store_to_plan(parts),
        path,
        chunker=parts.chunker,
        tokenizer=embedder.tokenizer,
        embedder_key=identity.key(),
        embedder_label=f"{billing[0]}:{billing[1]}" if billing else identity.describe(),
        hosted=hosted,
        billing=billing,
        prices=getattr(embedder, "prices", None),
        rates=EmbedRates(s.cache_dir),
        include=include if include is not None else s.include,
        exclude=exclude if exclude is not None else s.exclude,
        prune=s.prune if prune is None else prune,
        allow_roots=allow_roots if allow_roots is not None else s.allow_roots,
        loaders=parts.loaders,
    )


def _store_to_plan(parts: Parts) -> Store:
    """The store, unless opening it would create it (an embedded Chroma directory not made
    yet): then an empty stand-in, so a dry run leaves the data directory as it was."""
    s = parts.settings
    fresh = s.store == "chroma" and not s.chroma_url and not s.chroma_path.exists()
    if not parts.store_opened and fresh:
        from rag.stores.memory import MemoryStore

        return MemoryStore(s.collection)
    return parts.store
