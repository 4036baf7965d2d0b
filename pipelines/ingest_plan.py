"""Ingest stage 1, plan: walk a path and diff it against the store's manifest.

``plan_file`` decides one walked file (hashing its bytes): ``new`` or ``changed`` files are
loaded, chunked, embedded and committed by the later stages, ``unchanged`` ones are left
alone, ``failed`` ones (unwalkable, unreadable, a link out of the root) are reported and
``skipped`` ones have no loader. Two more statuses reuse stored vectors instead of embedding:
``moved`` (a new key whose file the manifest has under a gone path: same relative path, same
content; see ``Moves``) and ``rerooted`` (unchanged, but stored with another root or none);
a ``new`` file whose bytes a stored one has (a copy) takes that one's vectors too.
``removed_sources`` lists the manifest entries that the walk positively found missing (see
its docstring), ``moved_leftovers`` those a moved root left behind.

Sources are keyed by one canonical path: the file's real path (``Path.resolve()``, escaped by
``rag.connectors.source_key`` where a name is not valid UTF-8), so a file is one source
whichever spelling of its folder, or link, reached it, and two roots never share a key. Each
is recorded with its root (the real directory given, an allowed root a link led into, or a
single file's parent) and its path relative to it (``WalkEntry.root``, ``rel_path``). A file
keeps the widest root it was ingested under: ingesting ``c`` after ``c/sub`` re-roots
``c/sub``'s files to ``c`` (``sub/x.md``), ingesting ``c/sub`` or one file of it again keeps
``c``, so citations do not flip between runs.

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

FileStatus = Literal["new", "changed", "unchanged", "moved", "rerooted", "failed", "skipped"]

_TO_INGEST: frozenset[str] = frozenset({"new", "changed", "moved", "rerooted"})


@dataclass(frozen=True)
class PlannedFile:
    """One walked file and what the run does with it."""

    path: Path
    source: str
    """The real path (``WalkEntry.source``): the file's key in the store and its manifest;
    for a ``failed`` walk entry, the absolute path as walked (the link or folder's name)."""
    status: FileStatus
    file_hash: str = ""
    """SHA-256 of the bytes (``new``, ``changed``, ``unchanged``, ``moved``, ``rerooted``)."""
    error: str = ""
    """Why it failed (``failed``)."""
    root: str = ""
    """The real directory it is recorded under (``source_key`` form; module docstring)."""
    rel_path: str = ""
    """Its ``/``-separated path relative to ``root``."""
    moved_from: str = ""
    """The stored source this file is found again as (a gone path with the same relative path
    and content): a ``moved`` file takes its vectors, and once this file is recorded the old
    entry is deleted (also for an ``unchanged`` one whose move a crash left unfinished)."""
    copy_of: str = ""
    """A stored source with the same bytes (``Moves.copy_of``): a ``new`` file takes its
    vectors by content hash and embeds only what they do not cover."""
    rewrite: bool = False
    """Its stored chunks carry another root or relative path (stored by a version that
    recorded none, or under a narrower root): every chunk is written again, with its stored
    vector (``rerooted``, or ``changed``)."""
    embedder: str = ""
    """The embedder recorded with the stored vectors it may reuse: its manifest entry keeps
    this one when nothing of it is embedded."""

    @property
    def to_ingest(self) -> bool:
        """True for a new, changed, moved or re-rooted file: the later stages load, chunk and
        commit it (embedding only what no stored vector covers)."""
        return self.status in _TO_INGEST

    @property
    def reuse(self) -> str:
        """The stored source whose vectors its chunks take by content hash before anything is
        embedded: the old key of a moved file, its own for one rewritten, a stored copy's
        for a new one, else ''."""
        if self.status == "moved":
            return self.moved_from
        return self.source if self.rewrite else self.copy_of


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
    moves: Moves | None = None,
) -> PlannedFile:
    """Decide one walked file: skipped (no loader), failed, unchanged (its hash is in the
    manifest, unless ``recheck``: re-read every file, e.g. to fill missing keyword rows),
    rerooted (unchanged, stored under another root), moved (new here, found in ``moves``),
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
    root, rel = entry.root_key, entry.rel_path
    previous = manifest.get(source)
    if previous is None:
        old = moves.claim(rel, digest, source, root) if moves is not None else None
        if old is not None:
            return PlannedFile(
                entry.path,
                source,
                "moved",
                digest,
                root=root,
                rel_path=rel,
                moved_from=old.source,
                embedder=old.embedder,
            )
        same = moves.copy_of(digest, source) if moves is not None else None
        return PlannedFile(
            entry.path,
            source,
            "new",
            digest,
            root=root,
            rel_path=rel,
            copy_of=same.source if same is not None else "",
            embedder=same.embedder if same is not None else "",
        )
    root, rel = _kept_root(previous, root, rel)
    rewrite = (previous.root, previous.rel_path) != (root, rel)
    status: FileStatus = "changed"
    moved_from = ""
    if previous.file_hash == digest and not recheck:
        status = "rerooted" if rewrite else "unchanged"
        old = moves.claim(rel, digest, source, root) if moves is not None else None
        moved_from = "" if old is None else old.source  # a move a crash left unfinished
    return PlannedFile(
        entry.path,
        source,
        status,
        digest,
        root=root,
        rel_path=rel,
        moved_from=moved_from,
        rewrite=rewrite,
        embedder=previous.embedder,
    )


def _kept_root(previous: SourceRecord, root: str, rel: str) -> tuple[str, str]:
    """The root and relative path to record for a stored file walked under ``root``: the
    stored ones when their root is wider (holds ``root``), else the walked ones."""
    if (
        previous.root
        and previous.rel_path
        and (root == previous.root or _under(root, previous.root))
    ):
        return previous.root, previous.rel_path
    return root, rel


def _under(path: str, folder: str) -> bool:
    """Is ``path`` strictly inside ``folder`` (both real, ``source_key`` strings)?"""
    return path.startswith(folder.rstrip("/") + "/")


@dataclass(frozen=True)
class Claim:
    """A stored entry found again under another root: where it went, and the two roots."""

    new: str
    """The source (real path) of the walked file that claimed it."""
    old_root: str
    """The root it was recorded under (for an entry that recorded none, what precedes its
    relative path in its source)."""
    new_root: str
    """The root of the walked file."""


class Moves:
    """The manifest entries a moved or renamed root may have left: those whose file is gone
    (``os.lstat`` finds nothing there; a file that cannot be looked up is not taken for gone),
    found again by relative path and content hash. ``claim`` hands each out at most once, to
    the first walked file with the same hash and the same path relative to its root (for an
    entry stored before roots were recorded: whose source ends with that path); ``claimed``
    keeps each claim (for ``moved_leftovers`` and ``Committer.conclude``).

    A gone file found again under another root is taken as moved even when its old root was
    only unmounted: its vectors are reused and its old entry goes; ingesting the old root
    again, once back, embeds it anew (nothing is lost, some work is redone)."""

    def __init__(self, manifest: Mapping[str, SourceRecord]) -> None:
        self._by_key: dict[tuple[str, str], list[SourceRecord]] = {}
        self._by_hash: dict[str, SourceRecord] = {}
        for record in sorted(manifest.values(), key=lambda r: r.source):
            key = (_name(record.source), record.file_hash)
            self._by_key.setdefault(key, []).append(record)
            self._by_hash.setdefault(record.file_hash, record)
        self.claimed: dict[str, Claim] = {}
        """Old source -> its claim."""

    def claim(self, rel_path: str, file_hash: str, source: str, root: str) -> SourceRecord | None:
        """A stored entry, at a gone path, of the walked file ``source`` (``rel_path`` under
        its ``root``, content ``file_hash``), or None."""
        if not rel_path:
            return None
        for record in self._by_key.get((_name(rel_path), file_hash), ()):
            old = record.source
            if old == source or old in self.claimed:
                continue
            if record.root:
                if record.rel_path != rel_path:
                    continue
                old_root = record.root
            elif old.endswith("/" + rel_path):
                old_root = old[: len(old) - len(rel_path) - 1] or "/"
            else:
                continue
            if _gone(old):
                self.claimed[old] = Claim(source, old_root, root)
                return record
        return None

    def copy_of(self, file_hash: str, source: str) -> SourceRecord | None:
        """A stored entry with the same bytes as the new file ``source`` (a copy: a second
        clone, a mirrored folder, an unchanged page of another docs version), whose vectors
        it takes by content hash instead of embedding; it is neither claimed nor deleted."""
        record = self._by_hash.get(file_hash)
        return record if record is not None and record.source != source else None


def _name(path: str) -> str:
    """The last component of a ``/``-separated path."""
    return path.rsplit("/", 1)[-1]


def _join(root: str, rel_path: str) -> str:
    return root.rstrip("/") + "/" + rel_path


def _gone(source: str) -> bool:
    """True when nothing is at ``source`` any more (not when it cannot be looked up)."""
    try:
        os.lstat(source_path(source))
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


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


def moved_leftovers(
    walked: Walked,
    manifest: Mapping[str, SourceRecord],
    claimed: Mapping[str, Claim],
    seen: Iterable[str],
) -> Pruning:
    """What moved roots left behind. An old root that no longer exists, some of whose files
    were claimed under another root (``Moves.claimed``), is taken as moved there when at
    least half of its entries (recorded with that root, or, stored before roots were
    recorded, under it) are found again at the same relative path under the new root (the
    same file, or changed). Then its other entries go whose file there the walk found
    (stored under its new key: it changed) or positively found missing; those the walk
    excluded or could not reach are kept (counted). A gone root that shares only a few
    files with the one walked (an unmounted drive, say) keeps the rest."""
    new_roots: dict[str, str] = {}
    for claim in claimed.values():
        if claim.old_root not in new_roots and _gone(claim.old_root):
            new_roots[claim.old_root] = claim.new_root
    if not new_roots:
        return Pruning()
    found = set(seen)
    entries: dict[str, int] = {}
    again: dict[str, int] = {}
    rest: dict[str, list[tuple[str, str]]] = {}
    for source, record in manifest.items():
        old_root = record.root if record.root else _root_under(source, new_roots)
        if old_root not in new_roots:
            continue
        entries[old_root] = entries.get(old_root, 0) + 1
        rel = record.rel_path if record.root else source[len(old_root.rstrip("/")) + 1 :]
        there = _join(new_roots[old_root], rel)
        if source in claimed or there in found:
            again[old_root] = again.get(old_root, 0) + 1
        if source not in claimed:
            rest.setdefault(old_root, []).append((source, there))
    removed: list[str] = []
    kept = 0
    for old_root, left in rest.items():
        if 2 * again.get(old_root, 0) < entries[old_root]:
            continue  # too little of it found again to call it moved
        for source, there in left:
            verdict = "missing" if there in found else _missing(source_path(there), walked)
            if verdict == "missing":
                removed.append(source)
            elif verdict == "excluded":
                kept += 1
    return Pruning(tuple(sorted(removed)), kept)


def _root_under(source: str, roots: Iterable[str]) -> str:
    """The innermost of ``roots`` holding ``source`` ('' for none)."""
    holding = [r for r in roots if _under(source, r)]
    return max(holding, key=len) if holding else ""


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
    moves = Moves(manifest)
    files = tuple(
        plan_file(e, manifest, recheck=recheck, loaders=registry, moves=moves)
        for e in walked.entries
    )
    seen = {e.source for e in walked.entries if e.ok}
    pruning = removed_sources(walked, seen, manifest)
    left = moved_leftovers(walked, manifest, moves.claimed, seen)
    removed = tuple(s for s in (*pruning.removed, *left.removed) if s not in moves.claimed)
    return Plan(walked.root, files, removed, pruning.excluded_kept + left.excluded_kept)
