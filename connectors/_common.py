"""Small helpers shared by the loaders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def os_errors(path: str | Path) -> Iterator[None]:
    """Turn OS errors while opening or reading ``path`` into a LoadError that says what to do."""
    name = str(path)
    try:
        yield
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
