"""Find the files to ingest under a root, in a deterministic order.

Rules:

* A file root yields itself, whatever ``include``/``exclude`` say (it was named explicitly).
* A directory is walked recursively, entries sorted by name, so two runs see the same order.
* Hidden files and directories (name starts with ``.``) and junk directories
  (``__pycache__``, ``node_modules``, ``venv``, ...) are skipped.
* Symbolic links to files and directories are followed. A link back to a directory that
  is already being walked (a loop) yields an entry with an error instead of recursing
  forever; a broken link yields an entry with an error.
* A directory that cannot be listed yields an entry with an error. Files are not opened
  here: ``rag.connectors.read_bytes`` reports an unreadable file when it is read.
* FIFOs, sockets and device files are skipped (reading them could block forever).
* ``include``/``exclude`` are globs matched against the path relative to the root, with
  ``/`` separators: ``*`` and ``?`` stay inside one path segment, ``**`` spans any number
  of them (``docs/**/*.txt``, ``**/drafts/*``). A pattern without ``/`` matches the file
  name (or, for ``exclude``, any directory name) anywhere. A trailing ``/`` means
  "everything under". Matching is case sensitive. ``exclude`` wins over ``include``.

The walker yields every readable file whatever its extension; the ingest pipeline asks
``rag.connectors.loader_for(path)`` and counts files no loader handles as skipped.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from rag.errors import ConfigError

__all__ = ["JUNK_DIRS", "WalkEntry", "compile_globs", "walk"]

JUNK_DIRS = frozenset(
    {"__pycache__", "node_modules", ".git", ".venv", "venv", ".tox", ".mypy_cache", ".hg", ".svn"}
)
"""Directory names never descended into (hidden names are skipped anyway)."""


@dataclass(frozen=True)
class WalkEntry:
    """A file found by ``walk``, or a path it could not walk and why (``error`` set)."""

    path: Path
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _Globs:
    """A set of glob patterns compiled once into two regexes (file name, relative path)."""

    def __init__(self, patterns: Sequence[str]) -> None:
        name_parts: list[str] = []
        path_parts: list[str] = []
        for raw in patterns:
            pattern = raw.strip()
            if pattern.startswith("./"):
                pattern = pattern[2:]
            if not pattern:
                continue
            if pattern.endswith("/"):
                pattern += "**"
            if "/" in pattern:
                path_parts.append(_glob_to_regex(pattern.lstrip("/")))
            else:
                name_parts.append(_glob_to_regex(pattern))
        self._name = re.compile("|".join(f"(?:{p})" for p in name_parts)) if name_parts else None
        self._path = re.compile("|".join(f"(?:{p})" for p in path_parts)) if path_parts else None

    def __bool__(self) -> bool:
        return self._name is not None or self._path is not None

    def matches(self, rel: str, name: str) -> bool:
        """Does the path ``rel`` (relative, ``/``-separated) with file name ``name`` match?"""
        return bool(
            (self._name is not None and self._name.fullmatch(name))
            or (self._path is not None and self._path.fullmatch(rel))
        )


def compile_globs(patterns: Sequence[str]) -> _Globs:
    """Compile include/exclude patterns (see the module docstring for the syntax)."""
    return _Globs(patterns)


def _glob_to_regex(pattern: str) -> str:
    """Translate one glob to a regex: ``*``/``?`` within a segment, ``**`` across segments."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "*":
            if pattern.startswith("**", i):
                i += 2
                while i < n and pattern[i] == "*":
                    i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                    out.append("(?:.*/)?")
                else:
                    out.append(".*")
                continue
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = pattern.find("]", i + 2 if pattern[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end == -1:
                out.append(re.escape(c))
            else:
                body = pattern[i + 1 : end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


def walk(
    root: Path | str,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Iterator[WalkEntry]:
    """Yield the files under ``root`` (or ``root`` itself if it is a file); see module doc."""
    root = Path(root)
    try:
        st = root.stat()
    except FileNotFoundError:
        hint = " (it is a broken symbolic link)" if root.is_symlink() else ""
        raise ConfigError(f"{root} does not exist{hint}; check the path") from None
    except PermissionError:
        raise ConfigError(
            f"{root}: permission denied while looking it up; fix the permissions of its "
            "parent directories"
        ) from None
    if not stat.S_ISDIR(st.st_mode):
        if stat.S_ISREG(st.st_mode):
            yield WalkEntry(root)
            return
        raise ConfigError(
            f"{root} is not a regular file or directory (a FIFO, socket or device); "
            "pass a file or a directory"
        )
    yield from _walk_dir(
        root,
        "",
        compile_globs(include),
        compile_globs(exclude),
        {(st.st_dev, st.st_ino): root},
    )


def _walk_dir(
    directory: Path,
    rel_prefix: str,
    include: _Globs,
    exclude: _Globs,
    ancestors: dict[tuple[int, int], Path],
) -> Iterator[WalkEntry]:
    try:
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
    except PermissionError:
        yield WalkEntry(
            directory,
            "cannot list this directory: permission denied; fix its permissions "
            f"(e.g. `chmod +rx '{directory}'`) or exclude it",
        )
        return
    except OSError as exc:
        yield WalkEntry(
            directory,
            f"cannot list this directory ({exc.strerror or exc}); fix it or exclude it",
        )
        return

    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        rel = rel_prefix + name
        try:
            if entry.is_file(follow_symlinks=False):  # the common case: no stat call
                mode = stat.S_IFREG
            else:
                st = entry.stat()  # follows symlinks
                mode = st.st_mode
        except FileNotFoundError:
            target = _readlink(entry.path)
            yield WalkEntry(
                directory / name,
                f"broken symbolic link (points to {target!r}, which does not exist); "
                "fix or remove the link, or exclude it",
            )
            continue
        except PermissionError:
            yield WalkEntry(
                directory / name,
                "cannot look it up: permission denied; fix the permissions or exclude it",
            )
            continue
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a symlink chain that never ends
                yield WalkEntry(directory / name, _loop_message(name, None))
            else:
                yield WalkEntry(
                    directory / name, f"cannot look it up ({exc.strerror or exc}); exclude it"
                )
            continue

        if stat.S_ISDIR(mode):
            if name in JUNK_DIRS or exclude.matches(rel, name):
                continue
            path = directory / name
            key = (st.st_dev, st.st_ino)
            if key in ancestors:
                yield WalkEntry(path, _loop_message(name, ancestors[key]))
                continue
            ancestors[key] = path
            yield from _walk_dir(path, rel + "/", include, exclude, ancestors)
            del ancestors[key]
        elif stat.S_ISREG(mode):
            if exclude and exclude.matches(rel, name):
                continue
            if include and not include.matches(rel, name):
                continue
            yield WalkEntry(directory / name)
        # FIFOs, sockets, devices: skipped.


def _loop_message(name: str, ancestor: Path | None) -> str:
    where = f" back to {ancestor}" if ancestor is not None else ""
    return (
        f"symbolic link loop: it leads{where}, which is already being walked; "
        f"skipped it. Remove the link or exclude it (--exclude '{name}')"
    )


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"
