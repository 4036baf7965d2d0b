"""Plain text (.txt, .text, .rst, .log): one Document per file, lines 1..N."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from rag.connectors._common import blank_error, line_count
from rag.connectors.decoding import decode_text, read_text
from rag.types import Document, Location


class TextLoader:
    """Reads a text file whole; chunking splits it later.

    ``iter_load`` (what ingest uses) gives the same Document from the open file in less
    memory: the bytes are freed as soon as they are decoded (``read_text``), so a huge file
    never has its bytes, its text and a copy of either alive at once."""

    extensions: tuple[str, ...] = (".txt", ".text", ".rst", ".log")

    def load(self, path: Path, data: bytes) -> list[Document]:
        return [_document(path, decode_text(path, data))]

    def iter_load(self, path: Path, file: BinaryIO) -> Iterator[Document]:
        yield _document(path, read_text(path, file))


def _document(path: Path, text: str) -> Document:
    """The file's one Document; LoadError when it holds only whitespace (checked without
    the copy ``text.strip()`` would make)."""
    if not text or text.isspace():
        raise blank_error(path)
    return Document(
        source=str(path),
        text=text,
        location=Location(start_line=1, end_line=line_count(text)),
    )
