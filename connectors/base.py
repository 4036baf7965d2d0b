"""The Loader protocol: turn one file's bytes into Documents.

Contract: a loader declares the file ``extensions`` it reads (lower case, with the dot)
and implements ``load(path, data)``. It gets the raw bytes (already read once by the
walker, which hashes them for incremental ingest) and returns Documents whose
``source`` is ``str(path)`` and whose ``location`` says where each text sits (page,
line range, heading path, record id). It raises ``rag.errors.LoadError`` naming the
file and the fix for anything it cannot read; it never returns mojibake. Adding a file
type is one small module with one class, registered in ``rag.connectors.LOADERS``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from rag.types import Document


@runtime_checkable
class Loader(Protocol):
    """Reads one file type."""

    extensions: tuple[str, ...]

    def load(self, path: Path, data: bytes) -> list[Document]:
        """Parse ``data`` (the bytes of ``path``) into Documents."""
        ...
