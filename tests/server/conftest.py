"""A real ``rag serve`` process for the server tests: started on a free 127.0.0.1 port with
a rag.toml of its own (extractive answers: the default ONNX embedder, no model generation)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from rag.server.serve import free_port
from rag.server.tenants import key_digest

KEYS = {"acme": "key-acme-0123456789", "globex": "key-globex-9876543210"}
BASE_TOML = 'answer_mode = "extractive"\n\n[server]\nmax_upload_mb = 1\n'


def tenants_toml(keys: dict[str, str] = KEYS) -> str:
    return "".join(
        f'\n[[server.tenants]]\nname = "{name}"\nkey_sha256 = ["{key_digest(key)}"]\n'
        for name, key in keys.items()
    )


@dataclass
class Server:
    """A running ``rag serve`` and what it was started with."""

    proc: subprocess.Popen[bytes]
    port: int
    root: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def log(self) -> str:
        return (self.root / "server.log").read_text(errors="replace")


def server_env(root: Path, cache_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        RAG_CONFIG=str(root / "rag.toml"),
        RAG_DATA_DIR=str(root / "data"),
        RAG_CACHE_DIR=str(cache_dir),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        ANONYMIZED_TELEMETRY="False",
    )
    return env


def start_server(
    root: Path,
    cache_dir: Path,
    *args: str,
    timeout: float = 60,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """Start ``rag serve`` (with more ``args``, and ``extra_env`` such as ``RAG_CALL_LOG_DSN``)
    with ``root/rag.toml`` and wait (bounded) for ``/healthz``."""
    port = free_port()
    env = server_env(root, cache_dir)
    env.update(extra_env or {})
    log = (root / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag.cli", "serve", "--port", str(port), *args],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(proc, port, root, env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"rag serve exited with {proc.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop(signal.SIGKILL)
    raise AssertionError(f"rag serve did not answer /healthz in {timeout} s:\n{server.log()}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[Server]:
    """One real server with two tenants (acme, globex) for the module's tests."""
    root = tmp_path_factory.mktemp("serve")
    (root / "rag.toml").write_text(BASE_TOML + tenants_toml())
    running = start_server(root, model_cache_dir)
    yield running
    running.stop(signal.SIGKILL)


def auth(tenant: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[tenant]}"}
