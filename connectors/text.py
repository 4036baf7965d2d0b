"""Plain text (.txt, .text, .rst, .log): one Document per file, lines 1..N."""

from __future__ import annotations

from pathlib import Path

from rag.connectors._common import blank_error, line_count
from rag.connectors.decoding import decode_text
from rag.types import Document, Location


class TextLoader:
    """Reads a text file whole; chunking splits it later."""

    extensions: tuple[str, ...] = (".txt", ".text", ".rst", ".log")

    def load(self, path: Path, data: bytes) -> list[Document]:
        text = decode_text(path, data)
        if not text.strip():
            raise blank_error(path)
        return [
            Document(
                source=str(path),
                text=text,
                location=Location(start_line=1, end_line=line_count(text)),
            )
        ]
