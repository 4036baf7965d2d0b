"""Running the app under uvicorn, and stopping it gracefully.

On SIGINT/SIGTERM the server first marks itself draining (new requests: 503 ``draining``),
then uvicorn stops accepting connections and waits up to ``server.request_timeout_s`` for the
running requests: a streamed answer finishes (or, past the wait, is cut), an upload finishes
its ingest, whose manifest rules make a cut one repaired on the next start.
"""

from __future__ import annotations

import ipaddress
import socket
from types import FrameType
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
    if workers > 1:
        # each worker process builds its own app from the same settings (RAG_CONFIG)
        uvicorn.run("rag.server.app:app_from_env", factory=True, workers=workers, **config_kwargs)
        return
    app = create_app(settings)
    config = uvicorn.Config(app, **config_kwargs)

    class DrainingServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            app.state.rag.draining = True
            super().handle_exit(sig, frame)
            # a drained stop is a clean exit (0), not a death by the signal uvicorn re-raises
            self._captured_signals.clear()

    DrainingServer(config).run()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on (for tests and ``--port 0``)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
