"""Markdown (.md, .markdown): one Document per section, split at headings.

A section runs from a heading (ATX ``#``..``######`` or setext ``===``/``---``
underline) to the next heading of any level; its ``heading_path`` is the chain of
enclosing headings, outermost first, and its text is the section's source lines
verbatim (heading line included), so ``start_line + k`` is the source line of the
text's k-th line. ``#`` inside fenced code blocks is not a heading. YAML front matter
(a ``---`` block on the first line) is skipped; a simple ``title:`` in it becomes
``title`` metadata on every section. Sections holding only a heading are dropped
(their heading still appears in their subsections' ``heading_path``).

Approximation: a multi-line paragraph followed by a setext underline makes only its
last line the heading.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rag.connectors._common import blank_error
from rag.connectors.decoding import decode_text
from rag.types import Document, Location, Metadata

_ATX = re.compile(r"(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_SETEXT = re.compile(r"(=+|-+)[ \t]*")
_FRONT_TITLE = re.compile(r"title:[ \t]*(.*?)[ \t]*")
_NOT_PARAGRAPH = (">", "- ", "* ", "+ ", "|", "<")
_MAX_FRONT_MATTER_LINES = 200


@dataclass
class _Section:
    heading_path: tuple[str, ...]
    start: int
    """0-based index of the first line."""
    heading_lines: int
    lines: list[str] = field(default_factory=list)


class MarkdownLoader:
    """Splits Markdown into heading-delimited sections with line numbers."""

    extensions: tuple[str, ...] = (".md", ".markdown")

    def load(self, path: Path, data: bytes) -> list[Document]:
        text = decode_text(path, data)
        if not text.strip():
            raise blank_error(path)
        lines = text.split("\n")
        first, title = _front_matter(lines)
        metadata: Metadata = {"title": title} if title else {}
        sections = _split(lines, first)
        source = str(path)
        docs = [_document(source, s, metadata) for s in sections if _has_body(s)]
        if docs:
            return docs
        # Only headings: keep them all as one document rather than dropping the file.
        body = "\n".join(lines[first:]).strip("\n")
        if not body.strip():
            raise blank_error(path, "YAML front matter")
        start = first + 1 + _leading_blank(lines, first)
        return [
            Document(
                source=source,
                text=body,
                location=Location(start_line=start, end_line=start + body.count("\n")),
                metadata=metadata,
            )
        ]


def _front_matter(lines: list[str]) -> tuple[int, str | None]:
    """Index of the first line after YAML front matter (0 if none), and its simple title."""
    if not lines or lines[0].rstrip() != "---":
        return 0, None
    for i in range(1, min(len(lines), _MAX_FRONT_MATTER_LINES)):
        if lines[i].rstrip() in ("---", "..."):
            title = None
            for line in lines[1:i]:
                m = _FRONT_TITLE.fullmatch(line)
                if m:
                    value = m.group(1)
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                        value = value[1:-1]
                    if value and value[0] not in "[{|>&*!":
                        title = value
                    break
            return i + 1, title
    return 0, None


def _split(lines: list[str], first: int) -> list[_Section]:
    sections = [_Section((), first, 0)]
    stack: list[tuple[int, str]] = []
    fence: str | None = None
    prev_paragraph = False

    def open_section(level: int, heading: str, start: int, heading_lines: int) -> _Section:
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        section = _Section(tuple(h for _, h in stack if h), start, heading_lines)
        sections.append(section)
        return section

    current = sections[0]
    for i in range(first, len(lines)):
        line = lines[i]
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if fence is not None:
            current.lines.append(line)
            if indent <= 3 and stripped.startswith(fence) and not stripped.strip(fence[0]).strip():
                fence = None
            continue
        if indent <= 3 and stripped[:3] in ("```", "~~~"):
            char = stripped[0]
            fence = char * (len(stripped) - len(stripped.lstrip(char)))
            current.lines.append(line)
            prev_paragraph = False
            continue
        if indent <= 3 and stripped.startswith("#"):
            m = _ATX.fullmatch(stripped)
            if m:
                current = open_section(len(m.group(1)), (m.group(2) or "").strip(), i, 1)
                current.lines.append(line)
                prev_paragraph = False
                continue
        if (
            prev_paragraph
            and indent <= 3
            and stripped[:1] in ("=", "-")
            and current.lines
            and _SETEXT.fullmatch(stripped)
        ):
            heading_line = current.lines.pop()
            current = open_section(1 if stripped[0] == "=" else 2, heading_line.strip(), i - 1, 2)
            current.lines.extend((heading_line, line))
            prev_paragraph = False
            continue
        current.lines.append(line)
        prev_paragraph = bool(stripped) and indent < 4 and not stripped.startswith(_NOT_PARAGRAPH)
    return sections


def _has_body(section: _Section) -> bool:
    return any(line.strip() for line in section.lines[section.heading_lines :])


def _leading_blank(lines: list[str], start: int) -> int:
    n = 0
    while start + n < len(lines) and not lines[start + n].strip():
        n += 1
    return n


def _document(source: str, section: _Section, metadata: Metadata) -> Document:
    lines = section.lines
    lead = _leading_blank(lines, 0)
    end = len(lines)
    while end > lead and not lines[end - 1].strip():
        end -= 1
    start_line = section.start + 1 + lead
    return Document(
        source=source,
        text="\n".join(lines[lead:end]),
        location=Location(
            start_line=start_line,
            end_line=start_line + (end - lead) - 1,
            heading_path=section.heading_path,
        ),
        metadata=dict(metadata),
    )
