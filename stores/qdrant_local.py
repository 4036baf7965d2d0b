"""Qdrant's local mode for ``rag.stores.qdrant``: one shared client per directory and process.

``QdrantClient(path=...)`` locks its directory, so a second client on it (another store of
this process: the server's collections, a sibling in a test) would fail; every store on one
path shares one client and one lock instead, and the directory's last store closes it.
Local mode also commits each point to its collection's own SQLite file; ``tune`` switches
those files to WAL with ``synchronous=NORMAL`` (as rag's own SQLite files): 5,000 points
took 0.6 s instead of 80 s, and a crash of the process still loses nothing committed.
"""

from __future__ import annotations

import atexit
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag._lazy import require
from rag.errors import StoreError

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

__all__ = ["Local", "journal_mode", "open_local", "release_local", "tune"]


@dataclass
class Local:
    key: Path
    client: QdrantClient
    lock: threading.RLock
    users: int


_LOCALS: dict[Path, Local] = {}
_LOCALS_LOCK = threading.Lock()


def open_local(path: Path) -> Local:
    """The shared client on ``path`` (opened on first use); ``release_local`` when done."""
    qdrant_client = require("qdrant_client", "qdrant", "the Qdrant store")
    key = path.resolve()
    with _LOCALS_LOCK:
        shared = _LOCALS.get(key)
        if shared is None:
            try:
                client = qdrant_client.QdrantClient(
                    path=str(key), force_disable_check_same_thread=True
                )
            except RuntimeError as exc:
                if "already accessed" not in str(exc):
                    raise
                raise StoreError(
                    f"the Qdrant directory {key} is open in another process (local mode allows "
                    "one at a time). Stop that process, or run a Qdrant server and set "
                    "qdrant_url (--qdrant-url) so several processes can share it"
                ) from None
            shared = _LOCALS[key] = Local(key, client, threading.RLock(), 0)
            for name in list(getattr(client._client, "collections", {})):
                tune(client, name)
        shared.users += 1
        return shared


def release_local(key: Path) -> None:
    with _LOCALS_LOCK:
        shared = _LOCALS.get(key)
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            del _LOCALS[key]
            with shared.lock:
                shared.client.close()


@atexit.register
def _close_all() -> None:
    """Close the clients stores left open (a command that never closed its ``RAG``) while the
    interpreter can still import: qdrant-client's own ``__del__`` fails during shutdown."""
    with _LOCALS_LOCK:
        shared = list(_LOCALS.values())
        _LOCALS.clear()
    for local in shared:
        with local.lock:
            local.client.close()


def tune(client: QdrantClient, name: str) -> None:
    """Local mode commits every point to the collection's SQLite file; WAL with
    ``synchronous=NORMAL`` makes those commits cheap and stays crash-safe (for the process)."""
    collection = getattr(getattr(client, "_client", None), "collections", {}).get(name)
    db = getattr(getattr(collection, "storage", None), "storage", None)
    if isinstance(db, sqlite3.Connection):
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")


def journal_mode(client: QdrantClient, name: str) -> str | None:
    """The journal mode of a local collection's SQLite file (None if not local): tests check
    that ``tune`` still reaches it after a qdrant-client upgrade."""
    collection = getattr(getattr(client, "_client", None), "collections", {}).get(name)
    db = getattr(getattr(collection, "storage", None), "storage", None)
    if not isinstance(db, sqlite3.Connection):
        return None
    return str(db.execute("PRAGMA journal_mode").fetchone()[0])
