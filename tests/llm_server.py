"""A fake LLM provider on 127.0.0.1 that speaks the OpenAI chat-completions and Anthropic
messages wire formats, so the real SDKs can be tested without patching them. It also serves
OpenAI's ``/v1/embeddings`` (vectors made from each text's hash, ``dimensions`` honoured,
``float`` or ``base64`` as asked; usage counts one token per whitespace-separated word).

Scriptable per test: ``push(Reply(...))`` queues responses (taken in order; when the queue is
empty ``default`` answers). A ``Reply`` renders in the format of the endpoint that was called
(``/v1/chat/completions`` or ``/v1/messages``), as JSON or as SSE when the request asked to
stream, with usage blocks (cached tokens included), errors with headers such as
``retry-after``, and delays for timeouts. Every request is recorded in ``requests``.

``simulate_prompt_cache()`` makes the Anthropic endpoint behave like its prompt cache: a prefix
ending at a ``cache_control`` block is written (``cache_creation_input_tokens``), and a later
request that starts with a written prefix reads it (``cache_read_input_tokens``, the longest
one, checked at every block boundary as Anthropic looks back); tokens are counted as one per
4 characters of text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar

from rag.llms.base import Message


@dataclass
class Reply:
    """One scripted response. ``status`` != 200 makes it an error in the provider's format."""

    status: int = 200
    text: str = "Paris is the capital of France [1]."
    input_tokens: int = 42
    output_tokens: int = 9
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    """Anthropic ``cache_creation_input_tokens``."""
    model: str | None = None
    """Model name reported back; None = the requested one."""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    """Wait before answering (for client timeouts)."""
    chunk_delay_s: float = 0.0
    """Wait between streamed chunks."""
    gather: int = 0
    """Hold the request until this many are in flight at once (at most 10 s): a concurrency
    test that proves N requests overlap without timing them."""
    error_message: str = "scripted failure"
    error_code: str | None = None
    include_usage: bool = True
    request_id: str | None = None
    embed_tokens: int | None = None
    """``/v1/embeddings``: the reported ``prompt_tokens`` (None: one per word of the inputs)."""


