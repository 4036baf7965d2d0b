"""Ingest stage 1, plan: walk a path and diff it against the store's manifest.

``plan_file`` decides one walked file (hashing its bytes): ``new`` or ``changed`` files are
loaded, chunked, embedded and committed by the later stages, ``unchanged`` ones are left
alone, ``failed`` ones (unwalkable, unreadable) are reported and ``skipped`` ones have no
loader. ``removed_sources`` lists the manifest entries under an ingested directory that the
walk no longer found. ``make_plan`` does both for a whole path and returns a ``Plan`` value;
the local pipeline calls ``plan_file`` as it goes instead, so hashing overlaps the work on
the files before and progress moves from the first file.

Nothing here writes: the only reads are the manifest (given as a mapping) and the files'
bytes. Every value is plain data and pickles, for an engine that ships work elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rag.connectors import LoaderRegistry, WalkEntry, default_loaders, file_digest, walk
from rag.errors import LoadError
from rag.stores.base import SourceRecord

FileStatus = Literal["new", "changed", "unchanged", "failed", "skipped"]


@dataclass(frozen=True)
class PlannedFile:
    """One walked file and what the run does with it."""

    path: Path
    source: str
    """The absolute path: the file's key in the store and its manifest."""
    status: FileStatus
    file_hash: str = ""
    """SHA-256 of the bytes (``new``, ``changed``, ``unchanged``)."""
    error: str = ""
    """Why it failed (``failed``)."""

    @property
    def to_ingest(self) -> bool:
        """True for a new or changed file: the later stages load, embed and commit it."""
        return self.status in ("new", "changed")


@dataclass(frozen=True)
class Plan:
    """Everything one ingest run has to do, in walk order, and the sources to prune."""

    root: Path
    files: tuple[PlannedFile, ...]
    removed: tuple[str, ...] = ()
    """Manifest sources under ``root`` (a directory) that the walk did not find."""

    def with_status(self, *status: FileStatus) -> list[PlannedFile]:
        return [f for f in self.files if f.status in status]

    @property
    def to_ingest(self) -> list[PlannedFile]:
        """The new and changed files, in walk order."""
        return [f for f in self.files if f.to_ingest]


def walk_files(
    root: str | Path, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> tuple[Path, list[WalkEntry]]:
    """The expanded root and every entry under it (``ConfigError`` for a missing root)."""
    path = Path(root).expanduser()
    return path, list(walk(path, include, exclude))


def plan_file(
    entry: WalkEntry,
    manifest: Mapping[str, SourceRecord],
    *,
    recheck: bool = False,
    loaders: LoaderRegistry | None = None,
) -> PlannedFile:
    """Decide one walked file: skipped (no loader), failed, unchanged (its hash is in the
    manifest, unless ``recheck``: re-read every file, e.g. to fill missing keyword rows),
    new or changed."""
    source = str(entry.path.absolute())
    if entry.error is not None:
        return PlannedFile(entry.path, source, "failed", error=entry.error)
    if (loaders or default_loaders()).loader_for(entry.path) is None:
        return PlannedFile(entry.path, source, "skipped")
    try:
        digest = file_digest(entry.path)
    except LoadError as exc:
        return PlannedFile(entry.path, source, "failed", error=exc.reason)
    previous = manifest.get(source)
    if previous is None:
        return PlannedFile(entry.path, source, "new", digest)
    if previous.file_hash == digest and not recheck:
        return PlannedFile(entry.path, source, "unchanged", digest)
    return PlannedFile(entry.path, source, "changed", digest)


def removed_sources(
    root: Path, seen: Iterable[str], manifest: Mapping[str, SourceRecord]
) -> list[str]:
    """Manifest sources under the directory ``root`` not among ``seen`` (none for a file)."""
    if not root.is_dir():
        return []
    prefix = str(root.absolute()).rstrip("/") + "/"
    found = set(seen)
    return [s for s in manifest if s.startswith(prefix) and s not in found]


def make_plan(
    root: str | Path,
    manifest: Mapping[str, SourceRecord],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    recheck: bool = False,
    loaders: LoaderRegistry | None = None,
) -> Plan:
    """The whole plan for ``root`` at once (every file hashed)."""
    path, entries = walk_files(root, include, exclude)
    registry = loaders or default_loaders()
    files = tuple(plan_file(e, manifest, recheck=recheck, loaders=registry) for e in entries)
    removed = removed_sources(path, (f.source for f in files), manifest)
    return Plan(path, files, tuple(removed))
