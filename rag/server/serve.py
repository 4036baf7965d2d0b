"""Running the app under uvicorn, and stopping it gracefully.

On SIGINT/SIGTERM the server first marks itself draining (new requests: 503 ``draining``),
then uvicorn stops accepting connections and waits up to ``server.request_timeout_s`` for the
running requests: a streamed answer finishes (or, past the wait, is cut), an upload finishes
its ingest, whose manifest rules make a cut one repaired on the next start. The app itself
hooks the signals (``rag.server.app.drain_on_signals``), so with ``--workers N`` each worker
process drains on its own when uvicorn's supervisor passes the SIGTERM on.

Several workers are separate processes, each with its own catalog and parts: the store must be
one they can all open at once (a Chroma server, ``chroma_url``, or PostgreSQL,
``store = "pgvector"``); ``check_workers`` refuses embedded Chroma and the memory store.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

from rag.config import Settings
from rag.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings, host: str) -> None:
    """Refuse a non-loopback ``host`` when no tenant (so no key) is configured."""
    if not settings.server.tenants and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host}: no API keys are configured, so anyone who can reach "
            "it could read and change the collections. Add a key with `rag serve keys add NAME` "
            "(a [[server.tenants]] table in rag.toml), or listen on 127.0.0.1"
        )


def check_workers(settings: Settings, workers: int) -> None:
    """Refuse several worker processes over a store only one process may hold (embedded
    Chroma: one writer per directory) or that lives in one process (memory)."""
    if workers <= 1:
        return
    if settings.store == "memory":
        where = "the memory store lives inside one process"
    elif settings.store == "chroma" and not settings.chroma_url:
        where = (
            f"the embedded Chroma store ({settings.chroma_path}) is not safe to open from several "
            "processes"
        )
    elif settings.store == "qdrant" and not settings.qdrant_url:
        where = "Qdrant's local mode lets one process open its directory (or set qdrant_url)"
    else:
        return
    raise ConfigError(
        f"refusing --workers {workers}: {where}, so each worker would see (or corrupt) its own "
        "copy. Set chroma_url to a Chroma server (`chroma run --path DIR`), or store = "
        '"pgvector" with pg_dsn, in rag.toml; or serve with --workers 1'
    )


def run(settings: Settings, *, host: str, port: int, workers: int) -> None:
    """Serve until interrupted; returns after a graceful stop."""
    import uvicorn

    from rag.server.app import create_app

    config_kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "info",
        "timeout_graceful_shutdown": int(settings.server.request_timeout_s) + 1,
        "server_header": False,
    }
    check_workers(settings, workers)
    if workers > 1:
        # each worker process builds its own app from the same settings (RAG_CONFIG); the
        # supervisor passes SIGINT/SIGTERM on to the workers, which drain (module docstring)
        uvicorn.run("rag.server.app:app_from_env", factory=True, workers=workers, **config_kwargs)
        return
    config = uvicorn.Config(create_app(settings), **config_kwargs)
    uvicorn.Server(config).run()  # the app drains on SIGINT/SIGTERM (drain_on_signals)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (for tests and ``--port 0``)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
