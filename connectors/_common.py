"""Small helpers shared by the loaders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag.errors import LoadError
from rag.types import Document


def blank_error(path: str | Path, what: str = "whitespace") -> LoadError:
    """The error for a file that decodes fine but holds no text to index."""
    return LoadError(str(path), f"contains only {what}; nothing to ingest (exclude it or add text)")


def line_count(text: str) -> int:
    """Number of lines in ``text`` (a trailing newline does not start a new line)."""
    if not text:
        return 0
    return text.count("\n") + (0 if text.endswith("\n") else 1)


class PartialLoadError(LoadError):
    """Some of a file loaded and some did not (bad JSONL lines, unreadable PDF pages).

    ``documents`` holds what did load; ``failed`` names what did not (line or page
    numbers, as strings). The ingest pipeline should ingest ``documents`` and report the
    message, which lists the failures and the fix, as a failure of the file.
    """

    def __init__(
        self, path: str, message: str, *, documents: list[Document], failed: list[str]
    ) -> None:
        super().__init__(path, message)
        self.documents = documents
        self.failed = failed

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_partial, (self.path, self.reason, self.documents, self.failed))


def _rebuild_partial(
    path: str, message: str, documents: list[Document], failed: list[str]
) -> PartialLoadError:
    return PartialLoadError(path, message, documents=documents, failed=failed)


def number_ranges(numbers: list[int], limit: int = 20) -> str:
    """``[1, 2, 3, 7]`` -> ``1-3, 7``; after ``limit`` ranges, ``and N more``."""
    parts: list[str] = []
    if not numbers:
        return ""
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    if len(parts) > limit:
        return ", ".join(parts[:limit]) + f" and {len(parts) - limit} more"
    return ", ".join(parts)


def lines_are_verbatim(doc: Document) -> bool:
    """True when ``doc.text`` is the source's lines ``start_line..end_line`` verbatim, so a
    chunker may give each chunk ``start_line + (newlines before it)``. False for derived
    text (a CSV row as ``column: value`` lines, a JSONL record, extracted HTML), whose
    location a chunker must copy unchanged."""
    loc = doc.location
    if loc.start_line is None or loc.end_line is None:
        return False
    return loc.end_line - loc.start_line + 1 == line_count(doc.text)
