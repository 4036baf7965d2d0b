"""Ingest documents held in memory (rag's, LangChain's, LlamaIndex's) through the file stages.

``RAG.ingest_documents`` is ``rag ingest`` for documents that some other code loaded: the
same plan -> load+chunk -> embed -> commit stages (``IngestPipeline.run_planned``), the same
chunk ids, content hashes and manifest. Each distinct source is one "file":

- **source**: ``source=`` when given (every document in one source), else the document's
  own (a rag ``Document.source``; a metadata ``source``, ``file_path`` or ``file_name``),
  else a stable id from its text (``document:<sha256 prefix>``);
- **plan**: the source's hash is a sha256 over its documents (text, location, metadata, in
  order); the manifest has it at that hash: nothing is chunked or embedded;
- **load+chunk**: ``GivenLoaders`` serves the source's documents where a file's would be
  read; chunk ids are ``rag.chunking.chunk_id`` over (source, record, text, occurrence) as
  for a file, the occurrence counted across the whole source (two pages with one same
  paragraph get two ids). For LangChain and LlamaIndex documents the user's metadata, when
  there is any, is folded into the text key, so a document whose metadata alone changed
  replaces its chunks (which then carry the new metadata); rag ``Document``s keep exactly the
  ids ``rag ingest`` gives them;
- **embed + commit**: unchanged; the chunks of a changed source that are no longer produced
  are deleted (pruning by source). A source not passed in this call is left as it is
  (``store.delete_source`` removes one).

Documents are read by duck typing, so nothing here imports LangChain or LlamaIndex: a
LangChain ``Document`` has ``page_content`` and ``metadata``, a LlamaIndex one ``text`` and
``metadata`` (its ``id_``, random per load unless set, is not used).

The user's metadata round-trips exactly: ``stored_metadata`` keeps what every store holds
as it is, and when that is not the user's metadata exactly (a list, a dict or None value, a
key the chunker also writes such as ``lang``, a reserved ``_rag_`` key) it also stores the
user's metadata as JSON under ``METADATA_KEY``; ``user_metadata`` gives back the metadata
the user wrote (JSON-serializable values exactly; any other object as its ``str``), without
rag's own keys.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.chunking import SPAN_KEY, Chunker, chunk_id
from rag.connectors import DocumentStream, LoaderRegistry
from rag.sanitize import clean_metadata, clean_text
from rag.stores.base import SourceRecord
from rag.types import Chunk, Document, Location, Metadata

from .ingest_commit import Committer
from .ingest_plan import FileStatus, PlannedFile

__all__ = [
    "METADATA_KEY",
    "RAG_KEYS",
    "SOURCE_KEYS",
    "DocumentsPlan",
    "GivenDocuments",
    "SourceChunker",
    "plan_documents",
    "stored_metadata",
    "to_document",
    "user_metadata",
]

SOURCE_KEYS = ("source", "file_path", "file_name")
"""Metadata keys a document's source is read from, in this order (LangChain loaders write
``source``, LlamaIndex readers ``file_path`` and ``file_name``)."""
METADATA_KEY = "_rag_metadata"
"""Holds the user's metadata as JSON when the stored scalars would not give it back exactly."""
RESERVED_PREFIX = "_rag_"
RAG_KEYS = frozenset({"lang"})
"""Metadata keys rag itself writes on a chunk (the chunker's detected language)."""
_HASH_VERSION = b"rag-documents-v1\x00"


def stored_metadata(metadata: Mapping[str, Any]) -> Metadata:
    """The metadata to store for ``metadata`` (see the module docstring): the scalars every
    store holds, plus the exact JSON under ``METADATA_KEY`` when they are not all of it."""
    clean = clean_metadata(metadata)
    if _exact(metadata, clean):
        return clean
    exact = json.dumps(dict(metadata), default=str, ensure_ascii=True)
    return {**clean, METADATA_KEY: exact}


def _exact(metadata: Mapping[str, Any], clean: Metadata) -> bool:
    """True when ``clean`` is ``metadata`` (same keys, values of the same types) and no key is
    one rag writes itself."""
    if len(clean) != len(metadata):
        return False
    for key, value in metadata.items():
        if not isinstance(key, str) or key in RAG_KEYS or key.startswith(RESERVED_PREFIX):
            return False
        if key not in clean:
            return False
        stored = clean[key]
        if type(stored) is not type(value) or stored != value:
            return False
    return True


def user_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata the user wrote, from a stored chunk's: the JSON under ``METADATA_KEY``
    when there is one, else the stored metadata without rag's keys."""
    raw = metadata.get(METADATA_KEY)
    if isinstance(raw, str):
        try:
            exact = json.loads(raw)
        except ValueError:
            exact = None
        if isinstance(exact, dict):
            return exact
    return {
        k: v for k, v in metadata.items() if k not in RAG_KEYS and not k.startswith(RESERVED_PREFIX)
    }


def _text_of(doc: object) -> str:
    for attr in ("page_content", "text"):
        value = getattr(doc, attr, None)
        if isinstance(value, str):
            return value
    raise TypeError(
        f"cannot ingest a {type(doc).__name__}: give rag Documents, LangChain Documents "
        "(page_content, metadata) or LlamaIndex Documents (text, metadata)"
    )


