"""The Loader protocol: turn one file's bytes into Documents.

Contract: a loader declares the file ``extensions`` it reads (lower case, with the dot)
and implements ``load(path, data)``. It gets the raw bytes (already read once by the
walker, which hashes them for incremental ingest) and returns Documents whose
``source`` is ``str(path)`` and whose ``location`` says where each text sits (page,
line range, heading path, record id). It raises ``rag.errors.LoadError`` naming the
file and the fix for anything it cannot read; it never returns mojibake. Adding a file
type is one small module with one class, registered in a ``rag.connectors.LoaderRegistry``.

A loader whose files can be too large to hold in memory (JSON Lines) also implements
``iter_load(path, file)`` (``StreamingLoader``): it reads the open binary file as it goes
and yields the same Documents ``load`` would return, one at a time. Records that fail
are reported after the last good one by raising ``PartialLoadError`` with no
``documents`` (they were yielded already); ``rag.connectors.iter_file`` turns that into
``DocumentStream.failure``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol, runtime_checkable

from rag.types import Document


@runtime_checkable
class Loader(Protocol):
    """Reads one file type."""

    extensions: tuple[str, ...]

    def load(self, path: Path, data: bytes) -> list[Document]:
        """Parse ``data`` (the bytes of ``path``) into Documents."""
        ...


@runtime_checkable
class StreamingLoader(Loader, Protocol):
    """A loader that can also read a file lazily, in memory bounded by one record."""

    def iter_load(self, path: Path, file: BinaryIO) -> Iterator[Document]:
        """Yield the Documents of ``path`` read from ``file`` (open, binary, seekable, at 0)."""
        ...
