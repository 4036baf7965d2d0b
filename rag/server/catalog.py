"""The collections of every tenant: names, folders, stores and one ``RAG`` per collection.

A tenant's collection ``docs`` is the store collection ``t_<tenant>__docs`` and the upload
folder ``<data_dir>/server/<tenant>/docs/``; the folder is the catalog (a collection exists
once its first upload made the folder). Sources are absolute paths inside rag; the API shows
them relative to the folder, and a source coming in is checked to stay inside it.

The parts every collection shares (the embedding model, each LLM) load once (``SharedParts``)
and are handed to each collection's ``RAG``. All methods here block: the routes call them
through the ``Runner``.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from rag.api import RAG
from rag.server.errors import invalid, not_found
from rag.types import Citation, IngestReport

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from rag.config import Settings
    from rag.costs.calllog import CallLogLike
    from rag.embeddings import Embedder
    from rag.llms.base import LLM
    from rag.server.tenants import Tenant
    from rag.stores.base import Filters, Store

PROBE_COLLECTION = "rag-readyz-probe"
"""The store collection ``/readyz`` looks up (never created: tenants' are ``t_<tenant>__<name>``)."""
_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,30}[A-Za-z0-9])?")
_REPORT_COUNTS = (
    "files_seen",
    "files_new",
    "files_changed",
    "files_unchanged",
    "files_removed",
    "files_moved",
    "files_rerooted",
    "files_copied",
    "files_failed",
    "files_skipped",
    "chunks_total",
    "chunks_embedded",
    "chunks_written",
    "chunks_deleted",
)


def check_name(name: str) -> str:
    """A collection name: 1-32 letters, digits, '_', '.', '-', starting and ending with a
    letter or digit, no '__' (422 naming the field otherwise)."""
    if not _NAME.fullmatch(name) or "__" in name:
        raise invalid(
            "name",
            f"collection name {name[:40]!r} is not valid: use 1-32 letters, digits, '_', '.' or "
            "'-', starting and ending with a letter or digit, without '__'",
        )
    return name


def check_source(source: str) -> PurePosixPath:
    """A document's source as given by a client: a relative path without '..', NUL or
    backslashes (422 otherwise), so it always names a file inside the collection folder."""
    path = PurePosixPath(source)
    bad = (
        not source
        or len(source) > 255
        or "\x00" in source
        or "\\" in source
        or path.is_absolute()
        or any(part in ("..", ".", "") for part in source.split("/"))
        or any(ord(ch) < 32 for ch in source)
    )
    if bad:
        raise invalid(
            "source",
            f"source {source[:80]!r} is not a safe relative file name: no '..', '.', empty or "
            "absolute parts, backslashes or control characters (e.g. 'guides/setup.md')",
        )
    return path


