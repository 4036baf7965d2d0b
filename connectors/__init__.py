"""Connectors: find files, read their bytes, turn them into Documents.

The ingest pipeline does, per root, with its ``LoaderRegistry`` (``loaders``)::

    for entry in walk(root, include, exclude):
        if entry.error:                      # loop, unreadable directory, broken link
            report a failure for entry.path
        elif loaders.loader_for(entry.path) is None:
            count the file as skipped        # no loader for its extension
        else:
            digest = file_digest(entry.path) # LoadError if unreadable; skip if unchanged
            stream = loaders.iter_file(entry.path)
            for doc in stream: ...           # LoadError if the file cannot be read at all
            if stream.failure: ...           # PartialLoadError: report the records lost

``iter_file`` streams JSON Lines one record at a time, so a file of any size is never
held whole; the other types are loaded whole by ``load_file(path, data)``, which is also
the one-call API (it raises ``PartialLoadError`` instead of setting ``failure``).

Every loader raises ``rag.errors.LoadError`` naming the file and the fix.
``PartialLoadError`` is raised when part of a file loaded (bad JSONL lines, PDF pages
that fail to extract): its ``documents`` are good, its message lists what was lost.
Locations: ``Document.location`` says where the text sits (``page``, ``start_line`` /
``end_line``, ``heading_path``, ``record``). Text, code and Markdown documents are the
source lines ``start_line..end_line`` verbatim, so a chunker can compute each chunk's own
line range; CSV rows, JSON records and HTML sections are derived text whose location
applies to the whole document. ``lines_are_verbatim(doc)`` tells the two apart.

Loaders come from a ``LoaderRegistry`` instance, never a module global: ``default_loaders()``
builds a new one holding the built-in loaders each time it is called, and the module-level
``loader_for`` / ``load_file`` / ``iter_file`` use such a fresh default. Adding a file type:
write a class with ``extensions`` and ``load(path, data)`` (see ``rag.connectors.base.Loader``;
add ``iter_load(path, file)`` to stream it, see ``StreamingLoader``) and register an instance
in the registry you pass to the ingest (``RAG(loaders=registry)``); that affects that registry
only::

    loaders = default_loaders()
    loaders.register(MyLoader())
    RAG(loaders=loaders).ingest("./docs")

Importing this package is cheap: pypdf and python-docx load on first use.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from rag.connectors._common import lines_are_verbatim, os_errors
from rag.connectors.base import Loader, StreamingLoader
from rag.connectors.code import CodeLoader
from rag.connectors.csv import CsvLoader
from rag.connectors.decoding import decode_text
from rag.connectors.docx import DocxLoader
from rag.connectors.html import HtmlLoader
from rag.connectors.json import JsonLoader
from rag.connectors.markdown import MarkdownLoader
from rag.connectors.pdf import PdfLoader
from rag.connectors.text import TextLoader
from rag.connectors.walker import Walk, WalkEntry, source_key, source_path, walk
from rag.errors import LoadError, PartialLoadError, RagError
from rag.types import Document

__all__ = [
    "DocumentStream",
    "Loader",
    "LoaderRegistry",
    "PartialLoadError",
    "StreamingLoader",
    "Walk",
    "WalkEntry",
    "decode_text",
    "default_loaders",
    "file_digest",
    "iter_file",
    "lines_are_verbatim",
    "load_file",
    "loader_for",
    "read_bytes",
    "source_key",
    "source_path",
    "walk",
]


class LoaderRegistry:
    """File extension (lower case, with the dot) -> the loader for it.

    An instance is configuration: build it, register loaders, then hand it to the ingest.
    Registering changes this registry only (no module global), so two ``RAG`` objects can
    read the same extension differently.
    """

    def __init__(self, loaders: Iterable[Loader] = ()) -> None:
        self._by_extension: dict[str, Loader] = {}
        for loader in loaders:
            self.register(loader)

    def register(self, loader: Loader, *extensions: str) -> None:
        """Use ``loader`` for ``extensions`` (default: its own ``extensions``), replacing any
        loader registered for them."""
        for ext in extensions or loader.extensions:
            ext = ext.lower()
            if not ext.startswith("."):
                raise ValueError(f"an extension starts with a dot, like '.md'; got {ext!r}")
            self._by_extension[ext] = loader

    def copy(self) -> LoaderRegistry:
        """A registry with the same loaders, to extend without changing this one."""
        other = LoaderRegistry()
        other._by_extension = dict(self._by_extension)
        return other

    @property
    def extensions(self) -> list[str]:
        """Every registered extension, sorted."""
        return sorted(self._by_extension)

    def items(self) -> list[tuple[str, Loader]]:
        """(extension, loader) pairs, sorted by extension."""
        return sorted(self._by_extension.items())

    def __contains__(self, extension: object) -> bool:
        return extension in self._by_extension

    def __getitem__(self, extension: str) -> Loader:
        return self._by_extension[extension]

    def loader_for(self, path: Path | str) -> Loader | None:
        """The loader for ``path``'s extension (case-insensitive), or None if none handles it."""
        return self._by_extension.get(Path(path).suffix.lower())

    def load_file(self, path: Path | str, data: bytes) -> list[Document]:
        """Load ``data`` (the bytes of ``path``) with the loader for its extension.

        Raises LoadError for an extension no loader handles, for anything the loader cannot
        read, and (wrapped, with the exception type) for unexpected errors inside a loader, so
        one bad file never stops an ingest. ``MissingDependencyError`` passes through.
        """
        path = Path(path)
        return _load(self._loader(path), path, data)

    def iter_file(self, path: Path | str) -> DocumentStream:
        """The Documents of ``path``, read as they are consumed (see ``DocumentStream``).

        Raises LoadError at once for an extension no loader handles; everything else is
        reported while iterating.
        """
        path = Path(path)
        return DocumentStream(path, self._loader(path))

    def _loader(self, path: Path) -> Loader:
        loader = self.loader_for(path)
        if loader is None:
            known = ", ".join(self.extensions)
            raise LoadError(
                str(path),
                f"no loader for '{path.suffix or '(no extension)'}' files (supported: {known}); "
                "exclude it or register a loader (LoaderRegistry.register, RAG(loaders=...))",
            )
        return loader


