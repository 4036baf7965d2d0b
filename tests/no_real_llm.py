"""A guard that makes any test reaching a real LLM provider (or any non-local host) fail.

Autouse fixture, enabled for the whole suite from ``tests/conftest.py`` with
``from no_real_llm import no_real_llm  # noqa: F401``. For every test it

- removes ``OPENAI_API_KEY`` / ``ANTHROPIC_API_KEY`` / ``OPENAI_COMPATIBLE_API_KEY`` (a real key
  in the developer's shell never reaches a test) and points ``OPENAI_BASE_URL`` /
  ``ANTHROPIC_BASE_URL`` at a closed local port, so an SDK left on its default URL cannot
  reach the provider;
- patches the network, not the SDKs: ``socket.socket.connect`` / ``connect_ex`` and
  ``socket.getaddrinfo`` refuse any address that is not loopback (or a Unix socket).

SDKs turn a refused connect into their own connection errors, which rag may retry or fall
back from; so the guard also remembers every blocked attempt and fails the test at teardown.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

CLOSED_PORT_URL = "http://127.0.0.1:9"
"""Port 9 (discard) is closed on test machines: a connect there is refused at once."""


class RealNetworkBlocked(OSError):
    """A test tried to leave the machine."""


def _is_local(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in ("localhost", "localhost.localdomain", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def no_real_llm(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Block non-loopback network for one test; yields the list of blocked attempts."""
    blocked: list[str] = []
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENAI_COMPATIBLE_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", CLOSED_PORT_URL + "/v1")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", CLOSED_PORT_URL)

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family == getattr(socket, "AF_UNIX", object()):
            return
        host = address[0] if isinstance(address, tuple) else address
        if not _is_local(host):
            blocked.append(str(address))
            raise RealNetworkBlocked(
                f"test tried to connect to {address}: tests must not reach real LLM providers "
                "or any non-local host (tests/no_real_llm.py); use tests/llm_server.py"
            )

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and not _is_local(name):
            blocked.append(str(name))
            raise RealNetworkBlocked(
                f"test tried to resolve {name!r}: tests must not reach real LLM providers "
                "(tests/no_real_llm.py)"
            )
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield blocked
    if blocked:
        pytest.fail(
            f"this test tried to reach the network outside 127.0.0.1: {blocked}; "
            "point the SDK at tests/llm_server.FakeProvider instead",
            pytrace=False,
        )
