"""Find the files to ingest under a root, in a deterministic order.

Rules:

* A file root yields itself, whatever ``include``/``exclude`` say (it was named explicitly).
* A directory is walked recursively, entries sorted by name, so two runs see the same order.
* Hidden files and directories (name starts with ``.``) and junk directories
  (``__pycache__``, ``node_modules``, ``venv``, ...) are skipped.
* Root containment: nothing is read whose real path (``Path.resolve()``) is outside the
  root, or outside one of the ``allow_roots`` given. A symbolic link (to a file or a
  directory) whose target is elsewhere yields an entry with an error naming the link and
  how to allow it; links that stay inside are followed. A link back to a directory that
  is already being walked (a loop) yields an entry with an error instead of recursing
  forever; a broken link yields an entry with an error.
* Each file is yielded once, by the first path (in walk order) that reaches it, with its
  real path (``WalkEntry.real``); ``WalkEntry.source`` is the key ingest stores it under.
  ``WalkEntry.root`` is the real directory it is recorded under: the root's real path (for a
  file root, the real file's parent directory), or the allowed root a link led into (the
  innermost one); ``WalkEntry.rel_path`` is its path relative to that, ``/``-separated.
* ``Walk`` also records the names each directory held (``Walk.listed``, by real path), so
  a caller can tell a file that is gone from one the walk did not look at (excluded,
  hidden, under a broken link).
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

__all__ = ["JUNK_DIRS", "Walk", "WalkEntry", "compile_globs", "source_key", "source_path", "walk"]

JUNK_DIRS = frozenset(
    {"__pycache__", "node_modules", ".git", ".venv", "venv", ".tox", ".mypy_cache", ".hg", ".svn"}
)
"""Directory names never descended into (hidden names are skipped anyway)."""


def source_key(path: Path | str) -> str:
    """The string a path is stored under: the path itself, except that bytes of a file name
    that are not valid UTF-8 (``os.fsdecode`` turns them into lone surrogates, which no store
    can hold) are written ``\\xNN`` (``caf\\xe9.md``). ``source_path`` reverses it."""
    text = str(path)
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


_ESCAPED = re.compile(rb"\\x([89a-f][0-9a-f])")


def source_path(key: str) -> Path:
    """The path ``source_key`` made ``key`` from. The one ambiguity: a name that is valid
    UTF-8 but literally spells ``\\xNN`` escapes of bytes that are not; it reads as those."""
    if "\\x" not in key:
        return Path(key)
    raw = _ESCAPED.sub(lambda m: bytes([int(m.group(1), 16)]), key.encode("utf-8"))
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return Path(os.fsdecode(raw))
    return Path(key)


@dataclass(frozen=True)
class WalkEntry:
    """A file found by ``walk``, or a path it could not walk and why (``error`` set)."""

    path: Path
    error: str | None = None
    real: Path | None = None
    """The file's real path (symbolic links resolved); None for an error entry."""
    root: Path | None = None
    """The real directory the file is recorded under (see the module docstring); None for an
    error entry."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def root_key(self) -> str:
        """``source_key`` of ``root`` ('' for an error entry)."""
        return "" if self.root is None else source_key(self.root)

    @property
    def rel_path(self) -> str:
        """The file's ``/``-separated path relative to ``root`` (``source_key`` form; '' for
        an error entry)."""
        if self.real is None or self.root is None:
            return ""
        return source_key(self.real.relative_to(self.root).as_posix())

    @property
    def source(self) -> str:
        """The key ingest stores this file under: ``source_key`` of its real path (of the
        absolute path as walked, for an error entry, which names the link or directory)."""
        return source_key(self.real if self.real is not None else self.path.absolute())


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
    *,
    allow_roots: Sequence[Path | str] = (),
) -> Iterator[WalkEntry]:
    """Yield the files under ``root`` (or ``root`` itself if it is a file); see module doc."""
    return iter(Walk(root, include, exclude, allow_roots=allow_roots))


class Walk:
    """One walk of ``root``: iterate it once for the entries; afterwards ``listed`` holds,
    by real path, the names every directory it listed contained (walked or not)."""

    def __init__(
        self,
        root: Path | str,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        *,
        allow_roots: Sequence[Path | str] = (),
    ) -> None:
        self.root = Path(root)
        self.real_root = _realpath(self.root)
        self.allowed = (self.real_root, *(_realpath(Path(r).expanduser()) for r in allow_roots))
        """Real directories a file may be in: the root's and the allowed ones."""
        self.include = compile_globs(include)
        self.exclude = compile_globs(exclude)
        self.listed: dict[Path, frozenset[str]] = {}
        self.failed: set[Path] = set()
        """Real locations (links not followed) of the entries yielded with an error."""
        self.outside: set[Path] = set()
        """Real locations of the links refused because they lead out of the roots."""
        self._yielded: set[Path] = set()

    def contains(self, real: Path) -> bool:
        """Is the real path ``real`` inside the root or an allowed root?"""
        return any(real == a or real.is_relative_to(a) for a in self.allowed)

    def _root_of(self, real: Path) -> Path:
        """The root a file inside the roots is recorded under: the walked root when it holds
        the file, else the innermost allowed root that does."""
        if real.is_relative_to(self.real_root):
            return self.real_root
        holding = [a for a in self.allowed[1:] if real.is_relative_to(a)]
        return max(holding, key=lambda a: len(a.parts)) if holding else real.parent

    def __iter__(self) -> Iterator[WalkEntry]:
        root = self.root
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
                yield WalkEntry(root, real=self.real_root, root=self.real_root.parent)
                return
            raise ConfigError(
                f"{root} is not a regular file or directory (a FIFO, socket or device); "
                "pass a file or a directory"
            )
        ancestors = {(st.st_dev, st.st_ino): root}
        yield from self._walk_dir(root, self.real_root, "", ancestors)

    def _walk_dir(
        self,
        directory: Path,
        real_dir: Path,
        rel_prefix: str,
        ancestors: dict[tuple[int, int], Path],
    ) -> Iterator[WalkEntry]:
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except PermissionError:
            yield self._fail(
                directory,
                real_dir,
                "cannot list this directory: permission denied; fix its permissions "
                f"(e.g. `chmod +rx '{directory}'`) or exclude it",
            )
            return
        except OSError as exc:
            yield self._fail(
                directory,
                real_dir,
                f"cannot list this directory ({exc.strerror or exc}); fix it or exclude it",
            )
            return
        self.listed[real_dir] = frozenset(e.name for e in entries)
        include, exclude = self.include, self.exclude

        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            rel = rel_prefix + name
            path, here = directory / name, real_dir / name
            try:
                if entry.is_file(follow_symlinks=False):  # the common case: no stat call
                    mode = stat.S_IFREG
                else:
                    st = entry.stat()  # follows symlinks
                    mode = st.st_mode
            except FileNotFoundError:
                yield self._fail(path, here, _broken_message(entry.path))
                continue
            except PermissionError:
                yield self._fail(
                    path,
                    here,
                    "cannot look it up: permission denied; fix the permissions or exclude it",
                )
                continue
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a symlink chain that never ends
                    yield self._fail(path, here, _loop_message(name, None))
                else:
                    message = f"cannot look it up ({exc.strerror or exc}); exclude it"
                    yield self._fail(path, here, message)
                continue

            is_dir, is_file = stat.S_ISDIR(mode), stat.S_ISREG(mode)
            if is_dir and (name in JUNK_DIRS or exclude.matches(rel, name)):
                continue
            if is_file and (
                (exclude and exclude.matches(rel, name))
                or (include and not include.matches(rel, name))
            ):
                continue
            if not (is_dir or is_file):
                continue  # FIFOs, sockets, devices: skipped
            real = here
            if entry.is_symlink():
                real = _realpath(path)
                if not self.contains(real):
                    self.outside.add(here)
                    yield self._fail(path, here, self._outside_message(real, is_dir))
                    continue
            if is_dir:
                key = (st.st_dev, st.st_ino)
                if key in ancestors:
                    yield self._fail(path, here, _loop_message(name, ancestors[key]))
                    continue
                ancestors[key] = path
                yield from self._walk_dir(path, real, rel + "/", ancestors)
                del ancestors[key]
            elif real not in self._yielded:  # a file reached twice is yielded once
                self._yielded.add(real)
                yield WalkEntry(path, real=real, root=self._root_of(real))

    def _fail(self, path: Path, here: Path, error: str) -> WalkEntry:
        """An error entry for ``path`` (real location ``here``), remembered in ``failed``."""
        self.failed.add(here)
        return WalkEntry(path, source_key(error))  # a name in it may not be valid UTF-8

    def _outside_message(self, real: Path, is_dir: bool) -> str:
        what = "directory" if is_dir else "file"
        allow = real if is_dir else real.parent
        return (
            f"symbolic link to the {what} {source_key(real)}, outside the ingested root "
            f"{source_key(self.real_root)}; not read. To ingest it, allow its directory "
            f"(setting allow_roots, --allow-root '{source_key(allow)}'), ingest it directly, "
            "or remove or exclude the link"
        )


def _realpath(path: Path | str) -> Path:
    """``Path.resolve()`` that never raises on a symbolic link loop (``os.path.realpath``)."""
    return Path(os.path.realpath(path))


def _broken_message(path: str) -> str:
    return (
        f"broken symbolic link (points to {source_key(_readlink(path))!r}, which does not "
        "exist); fix or remove the link, or exclude it. Files stored from it are kept until "
        "then"
    )


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