class SharedParts:
    """What every collection's RAG shares: the embedding model and one LLM per spec, each
    built on first use, once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedder: Embedder | None = None
        self._llms: dict[str, LLM] = {}
        self._probe: Store | None = None
        self._lock = threading.Lock()

    def embedder(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                from rag.embeddings import make_embedder

                self._embedder = make_embedder(self.settings)
            return self._embedder

    def llm(self, spec: str) -> LLM:
        with self._lock:
            if spec not in self._llms:
                from rag.llms import make_llm

                self._llms[spec] = make_llm(spec, self.settings)
            return self._llms[spec]

    def probe_store(self) -> Store:
        """A store handle on the settings' backend for the readiness check (its collection is
        never written), built once it connects."""
        with self._lock:
            if self._probe is None:
                from rag.stores import make_store

                probe = self.settings.model_copy(update={"collection": PROBE_COLLECTION})
                self._probe = make_store(probe)
            return self._probe

    async def aclose_async_clients(self, executor: Executor) -> None:
        """Close the async SDK clients the LLMs opened on the running loop (the server's):
        a hosted LLM is its own async twin, a router's twin closes its backends'."""
        from rag.llms import as_async

        with self._lock:
            llms = list(self._llms.values())
        for llm in llms:
            await as_async(llm, executor).aclose()

    def close(self) -> None:
        with self._lock:
            for llm in self._llms.values():
                close = getattr(llm, "close", None)
                if callable(close):
                    close()
            self._llms.clear()
            probe, self._probe = self._probe, None
        if probe is not None:
            probe.close()


def store_name(tenant: str, name: str) -> str:
    """The store collection behind a tenant's collection ``name``."""
    return f"t_{tenant}__{name}"


class Collection:
    """One tenant's collection: its folder, its RAG, and views of it for other retrieval
    modes or LLMs (sharing its store, embedder and keyword index)."""

    def __init__(
        self,
        tenant: str,
        name: str,
        folder: Path,
        settings: Settings,
        shared: SharedParts,
        call_log: CallLogLike,
    ) -> None:
        self.tenant = tenant
        self.name = name
        self.folder = folder.resolve()  # ingest keys sources by their real path
        self.store_name = store_name(tenant, name)
        self.settings = settings.model_copy(update={"collection": self.store_name})
        self.shared = shared
        self.rag = RAG(self.settings, embedder=shared.embedder(), call_log=call_log)
        self._views: dict[tuple[str | None, str], RAG] = {}
        self.lock = threading.Lock()
        """Serializes this collection's writes (uploads, deletes)."""

    # -- sources: absolute inside rag, relative to the folder outside --

    def absolute(self, source: str) -> str:
        return str(self.folder / check_source(source))

    def relative(self, source: str) -> str:
        prefix = str(self.folder) + os.sep
        return source[len(prefix) :] if source.startswith(prefix) else Path(source).name

    def cite(self, citations: Sequence[Citation]) -> list[dict[str, Any]]:
        """Citations as JSON, their sources relative to the folder (``source`` and
        ``rel_path``: the folder is the collection's root); the server's own directories
        (``root``) are never shown."""
        out = []
        for c in citations:
            rel = self.relative(c.source)
            out.append(
                c.model_copy(update={"source": rel, "rel_path": rel}).model_dump(
                    mode="json", exclude={"root"}
                )
            )
        return out

    def filters(self, where: Mapping[str, Any] | None) -> Filters | None:
        """The client's filters with ``source`` values made absolute (the store's form)."""
        if not where:
            return None
        out = dict(where)
        cond = out.get("source")
        if isinstance(cond, str):
            out["source"] = self.absolute(cond)
        elif isinstance(cond, list):
            out["source"] = [self.absolute(c) if isinstance(c, str) else c for c in cond]
        elif isinstance(cond, dict):
            out["source"] = {
                op: (
                    self.absolute(v)
                    if isinstance(v, str)
                    else [self.absolute(x) if isinstance(x, str) else x for x in v]
                    if isinstance(v, list)
                    else v
                )
                for op, v in cond.items()
            }
        return out

    def view(self, *, llm: str, mode: str | None = None) -> RAG:
        """The RAG that answers with ``llm`` and retrieves in ``mode`` (default: the
        settings'), over this collection's parts; built once per (mode, llm)."""
        key = (mode, llm)
        with self.lock:
            view = self._views.get(key)
            if view is None:
                update: dict[str, Any] = {"llm": llm}
                if mode is not None:
                    update["retrieval_mode"] = mode
                view = self.rag.with_settings(
                    self.settings.model_copy(update=update), llm=self.shared.llm(llm)
                )
                self._views[key] = view
        return view

    def searcher(self, mode: str | None) -> RAG:
        """The RAG for a retrieval-only search in ``mode`` (no LLM is built)."""
        if mode is None or mode == self.settings.retrieval_mode:
            return self.rag
        key = (mode, "")
        with self.lock:
            view = self._views.get(key)
            if view is None:
                view = self.rag.with_settings(
                    self.settings.model_copy(update={"retrieval_mode": mode})
                )
                self._views[key] = view
        return view

    # -- writes --

    def repair(self) -> None:
        """Finish what a crash left half done: re-ingest the folder (unchanged files are
        skipped by their hash; files gone from it lose their chunks), as ``rag ingest``'s
        re-run does."""
        if self.folder.is_dir() and any(self.folder.iterdir()):
            with self.lock:
                self.rag.ingest(self.folder, include=[], exclude=[], prune=True)

    def upload(self, files: Sequence[tuple[str, bytes]]) -> IngestReport:
        """Write each ``(source, content)`` into the folder (atomically: a temp file renamed)
        and ingest it; an unchanged content is reported unchanged (its hash)."""
        paths = [(self.folder / check_source(src), data) for src, data in files]
        total = IngestReport(collection=self.name)
        with self.lock:
            for path, data in paths:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not (path.is_file() and path.read_bytes() == data):
                    # written beside the collection folder (never ingested), then renamed in
                    tmp = self.folder.parent / f".{self.name}.{os.getpid()}.uploading"
                    tmp.write_bytes(data)
                    os.replace(tmp, path)
                report = self.rag.ingest(path, include=[], exclude=[], prune=False)
                for field in _REPORT_COUNTS:
                    setattr(total, field, getattr(total, field) + getattr(report, field))
                total.seconds += report.seconds
                total.failures.extend(
                    f.model_copy(update={"path": self.relative(f.path)}) for f in report.failures
                )
        return total

    def documents(self) -> list[dict[str, Any]]:
        return [
            {
                "source": self.relative(rec.source),
                "chunks": rec.chunk_count,
                "content_hash": rec.file_hash,
            }
            for rec in sorted(self.rag.store.sources().values(), key=lambda r: r.source)
        ]

    def delete_document(self, source: str) -> int:
        """Remove a document: its file first, then its chunks (a crash in between is repaired
        by the next ``repair``, which prunes chunks of files gone)."""
        path = self.folder / check_source(source)
        with self.lock:
            known = str(path) in self.rag.store.sources()
            if not known and not path.is_file():
                raise not_found(
                    f"collection {self.name!r} has no document {source!r}; list them with "
                    f"GET /v1/collections/{self.name}/documents"
                )
            path.unlink(missing_ok=True)
            return self.rag.store.delete_source(str(path))

    def drop(self) -> int:
        """Delete every chunk and file of the collection; returns how many chunks there were."""
        with self.lock:
            store = self.rag.store
            chunks = store.count()
            shutil.rmtree(self.folder, ignore_errors=True)
            for source in list(store.sources()):
                store.delete_source(source)
            delete = getattr(store, "delete_collection", None)
            if callable(delete):
                delete()
            self.close_views()
        return chunks

    def counts(self) -> dict[str, Any]:
        store = self.rag.store
        return {"name": self.name, "documents": len(store.sources()), "chunks": store.count()}

    def close_views(self) -> None:
        views, self._views = list(self._views.values()), {}
        for view in views:
            view.close()

    def close(self) -> None:
        with self.lock:
            self.close_views()
        self.rag.close()


class Catalog:
    """Every open collection, by (tenant, name); opened on first use, repaired on open."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.data_dir / "server"
        self.shared = SharedParts(settings)
        self._open: dict[tuple[str, str], Collection] = {}
        self._lock = threading.Lock()

    def folder(self, tenant: str, name: str) -> Path:
        return self.root / tenant / check_name(name)

    def names(self, tenant: str) -> list[str]:
        base = self.root / tenant
        if not base.is_dir():
            return []
        return sorted(p.name for p in base.iterdir() if p.is_dir() and _NAME.fullmatch(p.name))

    def get(self, tenant: Tenant, name: str, *, create: bool = False) -> Collection:
        """The tenant's collection ``name`` (404 when it does not exist and ``create`` is off)."""
        folder = self.folder(tenant.name, name)
        key = (tenant.name, name)
        with self._lock:
            found = self._open.get(key)
            if found is not None:
                return found
            if not folder.is_dir():
                if not create:
                    raise not_found(
                        f"collection {name!r} does not exist; upload a document to create it "
                        f"(POST /v1/collections/{name}/documents)"
                    )
                folder.mkdir(parents=True, exist_ok=True)
            collection = Collection(
                tenant.name, name, folder, self.settings, self.shared, tenant.call_log
            )
            self._open[key] = collection
        collection.repair()
        return collection

    def drop(self, tenant: Tenant, name: str) -> int:
        collection = self.get(tenant, name)
        chunks = collection.drop()
        with self._lock:
            self._open.pop((tenant.name, name), None)
        collection.close()
        return chunks

    def ready(self) -> list[str]:
        """What keeps the server from answering, each with its fix (empty when ready): the
        store must answer a count (a round trip to a Chroma server or PostgreSQL) and the
        embedding model must load."""
        problems: list[str] = []
        try:
            self.shared.probe_store().count()
        except Exception as exc:
            text = _first_line(exc)
            problems.append(f"the store is not reachable: {text}{_store_fix(self.settings, text)}")
        try:
            self.shared.embedder()
        except Exception as exc:
            problems.append(
                f"the embedding model did not load: {_first_line(exc)} (settings "
                "'embed_model' and 'cache_dir': the model must be in the cache, or the "
                "network reachable once to download it)"
            )
        return problems

    def close(self) -> None:
        with self._lock:
            collections, self._open = list(self._open.values()), {}
        for c in collections:
            c.close()
        self.shared.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _store_fix(settings: Settings, message: str) -> str:
    """Where to look when the store does not answer, unless ``message`` names it already."""
    if settings.store == "pgvector":
        fix = " (setting 'pg_dsn': is PostgreSQL running? `rag db start` starts a local one)"
    elif settings.store == "chroma" and settings.chroma_url:
        fix = (
            f" (setting 'chroma_url' {settings.chroma_url}: is `chroma run` up there? unset "
            "chroma_url to use the embedded store)"
        )
    elif settings.store == "qdrant" and settings.qdrant_url:
        fix = f" (setting 'qdrant_url' {settings.qdrant_url}: is the Qdrant server up there?)"
    else:
        fix = f" (setting 'data_dir' {settings.data_dir}: is it readable and writable?)"
    setting = fix.split("'")[1]
    return "" if setting in message else fix