def _content_source(text: str) -> str:
    return "document:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def to_document(doc: object, source: str | None = None) -> Document:
    """A rag ``Document`` for ``doc`` (rag's, LangChain's or LlamaIndex's, by duck typing),
    its source decided as the module docstring says and its metadata as ``stored_metadata``."""
    given: str | None
    if isinstance(doc, Document):
        metadata: Mapping[str, Any] = doc.metadata
        text, location = doc.text, doc.location
        given = source or doc.source
    else:
        text = _text_of(doc)
        raw = getattr(doc, "metadata", None)
        metadata = raw if isinstance(raw, Mapping) else {}
        location = Location()
        given = source or next(
            (v for k in SOURCE_KEYS if isinstance(v := metadata.get(k), str) and v), None
        )
    return Document(  # a given source passes the sanitiser like every stored string (#12)
        source=clean_text(given) if given else _content_source(text),
        text=text,
        location=location,
        metadata=stored_metadata(metadata),
    )


def group_by_source(docs: Iterable[Document]) -> dict[str, list[Document]]:
    """The documents of each source, sources in order of first appearance."""
    groups: dict[str, list[Document]] = {}
    for doc in docs:
        groups.setdefault(doc.source, []).append(doc)
    return groups


def documents_hash(docs: Sequence[Document]) -> str:
    """sha256 over the documents' text, location and metadata, in order: the source's
    ``file_hash`` in the manifest."""
    h = hashlib.sha256(_HASH_VERSION)
    for doc in docs:
        record = [doc.text, doc.location.model_dump(mode="json"), doc.metadata]
        h.update(json.dumps(record, sort_keys=True, ensure_ascii=True).encode())
        h.update(b"\x00")
    return h.hexdigest()


class _GivenStream(DocumentStream):
    """A source's documents handed out where a file's would be read (nothing is opened)."""

    def __init__(self, path: Path, documents: list[Document]) -> None:
        super().__init__(path, _NO_LOADER)
        self._given = documents

    @property
    def fraction_read(self) -> float:
        total = len(self._given)
        return self._yielded / total if total else 1.0

    def __iter__(self) -> Iterator[Document]:
        self.failure = None
        for doc in self._given:
            self._yielded += 1
            yield doc.model_copy()  # the reader sets its source: the caller's stay as given


class _NoLoader:
    """The loader of a given source: never called (``_GivenStream`` hands out the documents)."""

    extensions: tuple[str, ...] = ()

    def load(self, path: Path, data: bytes) -> list[Document]:
        raise AssertionError("given documents are not loaded from a file")


_NO_LOADER = _NoLoader()


class GivenDocuments(LoaderRegistry):
    """Serves each planned source's documents by its ``PlannedFile.path`` (``plan_documents``
    gives every source a distinct one), so the ingest stages read them as they read a file."""

    def __init__(self) -> None:
        super().__init__()
        self._by_path: dict[Path, list[Document]] = {}

    def add(self, path: Path, documents: list[Document]) -> None:
        self._by_path[path] = documents

    def iter_file(self, path: Path | str) -> DocumentStream:
        path = Path(path)
        return _GivenStream(path, self._by_path[path])


class SourceChunker:
    """Wraps a chunker so chunk ids are unique across a source's documents and, for the
    sources in ``fold``, carry the user's metadata (module docstring); one per ingest run (it
    counts per source)."""

    def __init__(self, chunker: Chunker, fold: Set[str] = frozenset()) -> None:
        self.chunker = chunker
        self.fold = fold
        self._seen: dict[tuple[str, str | None, str], int] = {}

    def chunk(self, documents: Sequence[Document]) -> list[Chunk]:
        chunks = self.chunker.chunk(documents)
        out = []
        for c in chunks:
            key = c.text
            # the span says where the chunk sits, not what it holds: ids stay as they were
            held = {k: v for k, v in c.metadata.items() if k != SPAN_KEY}
            if c.source in self.fold and set(held) - RAG_KEYS:
                meta = json.dumps(held, sort_keys=True, ensure_ascii=True)
                key = f"{c.text}\x00{meta}"
            slot = (c.source, c.location.record, key)
            n = self._seen.get(slot, 0)
            self._seen[slot] = n + 1
            out.append(c.model_copy(update={"id": chunk_id(c.source, c.location.record, key, n)}))
        return out


@dataclass(frozen=True)
class DocumentsPlan:
    """Stage 1's result for documents held in memory."""

    files: list[PlannedFile]
    """One per source, in order of first appearance."""
    given: GivenDocuments
    """Where the later stages read each source's documents."""
    fold: frozenset[str]
    """Sources with a LangChain or LlamaIndex document: their ids carry the metadata."""


def plan_documents(
    docs: Iterable[object],
    manifest: Mapping[str, SourceRecord],
    committer: Committer,
    *,
    source: str | None = None,
) -> DocumentsPlan:
    """Stage 1 for documents: one ``PlannedFile`` per source (``new``, ``changed`` or
    ``unchanged`` against ``manifest``), and the registry the later stages read them from.
    Every source is re-read when ``committer`` finds keyword rows missing (as for files)."""
    converted: list[Document] = []
    fold: set[str] = set()
    for d in docs:
        doc = to_document(d, source)
        converted.append(doc)
        if not isinstance(d, Document):
            fold.add(doc.source)
    groups = group_by_source(converted)
    recheck = committer.needs_recheck(manifest)
    given = GivenDocuments()
    planned: list[PlannedFile] = []
    for i, (src, group) in enumerate(groups.items()):
        path = Path(f"<documents>/{i}")
        digest = documents_hash(group)
        previous = manifest.get(src)
        status: FileStatus
        if previous is None:
            status = "new"
        elif previous.file_hash == digest and not recheck:
            status = "unchanged"
        else:
            status = "changed"
        given.add(path, group)
        planned.append(PlannedFile(path, src, status, digest))
    return DocumentsPlan(planned, given, frozenset(fold))
