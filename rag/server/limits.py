"""Limits checked before a route runs, as one pure ASGI middleware (it sees streamed bodies,
which FastAPI's ``@app.middleware("http")`` would buffer):

- while the server drains, every request but ``/healthz`` gets 503 ``draining``;
- a body larger than ``server.max_upload_mb`` gets 413, by its ``Content-Length`` or, for a
  chunked body, as soon as the bytes read pass the limit.

It also names the process that answered in an ``X-Rag-Worker`` header (its pid), so with
``--workers N`` an operator (and the tests) can tell the workers apart.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from rag.server.errors import ApiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _TooLarge(Exception):
    pass


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, draining: Callable[[], bool]) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.draining = draining
        self._worker = (b"x-rag-worker", str(os.getpid()).encode())

    def _too_large(self) -> ApiError:
        mb = self.max_body_bytes / 1_000_000
        return ApiError(
            413,
            "payload_too_large",
            f"the request body is larger than {mb:g} MB (server.max_upload_mb); send smaller "
            "files, or fewer per request",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.draining() and scope.get("path") != "/healthz":
            error = ApiError(
                503,
                "draining",
                "the server is stopping; retry on another instance or after it restarts",
                retry_after=5,
            )
            await error.response()(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await self._too_large().response()(scope, receive, send)
            return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), self._worker]
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._too_large().response()(scope, receive, send)
