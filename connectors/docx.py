"""Word documents (.docx): sections split at "Heading N" (and "Title") paragraphs.

Uses python-docx. Paragraphs and tables are read in document order; a table becomes one
block with a row per line and cells joined by `` | `` (merged cells once). Each section
carries the ``heading_path`` of the headings enclosing it; there are no line numbers in
a .docx, so that path is the citation. The core-properties title becomes ``title``
metadata. Legacy binary ``.doc`` files are not read: save them as .docx.

A .docx is a zip archive: before parsing, the sizes its members declare are summed (zipfile
never inflates a member past its declared size), and an archive that would inflate past
``MAX_UNCOMPRESSED`` bytes, or past ``MAX_RATIO`` times its own size once over
``RATIO_FLOOR`` bytes (a zip bomb), is refused with a LoadError naming the file.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rag.connectors._common import blank_error
from rag.errors import LoadError
from rag.types import Document, Location, Metadata

MAX_UNCOMPRESSED = 128 * 1024 * 1024
"""Largest total uncompressed size of a .docx's members (bytes): far above any real one."""
MAX_RATIO = 200
"""Largest uncompressed/compressed ratio once over ``RATIO_FLOOR`` (real documents: < 20)."""
RATIO_FLOOR = 16 * 1024 * 1024


def check_archive(name: str, data: bytes) -> None:
    """Refuse a zip whose members would inflate too far (see the module docstring)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise LoadError(
            name,
            f"not a readable .docx (not a zip archive: {exc}); re-save it as .docx "
            "(Word or LibreOffice) or exclude it",
        ) from None
    mib = total / (1024 * 1024)
    if total > MAX_UNCOMPRESSED:
        raise LoadError(
            name,
            f"inflates to {mib:,.0f} MiB, over the {MAX_UNCOMPRESSED // (1024 * 1024)} MiB "
            ".docx limit (a zip bomb, or a document to split); exclude it",
        )
    if total > RATIO_FLOOR and total > MAX_RATIO * max(1, len(data)):
        raise LoadError(
            name,
            f"inflates {total // max(1, len(data)):,} times its size ({mib:,.0f} MiB), over "
            f"the {MAX_RATIO}:1 .docx limit (likely a zip bomb); exclude it",
        )


@dataclass
class _Section:
    heading_path: tuple[str, ...]
    blocks: list[str] = field(default_factory=list)
    has_body: bool = False


class DocxLoader:
    """Extracts paragraphs and tables from a .docx, one Document per heading section."""

    extensions: tuple[str, ...] = (".docx",)

    def load(self, path: Path, data: bytes) -> list[Document]:
        name = str(path)
        if not data:
            raise LoadError(name, "empty file (0 bytes); nothing to ingest")
        check_archive(name, data)
        import docx

        try:
            document = docx.Document(io.BytesIO(data))
            sections = _sections(document)
            title = document.core_properties.title
        except Exception as exc:
            raise LoadError(
                name,
                f"not a readable .docx ({type(exc).__name__}: {exc}); re-save it as .docx "
                "(Word or LibreOffice; an old binary .doc must be converted) or exclude it",
            ) from None
        metadata: Metadata = {"title": title.strip()[:200]} if title and title.strip() else {}
        docs = [
            Document(
                source=name,
                text="\n\n".join(s.blocks),
                location=Location(heading_path=s.heading_path),
                metadata=dict(metadata),
            )
            for s in sections
            if s.has_body
        ]
        if docs:
            return docs
        headings = [b for s in sections for b in s.blocks]
        if not headings:
            raise blank_error(path, "empty paragraphs")
        return [Document(source=name, text="\n\n".join(headings), metadata=metadata)]


def _heading_level(paragraph: Any) -> int | None:
    """0 for "Title", N for "Heading N", None for body paragraphs."""
    style = paragraph.style
    style_name = style.name if style is not None else None
    if not style_name:
        return None
    if style_name == "Title":
        return 0
    if style_name.startswith("Heading "):
        suffix = style_name[8:].strip()
        if suffix.isdigit():
            return int(suffix)
    return None


def _sections(document: Any) -> list[_Section]:
    from docx.table import Table

    sections = [_Section(())]
    stack: list[tuple[int, str]] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            text = _table_text(block)
            if text:
                sections[-1].blocks.append(text)
                sections[-1].has_body = True
            continue
        text = block.text.strip()
        if not text:
            continue
        level = _heading_level(block)
        if level is None:
            sections[-1].blocks.append(text)
            sections[-1].has_body = True
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
        sections.append(_Section(tuple(h for _, h in stack), [text]))
    return sections


def _table_text(table: Any) -> str:
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            key = id(cell._tc)  # a merged cell appears once per grid column it spans
            if key in seen:
                continue
            seen.add(key)
            cells.append(" ".join(cell.text.split()))
        if any(cells):
            rows.append(" | ".join(cells))
    return "\n".join(rows)