def rate_limited(retry_after: str | None = "0", **kw: Any) -> Reply:
    """A 429, optionally with a ``retry-after`` header."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(status=429, headers=headers, error_message="Rate limit reached", **kw)


def server_error(status: int = 500, **kw: Any) -> Reply:
    return Reply(status=status, error_message="The server had an error", **kw)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class FakeProvider:
    """Threaded HTTP server on a free 127.0.0.1 port. Use as a context manager."""

    def __init__(self) -> None:
        self.queue: deque[Reply] = deque()
        self.default = Reply()
        self.requests: list[RecordedRequest] = []
        self.embed_dim = 8
        """Length of ``/v1/embeddings`` vectors when the request names no ``dimensions``."""
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.prompt_cache: dict[str, int] | None = None
        """Written cache prefixes (digest -> tokens) once ``simulate_prompt_cache`` is on."""
        self.in_flight = 0
        self.max_in_flight = 0
        """The most requests answered at once (reset it between phases of a test)."""
        self._flight = threading.Condition()
        self._gathered = 0
        provider = self

        class Handler(_Handler):
            fake = provider

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def openai_url(self) -> str:
        """``base_url`` for the OpenAI SDK."""
        return self.url + "/v1"

    @property
    def anthropic_url(self) -> str:
        """``base_url`` for the Anthropic SDK (it appends ``/v1/messages``)."""
        return self.url

    def push(self, *replies: Reply) -> None:
        with self._lock:
            self.queue.extend(replies)

    def next_reply(self) -> tuple[Reply, int]:
        with self._lock:
            reply = self.queue.popleft() if self.queue else self.default
            return reply, next(self._ids)

    def simulate_prompt_cache(self) -> None:
        """Answer Anthropic requests with cache reads and writes (module docstring)."""
        with self._lock:
            self.prompt_cache = {}

    def cached(self, reply: Reply, body: dict[str, Any]) -> Reply:
        """``reply`` with the input tokens of ``body`` split into cache reads, writes and the
        rest, when the cache is simulated (else unchanged)."""
        with self._lock:
            cache = self.prompt_cache
            if cache is None:
                return reply
            digest = hashlib.sha256()
            total = 0
            read = 0
            marks: list[tuple[str, int]] = []
            for text, marked in _blocks(body):
                digest.update(json.dumps(text).encode())
                total += (len(text) + 3) // 4
                key = digest.hexdigest()
                if key in cache:
                    read = total
                if marked:
                    marks.append((key, total))
            written = 0
            for key, tokens in marks:
                if tokens > read and key not in cache:
                    cache[key] = tokens
                    written = tokens - read
        return dataclasses.replace(
            reply,
            input_tokens=max(total - read - written, 0),
            cached_tokens=read,
            cache_write_tokens=written,
        )

    @contextmanager
    def flight(self, reply: Reply) -> Iterator[None]:
        """Count the request as in flight; with ``reply.gather``, wait for that many."""
        with self._flight:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if reply.gather and self.in_flight >= reply.gather:
                self._gathered += 1
                self._flight.notify_all()
            elif reply.gather:
                generation = self._gathered
                self._flight.wait_for(lambda: self._gathered != generation, timeout=10)
        try:
            yield
        finally:
            with self._flight:
                self.in_flight -= 1

    def record(self, req: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(req)

    def start(self) -> FakeProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _QuietServer(ThreadingHTTPServer):
    request_queue_size = 128  # many clients connecting at once (concurrency tests)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (timeouts, shutdown) is expected; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real APIs
    disable_nagle_algorithm = True  # small SSE frames go out at once
    fake: FakeProvider

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests assert on ``requests`` instead."""

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else {}
        self.fake.record(
            RecordedRequest(
                "POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
        )
        reply, n = self.fake.next_reply()
        anthropic = self.path.endswith("/messages")
        rid = reply.request_id or f"req_{n}"
        headers = {("request-id" if anthropic else "x-request-id"): rid, **reply.headers}
        try:
            with self.fake.flight(reply):
                self._answer(reply, body, rid, headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout test)

    def _answer(
        self, reply: Reply, body: dict[str, Any], rid: str, headers: dict[str, str]
    ) -> None:
        anthropic = self.path.endswith("/messages")
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            self._json(reply.status, _error_body(reply, anthropic), headers)
        elif self.path.endswith("/embeddings"):
            self._json(200, _embeddings(reply, body, self.fake.embed_dim), headers)
        elif anthropic:
            reply = self.fake.cached(reply, body)
            if body.get("stream"):
                self._sse(_anthropic_events(reply, body, rid), reply.chunk_delay_s, headers)
            else:
                self._json(200, _anthropic_message(reply, body, rid), headers)
        elif body.get("stream"):
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            events = _openai_chunks(reply, body, rid, include and reply.include_usage)
            self._sse(events, reply.chunk_delay_s, headers)
        else:
            self._json(200, _openai_completion(reply, body, rid), headers)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _sse(
        self, events: list[tuple[str | None, str]], delay: float, headers: dict[str, str]
    ) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        for i, (name, data) in enumerate(events):
            if delay and i:
                time.sleep(delay)
            frame = (f"event: {name}\n" if name else "") + f"data: {data}\n\n"
            self._chunk(frame.encode())
        self._chunk(b"")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _blocks(body: dict[str, Any]) -> list[tuple[str, bool]]:
    """An Anthropic request's text blocks in prompt order (system, then each message, tagged with
    its role), each with whether it carries ``cache_control``."""
    out: list[tuple[str, bool]] = []

    def add(content: Any, tag: str) -> None:
        if isinstance(content, str):
            out.append((f"{tag}:{content}", False))
            return
        for block in content or ():
            out.append((f"{tag}:{block.get('text', '')}", "cache_control" in block))

    add(body.get("system"), "system")
    for message in body.get("messages", ()):
        add(message.get("content"), message.get("role", "user"))
    return out


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text) or [text]


def _error_body(reply: Reply, anthropic: bool) -> dict[str, Any]:
    kind = {429: "rate_limit_error", 401: "authentication_error", 400: "invalid_request_error"}
    etype = kind.get(reply.status, "api_error" if anthropic else "server_error")
    if anthropic:
        return {"type": "error", "error": {"type": etype, "message": reply.error_message}}
    return {
        "error": {
            "message": reply.error_message,
            "type": etype,
            "param": None,
            "code": reply.error_code,
        }
    }


