"""HTML (.html, .htm): visible text split into sections at ``<h1>``..``<h6>``.

Uses the standard library's ``html.parser`` (no lxml/bs4). ``script``, ``style``,
``nav``, ``noscript``, ``template`` and ``svg`` are dropped. Block elements end a
paragraph (blank line between blocks), ``<br>`` ends a line, table cells are joined
with `` | ``. Each section's ``heading_path`` is the chain of enclosing headings and
``start_line`` the source line of its heading. Bytes are decoded with the
``<meta charset>`` the page declares, else with ``decode_text``. ``<title>`` becomes
``title`` metadata.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from rag.connectors._common import blank_error
from rag.connectors.decoding import decode_text, normalize_newlines
from rag.errors import LoadError
from rag.types import Document, Location, Metadata

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE
)
_WS = re.compile(r"\s+")

_SKIP = frozenset({"script", "style", "nav", "noscript", "template", "svg"})
_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "dd", "details",
        "dialog", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
        "header", "hr", "html", "li", "main", "ol", "p", "pre", "section", "summary",
        "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_CELLS = frozenset({"td", "th"})


@dataclass
class _Section:
    heading_path: tuple[str, ...]
    start_line: int
    blocks: list[str] = field(default_factory=list)
    has_body: bool = False


class _TextExtractor(HTMLParser):
    """Collects visible text as blocks grouped into heading sections."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections = [_Section((), 1)]
        self.title: str | None = None
        self._stack: list[tuple[int, str]] = []
        self._inline: list[str] = []
        self._skip_depth = 0
        self._pre_depth = 0
        self._in_title = False
        self._title_parts: list[str] = []
        self._heading: tuple[int, int] | None = None  # (level, line) while inside <hN>
        self._row_cells = 0

    # --- block assembly -------------------------------------------------------------
    def _flush(self) -> None:
        if not self._inline:
            return
        raw = "".join(self._inline)
        self._inline = []
        if self._pre_depth:
            block = raw.strip("\n")
        else:
            block = "\n".join(line.strip() for line in raw.split("\n") if line.strip())
        if block.strip():
            section = self.sections[-1]
            section.blocks.append(block)
            section.has_body = True

    # --- parser callbacks -----------------------------------------------------------
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
            return
        if self._skip_depth:
            return
        if tag == "title" and self.title is None:
            self._in_title = True
            return
        if tag in _HEADINGS:
            self._flush()
            self._heading = (_HEADINGS[tag], self.getpos()[0])
        elif tag == "br":
            self._inline.append("\n")
        elif tag in _CELLS:
            if self._row_cells:
                self._inline.append(" | ")
            self._row_cells += 1
        elif tag in _BLOCK:
            self._flush()
            if tag == "tr":
                self._row_cells = 0
            elif tag == "pre":
                self._pre_depth += 1

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" and not self._skip_depth:
            self._inline.append("\n")
        elif tag in _BLOCK and not self._skip_depth:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            title = _WS.sub(" ", "".join(self._title_parts)).strip()
            self.title = title or None
            return
        if tag in _SKIP:
            if self._skip_depth:
                self._skip_depth -= 1
            return
        if self._skip_depth:
            return
        if tag in _HEADINGS and self._heading is not None:
            level, line = self._heading
            self._heading = None
            text = _WS.sub(" ", "".join(self._inline)).strip()
            self._inline = []
            while self._stack and self._stack[-1][0] >= level:
                self._stack.pop()
            self._stack.append((level, text))
            section = _Section(tuple(h for _, h in self._stack if h), line)
            if text:
                section.blocks.append(text)
            self.sections.append(section)
        elif tag in _BLOCK:
            self._flush()
            if tag == "pre" and self._pre_depth:
                self._pre_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title_parts.append(data)
        elif not self._skip_depth:
            self._inline.append(data if self._pre_depth else _WS.sub(" ", data))

    def close(self) -> None:
        super().close()
        self._flush()


class HtmlLoader:
    """Extracts readable text from an HTML page, one Document per heading section."""

    extensions: tuple[str, ...] = (".html", ".htm")

    def load(self, path: Path, data: bytes) -> list[Document]:
        text = _decode_html(path, data)
        parser = _TextExtractor()
        try:
            parser.feed(text)
            parser.close()
        except Exception as exc:  # html.parser is lenient; this is a safety net
            raise LoadError(
                str(path), f"could not parse HTML ({type(exc).__name__}: {exc}); fix or exclude it"
            ) from None
        metadata: Metadata = {"title": parser.title} if parser.title else {}
        source = str(path)
        docs = [
            Document(
                source=source,
                text="\n\n".join(s.blocks),
                location=Location(start_line=s.start_line, heading_path=s.heading_path),
                metadata=dict(metadata),
            )
            for s in parser.sections
            if s.has_body
        ]
        if not docs:
            raise blank_error(path, "markup and no visible text")
        return docs


def _decode_html(path: Path, data: bytes) -> str:
    """Honor a declared ``<meta charset>`` (unless a BOM says otherwise), else sniff."""
    if data and not data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        m = _META_CHARSET.search(data, 0, 4096)
        if m and b"\x00" not in data[:4096]:
            name = m.group(1).decode("ascii").lower()
            if name in ("euc-kr", "ks_c_5601-1987", "ksc5601"):
                name = "cp949"  # browsers read EUC-KR labels as CP949 (WHATWG Encoding)
            elif name in ("iso-8859-1", "latin1", "latin-1", "us-ascii", "ascii"):
                name = "cp1252"  # likewise for Latin-1 and ASCII labels
            try:
                return normalize_newlines(data.decode(name))
            except (LookupError, UnicodeDecodeError):
                pass  # unknown label or a wrong declaration: sniff instead
    return decode_text(path, data)
