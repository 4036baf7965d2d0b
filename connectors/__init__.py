"""Connectors: find files, read their bytes, turn them into Documents.

The ingest pipeline does, per root::

    for entry in walk(root, include, exclude):
        if entry.error:                      # loop, unreadable directory, broken link
            report a failure for entry.path
        elif loader_for(entry.path) is None:
            count the file as skipped        # no loader for its extension
        else:
            data = read_bytes(entry.path)    # LoadError if unreadable
            docs = load_file(entry.path, data)
            # PartialLoadError (a LoadError): ingest exc.documents, report the rest

Every loader raises ``rag.errors.LoadError`` naming the file and the fix.
``PartialLoadError`` is raised when part of a file loaded (bad JSONL lines, PDF pages
that fail to extract): its ``documents`` are good, its message lists what was lost.
Locations: ``Document.location`` says where the text sits (``page``, ``start_line`` /
``end_line``, ``heading_path``, ``record``). Text, code and Markdown documents are the
source lines ``start_line..end_line`` verbatim, so a chunker can compute each chunk's own
line range; CSV rows, JSON records and HTML sections are derived text whose location
applies to the whole document. ``lines_are_verbatim(doc)`` tells the two apart.

Adding a file type: write a class with ``extensions`` and ``load(path, data)`` (see
``rag.connectors.base.Loader``) and register an instance in ``LOADERS``.

Importing this package is cheap: pypdf and python-docx load on first use.
"""

from __future__ import annotations

from pathlib import Path

from rag.connectors._common import PartialLoadError, lines_are_verbatim
from rag.connectors.base import Loader
from rag.connectors.code import CodeLoader
from rag.connectors.csv import CsvLoader
from rag.connectors.decoding import decode_text
from rag.connectors.docx import DocxLoader
from rag.connectors.html import HtmlLoader
from rag.connectors.json import JsonLoader
from rag.connectors.markdown import MarkdownLoader
from rag.connectors.pdf import PdfLoader
from rag.connectors.text import TextLoader
from rag.connectors.walker import WalkEntry, walk
from rag.errors import LoadError, RagError
from rag.types import Document

__all__ = [
    "LOADERS",
    "Loader",
    "PartialLoadError",
    "WalkEntry",
    "decode_text",
    "lines_are_verbatim",
    "load_file",
    "loader_for",
    "read_bytes",
    "walk",
]


def _registry(*loaders: Loader) -> dict[str, Loader]:
    table: dict[str, Loader] = {}
    for loader in loaders:
        for ext in loader.extensions:
            table[ext] = loader
    return table


LOADERS: dict[str, Loader] = _registry(
    TextLoader(),
    MarkdownLoader(),
    HtmlLoader(),
    PdfLoader(),
    DocxLoader(),
    CsvLoader(),
    JsonLoader(),
    CodeLoader(),
)
"""File extension (lower case, with the dot) -> the loader for it. Add entries to extend."""


def loader_for(path: Path | str) -> Loader | None:
    """The loader for ``path``'s extension (case-insensitive), or None if none handles it."""
    return LOADERS.get(Path(path).suffix.lower())


def read_bytes(path: Path | str) -> bytes:
    """Read a file whole, turning OS errors into a LoadError that says what to do."""
    name = str(path)
    try:
        return Path(path).read_bytes()
    except PermissionError:
        raise LoadError(
            name, f"no read permission; fix with chmod (e.g. `chmod +r '{name}'`) or exclude it"
        ) from None
    except IsADirectoryError:
        raise LoadError(
            name, "is a directory, not a file; pass the directory to walk instead"
        ) from None
    except FileNotFoundError:
        raise LoadError(
            name,
            "does not exist (deleted during the run, or a broken symbolic link); check the path",
        ) from None
    except OSError as exc:
        raise LoadError(
            name, f"could not be read ({exc.strerror or exc}); check the disk or exclude it"
        ) from None


def load_file(path: Path | str, data: bytes) -> list[Document]:
    """Load ``data`` (the bytes of ``path``) with the loader for its extension.

    Raises LoadError for an extension no loader handles, for anything the loader cannot
    read, and (wrapped, with the exception type) for unexpected errors inside a loader, so
    one bad file never stops an ingest. ``MissingDependencyError`` passes through.
    """
    path = Path(path)
    loader = loader_for(path)
    if loader is None:
        known = ", ".join(sorted(LOADERS))
        raise LoadError(
            str(path),
            f"no loader for '{path.suffix or '(no extension)'}' files (supported: {known}); "
            "exclude it or register a loader in rag.connectors.LOADERS",
        )
    try:
        return loader.load(path, data)
    except RagError:
        raise
    except Exception as exc:
        raise LoadError(
            str(path),
            f"unexpected error in {type(loader).__name__} ({type(exc).__name__}: {exc}); "
            "please report it with the file if you can, and exclude the file meanwhile",
        ) from exc