def _openai_usage(reply: Reply) -> dict[str, Any]:
    return {
        "prompt_tokens": reply.input_tokens,
        "completion_tokens": reply.output_tokens,
        "total_tokens": reply.input_tokens + reply.output_tokens,
        "prompt_tokens_details": {"cached_tokens": reply.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _openai_completion(reply: Reply, body: dict[str, Any], rid: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": reply.model or body.get("model", "fake"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
    }
    if reply.include_usage:
        out["usage"] = _openai_usage(reply)
    return out


def _openai_chunks(
    reply: Reply, body: dict[str, Any], rid: str, include_usage: bool
) -> list[tuple[str | None, str]]:
    model = reply.model or body.get("model", "fake")
    base = {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
    }
    chunks: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    for piece in _pieces(reply.text):
        chunks.append({**base, "choices": [{"index": 0, "delta": {"content": piece}}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    if include_usage:
        chunks.append({**base, "choices": [], "usage": _openai_usage(reply)})
    events: list[tuple[str | None, str]] = [(None, json.dumps(c)) for c in chunks]
    events.append((None, "[DONE]"))
    return events


def text_vector(text: str, dim: int) -> list[float]:
    """The fake embedding of ``text``: ``dim`` floats from its SHA-256 (not normalised)."""
    import hashlib

    out: list[float] = []
    counter = 0
    while len(out) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        out.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    return out[:dim]


def _embeddings(reply: Reply, body: dict[str, Any], default_dim: int) -> dict[str, Any]:
    import base64
    import struct

    texts = body.get("input", [])
    texts = [texts] if isinstance(texts, str) else list(texts)
    dim = int(body.get("dimensions") or default_dim)
    data = []
    for i, text in enumerate(texts):
        vector = text_vector(str(text), dim)
        if body.get("encoding_format") == "base64":
            packed = struct.pack(f"<{dim}f", *vector)
            data.append(
                {"object": "embedding", "index": i, "embedding": base64.b64encode(packed).decode()}
            )
        else:
            data.append({"object": "embedding", "index": i, "embedding": vector})
    tokens = reply.embed_tokens
    if tokens is None:
        tokens = sum(len(str(t).split()) for t in texts)
    out: dict[str, Any] = {
        "object": "list",
        "data": data,
        "model": reply.model or body.get("model", "fake"),
    }
    if reply.include_usage:
        out["usage"] = {"prompt_tokens": tokens, "total_tokens": tokens}
    return out


def _anthropic_usage(reply: Reply) -> dict[str, Any]:
    return {
        "input_tokens": reply.input_tokens,
        "output_tokens": reply.output_tokens,
        "cache_read_input_tokens": reply.cached_tokens,
        "cache_creation_input_tokens": reply.cache_write_tokens,
    }


def _anthropic_message(reply: Reply, body: dict[str, Any], rid: str) -> dict[str, Any]:
    return {
        "id": f"msg_{rid}",
        "type": "message",
        "role": "assistant",
        "model": reply.model or body.get("model", "fake"),
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": _anthropic_usage(reply),
    }


def _anthropic_events(reply: Reply, body: dict[str, Any], rid: str) -> list[tuple[str | None, str]]:
    start_usage = {**_anthropic_usage(reply), "output_tokens": 1}
    message = {
        **_anthropic_message(reply, body, rid),
        "content": [],
        "stop_reason": None,
        "usage": start_usage,
    }
    events: list[dict[str, Any]] = [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        {"type": "ping"},
    ]
    for piece in _pieces(reply.text):
        events.append(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            }
        )
    events.append({"type": "content_block_stop", "index": 0})
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": reply.output_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return [(e["type"], json.dumps(e)) for e in events]


T = TypeVar("T")
_OPEN: list[Any] = []

MESSAGES = [
    Message(role="system", content="Answer from the sources only."),
    Message(role="user", content="What is the capital of France?"),
]


def track(llm: T) -> T:
    """Remember a backend so its SDK client is closed after the test (``close_tracked``)."""
    _OPEN.append(llm)
    return llm


def close_tracked() -> None:
    while _OPEN:
        _OPEN.pop().close()
