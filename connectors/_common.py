"""Small helpers shared by the loaders."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import LoadError
from rag.types import line_count, lines_are_verbatim

__all__ = [
    "blank_error",
    "line_count",
    "lines_are_verbatim",
    "number_ranges",
    "os_errors",
]


def blank_error(path: str | Path, what: str = "whitespace") -> LoadError:
    """The error for a file that decodes fine but holds no text to index."""
    return LoadError(str(path), f"contains only {what}; nothing to ingest (exclude it or add text)")


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
