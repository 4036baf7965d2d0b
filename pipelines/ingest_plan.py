"""Ingest stage 1, plan: walk a path and diff it against the store's manifest.

``plan_file`` decides one walked file (hashing its bytes): ``new`` or ``changed`` files are
loaded, chunked, embedded and committed by the later stages, ``unchanged`` ones are left
alone, ``failed`` ones (unwalkable, unreadable, a link out of the root) are reported and
``skipped`` ones have no loader. ``removed_sources`` lists the manifest entries that the walk
positively found missing (see its docstring).

Sources are keyed by one canonical path: the file's real path (``Path.resolve()``, escaped by
``rag.connectors.source_key`` where a name is not valid UTF-8), so a file is one source
whichever spelling of its folder, or link, reached it.

``make_plan`` does both for a whole path and returns a ``Plan`` value; the local pipeline
calls ``plan_file`` as it goes instead, so hashing overlaps the work on the files before and
progress moves from the first file.

Nothing here writes: the only reads are the manifest (given as a mapping) and the files'
bytes. Every value is plain data and pickles, for an engine that ships work elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rag.connectors import (
    LoaderRegistry,
    Walk,
    WalkEntry,
    default_loaders,
    file_digest,
    source_key,
    source_path,
)
from rag.errors import LoadError
from rag.stores.base import SourceRecord

FileStatus = Literal["new", "changed", "unchanged", "failed", "skipped"]


@dataclass(frozen=True)
class PlannedFile:
    """One walked file and what the run does with it."""

    path: Path
    source: str
    """The real path (``WalkEntry.source``): the file's key in the store and its manifest;
    for a ``failed`` walk entry, the absolute path as walked (the link or folder's name)."""
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
    """Manifest sources that the walk of ``root`` positively found missing."""
    excluded_kept: int = 0
    """Manifest sources under ``root`` that exist but were not walked (excluded), kept."""

    def with_status(self, *status: FileStatus) -> list[PlannedFile]:
        return [f for f in self.files if f.status in status]

    @property
    def to_ingest(self) -> list[PlannedFile]:
        """The new and changed files, in walk order."""
        return [f for f in self.files if f.to_ingest]


@dataclass(frozen=True)
class Walked:
    """What walking one root found: its entries, and what each listed directory held."""

    root: Path
    """The root as given (``~`` expanded)."""
    entries: list[WalkEntry]
    real_root: Path
    """The root's real path (links resolved): the prefix of its files' sources."""
    listed: Mapping[Path, frozenset[str]]
    """Names in every directory the walk listed, by real path."""
    failed: frozenset[Path] = frozenset()
    """Real locations of the entries that failed (broken links, unlistable folders, ...)."""
    outside: frozenset[Path] = frozenset()
    """Real locations of the links refused because they lead out of the roots."""


def walk_files(
    root: str | Path,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    *,
    allow_roots: Sequence[Path | str] = (),
) -> Walked:
    """Every entry under ``root`` (``ConfigError`` for a missing root), and what the walk
    saw, for ``removed_sources``. Links may lead only into ``root`` or ``allow_roots``."""
    path = Path(root).expanduser()
    walk = Walk(path, include, exclude, allow_roots=allow_roots)
    entries = list(walk)
    failed, outside = frozenset(walk.failed), frozenset(walk.outside)
    return Walked(path, entries, walk.real_root, walk.listed, failed, outside)


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
    source = entry.source
    if entry.error is not None:
        return PlannedFile(entry.path, source, "failed", error=entry.error)
    if (loaders or default_loaders()).loader_for(entry.path) is None:
        return PlannedFile(entry.path, source, "skipped")
    try:
        digest = file_digest(entry.path)
    except LoadError as exc:  # its reason may quote a name that is not valid UTF-8
        return PlannedFile(entry.path, source, "failed", error=source_key(exc.reason))
    previous = manifest.get(source)
    if previous is None:
        return PlannedFile(entry.path, source, "new", digest)
    if previous.file_hash == digest and not recheck:
        return PlannedFile(entry.path, source, "unchanged", digest)
    return PlannedFile(entry.path, source, "changed", digest)


@dataclass(frozen=True)
class Pruning:
    """What a prune of one walked root removes, and how many stored files it keeps because
    they exist but were excluded from this walk."""

    removed: tuple[str, ...] = ()
    excluded_kept: int = 0


def removed_sources(
    walked: Walked, seen: Iterable[str], manifest: Mapping[str, SourceRecord]
) -> Pruning:
    """The manifest sources the walk of a directory positively found missing: the nearest
    folder above them that the walk listed lacks them (or the folder leading to them), or
    they are another spelling (an older, unresolved key) of a file found under its canonical
    one, or were read through a link that leads out of the roots (refused now). Kept: files
    that exist but were excluded, files under a folder the walk could not enter (a broken
    link, no permission), and sources outside what was walked. None for a file root."""
    if not walked.root.is_dir():
        return Pruning()
    found = set(seen)
    real_prefix = str(walked.real_root).rstrip("/") + "/"
    spellings = {str(walked.root.absolute()), os.path.normpath(walked.root.absolute())}
    old_prefixes = [p.rstrip("/") + "/" for p in spellings]
    old_prefixes = [p for p in old_prefixes if p != real_prefix]
    removed: list[str] = []
    kept = 0
    for source in manifest:
        if source in found:
            continue
        canonical = source
        for prefix in old_prefixes:
            if source.startswith(prefix):
                canonical = real_prefix + source[len(prefix) :]
                break
        if canonical != source and canonical in found:
            removed.append(source)  # the same file, now stored under its canonical key
            continue
        verdict = _missing(source_path(canonical), walked)
        if verdict == "missing":
            removed.append(source)
        elif verdict == "excluded":
            kept += 1
    return Pruning(tuple(removed), kept)


def _missing(path: Path, walked: Walked) -> str:
    """``missing`` (a folder the walk listed lacks it), ``excluded`` (present, not walked),
    ``kept`` (under a failed entry) or ``outside`` (not under anything the walk listed)."""
    listed = walked.listed
    for folder in path.parents:
        names = listed.get(folder)
        if names is None:
            continue
        child = path.relative_to(folder).parts[0]
        if child not in names or folder / child in walked.outside:
            return "missing"  # gone, or a link out of the roots (what it held is refused)
        return "kept" if folder / child in walked.failed else "excluded"
    return "outside"


def make_plan(
    root: str | Path,
    manifest: Mapping[str, SourceRecord],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    allow_roots: Sequence[Path | str] = (),
    recheck: bool = False,
    loaders: LoaderRegistry | None = None,
) -> Plan:
    """The whole plan for ``root`` at once (every file hashed)."""
    walked = walk_files(root, include, exclude, allow_roots=allow_roots)
    registry = loaders or default_loaders()
    files = tuple(plan_file(e, manifest, recheck=recheck, loaders=registry) for e in walked.entries)
    seen = (e.source for e in walked.entries if e.ok)
    pruning = removed_sources(walked, seen, manifest)
    return Plan(walked.root, files, pruning.removed, pruning.excluded_kept)