def default_loaders() -> LoaderRegistry:
    """A new registry with the built-in loaders (text, Markdown, HTML, PDF, DOCX, CSV, JSON,
    code); each call builds its own, so registering on it changes nothing else."""
    return LoaderRegistry(
        (
            TextLoader(),
            MarkdownLoader(),
            HtmlLoader(),
            PdfLoader(),
            DocxLoader(),
            CsvLoader(),
            JsonLoader(),
            CodeLoader(),
        )
    )


def loader_for(path: Path | str) -> Loader | None:
    """The built-in loader for ``path``'s extension, or None (``default_loaders().loader_for``)."""
    return default_loaders().loader_for(path)


def load_file(path: Path | str, data: bytes) -> list[Document]:
    """``default_loaders().load_file(path, data)``: the one-call API for the built-in types."""
    return default_loaders().load_file(path, data)


def iter_file(path: Path | str) -> DocumentStream:
    """``default_loaders().iter_file(path)``: stream a file of a built-in type."""
    return default_loaders().iter_file(path)


def read_bytes(path: Path | str) -> bytes:
    """Read a file whole, turning OS errors into a LoadError that says what to do."""
    with os_errors(path):
        return Path(path).read_bytes()


def file_digest(path: Path | str) -> str:
    """SHA-256 (hex) of a file's bytes, read in blocks (the ingest manifest's change check)."""
    with os_errors(path), open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _unexpected(loader: Loader, path: Path, exc: Exception) -> LoadError:
    return LoadError(
        str(path),
        f"unexpected error in {type(loader).__name__} ({type(exc).__name__}: {exc}); "
        "please report it with the file if you can, and exclude the file meanwhile",
    )


def _load(loader: Loader, path: Path, data: bytes) -> list[Document]:
    """``loader.load``, with unexpected errors wrapped in a LoadError naming the loader."""
    try:
        return loader.load(path, data)
    except RagError:
        raise
    except Exception as exc:
        raise _unexpected(loader, path, exc) from exc


class DocumentStream:
    """The Documents of one file: streamed by a ``StreamingLoader`` (JSON Lines, memory
    bounded by one record), else loaded whole with ``load_file`` and handed out one by one.

    Iterating raises LoadError (as ``load_file`` would) when the file cannot be read; for a
    streamed file that can happen after some Documents (a read error midway). Records that
    fail while the others load do not interrupt it: after the last Document, ``failure`` is
    the ``PartialLoadError`` naming them (its ``documents`` empty: they were yielded), or
    None when everything loaded. Iterate once; the file is opened and closed by the loop.
    """

    def __init__(self, path: Path, loader: Loader) -> None:
        self.path = path
        self.loader = loader
        self.failure: PartialLoadError | None = None
        self._file: BinaryIO | None = None
        self._size = 0
        self._loaded: list[Document] | None = None
        self._yielded = 0
        self._done = False

    @property
    def streaming(self) -> bool:
        """True when the loader reads the file lazily (memory bounded by one record)."""
        return isinstance(self.loader, StreamingLoader)

    @property
    def fraction_read(self) -> float:
        """How far reading has got, 0.0-1.0: bytes for a streamed file, Documents otherwise
        (an estimate for progress bars)."""
        if self._done:
            return 1.0
        if self._loaded is not None:
            return self._yielded / len(self._loaded) if self._loaded else 1.0
        if self._file is None or not self._size or self._file.closed:
            return 0.0
        return min(1.0, self._file.tell() / self._size)

    def __iter__(self) -> Iterator[Document]:
        self.failure = None
        try:
            for doc in self._documents():
                self._yielded += 1
                yield doc
        except PartialLoadError as exc:  # a loaded file (its good documents), or after a stream
            self._loaded, self._yielded = exc.documents, 0
            for doc in exc.documents:
                self._yielded += 1
                yield doc
            self.failure = PartialLoadError(exc.path, exc.reason, documents=[], failed=exc.failed)
        self._done = True

    def _documents(self) -> Iterator[Document]:
        path, loader = self.path, self.loader
        with os_errors(path):
            file = open(path, "rb")  # noqa: SIM115 - closed below, after the loop
        with file:
            self._file = file
            with os_errors(path):
                self._size = os.fstat(file.fileno()).st_size
            if not isinstance(loader, StreamingLoader):
                with os_errors(path):
                    data = file.read()
                self._loaded = _load(loader, path, data)
                del data
                yield from self._loaded
                return
            docs = loader.iter_load(path, file)
            try:
                while True:
                    try:
                        with os_errors(path):
                            doc = next(docs)
                    except StopIteration:
                        return
                    except RagError:
                        raise
                    except Exception as exc:
                        raise _unexpected(loader, path, exc) from exc
                    yield doc
            finally:
                close = getattr(docs, "close", None)
                if close is not None:
                    close()
