"""Anthropic Messages API on the official ``anthropic`` SDK.

The wire protocol (``AnthropicLLM``) is separate from who serves it (``AnthropicProvider``:
name, key, base URL), as for OpenAI and in pydantic-ai's providers: a proxy or a tenant's
key is another provider, not another backend.

System messages go in the ``system`` parameter. Usage comes from the response: ``input_tokens``
plus the prompt-cache reads and writes (``cache_read_input_tokens``,
``cache_creation_input_tokens``), so rag's ``input_tokens`` counts all input and
``cached_input_tokens`` the cache reads, as for OpenAI; cache writes are priced at their own
rate. Streams take usage from ``message_start`` and ``message_delta``. SDK retries are off
(``max_retries=0``); rag's router retries.

Prompt caching: requests mark the stable prefix with ``cache_control: {"type": "ephemeral"}``
(``cache_breakpoints``): the system prompt and the conversation before the last user message
(setting ``prompt_cache = "auto"``), and with ``prompt_cache = "sources"`` also the sources at
the start of the last user message (``Message.stable_chars``), so the next call that repeats
that prefix (a follow-up, another question of a batch on the same sources) reads it at a tenth
of the input price. A prefix shorter than ``CACHE_MIN_TOKENS`` is sent unmarked, since Anthropic
caches nothing that short. Reads and writes come back in usage and are priced at their rates.

The SDK (2.x) no longer has a ``temperature`` argument; rag sends one in the request body
only when a temperature is configured or passed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rag.llms._hosted import HostedLLM, HostedProvider
from rag.llms.base import Completion, Message, StreamEvent, approx_tokens
from rag.types import Usage

if TYPE_CHECKING:
    import anthropic as anthropic_sdk

__all__ = ["CACHE_MIN_TOKENS", "AnthropicLLM", "AnthropicProvider", "cache_breakpoints"]

CACHE_MIN_TOKENS = 1024
"""The smallest prefix any Claude model caches (1024 tokens; some need 2048 or 4096): a shorter
marked prefix is neither written nor read, so it is not marked (approximate token count)."""

_EPHEMERAL = {"type": "ephemeral"}


@dataclass(frozen=True)
class AnthropicProvider(HostedProvider):
    """Who serves Anthropic's Messages API: name (the ``backend`` in usage and prices), API key
    and base URL (None = ``ANTHROPIC_BASE_URL`` or api.anthropic.com). ``official()`` is
    api.anthropic.com with the key from ``ANTHROPIC_API_KEY``."""

    key_env: str = "ANTHROPIC_API_KEY"

    official_name: ClassVar[str] = "anthropic"
    title: ClassVar[str] = "Anthropic"
    default_host: ClassVar[str] = "api.anthropic.com"
    purpose: ClassVar[str] = "The Anthropic backend (--llm anthropic:MODEL)"


class AnthropicLLM(HostedLLM):
    """An LLM over Anthropic's Messages API. See ``rag.llms.base`` for the contract."""

    provider_type = AnthropicProvider
    example_spec = "anthropic:claude-3-5-haiku-latest"
    max_temperature = 1.0
    provider: AnthropicProvider
    _client: anthropic_sdk.Anthropic

    # --- calls ---

    def _params(
        self, messages: Sequence[Message], limit: int, temperature: float | None
    ) -> dict[str, Any]:
        """System messages go in ``system``; a temperature in the body (the SDK lacks one);
        ``cache_control`` on the stable prefix (module docstring)."""
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        turns = [m for m in messages if m.role != "system"]
        marks = cache_breakpoints(system, turns, self.prompt_cache)
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": limit,
            "messages": [_turn(i, m, marks) for i, m in enumerate(turns)],
        }
        if system:
            params["system"] = (
                [{"type": "text", "text": system, "cache_control": _EPHEMERAL}]
                if -1 in marks
                else system
            )
        temp = temperature if temperature is not None else self.temperature
        if temp is not None:
            params["extra_body"] = {"temperature": temp}
        return params

    def _complete(self, params: dict[str, Any], messages: Sequence[Message]) -> Completion:
        """One Messages call; usage (with cache reads and writes) and request id from the reply."""
        started = time.perf_counter()
        resp = self._client.messages.create(**params)
        return self._completion(resp, time.perf_counter() - started)

    async def _acomplete(self, params: dict[str, Any], messages: Sequence[Message]) -> Completion:
        started = time.perf_counter()
        resp = await self._async_client().messages.create(**params)
        return self._completion(resp, time.perf_counter() - started)

    def _completion(self, resp: Any, latency: float) -> Completion:
        text = "".join(block.text for block in resp.content if block.type == "text")
        u = resp.usage
        usage = self._usage(
            resp.model,
            u.input_tokens,
            u.output_tokens,
            u.cache_read_input_tokens or 0,
            u.cache_creation_input_tokens or 0,
            latency,
        )
        usage.request_id = resp._request_id
        return Completion(text=text, usage=usage, finish_reason=resp.stop_reason)

    def _stream(self, params: dict[str, Any], messages: Sequence[Message]) -> Iterator[StreamEvent]:
        """Usage from ``message_start`` and ``message_delta``."""
        started = time.perf_counter()
        stream = self._client.messages.create(**params, stream=True)
        state = _StreamState(started, stream.response.headers.get("request-id"), self.model)
        try:
            for event in stream:
                yield from state.feed(event)
        finally:
            stream.close()
        yield state.finish(self)

    async def _astream(
        self, params: dict[str, Any], messages: Sequence[Message]
    ) -> AsyncGenerator[StreamEvent, None]:
        started = time.perf_counter()
        stream = await self._async_client().messages.create(**params, stream=True)
        state = _StreamState(started, stream.response.headers.get("request-id"), self.model)
        try:
            async for event in stream:
                for out in state.feed(event):
                    yield out
        finally:
            await stream.close()
        yield state.finish(self)

    # --- helpers ---

    def _usage(
        self, model: str, plain: int, output: int, read: int, write: int, latency: float
    ) -> Usage:
        """Anthropic's ``input_tokens`` excludes cache reads and writes; rag's includes them."""
        return self._priced(
            model,
            input_tokens=plain + read + write,
            output_tokens=output,
            cached=read,
            cache_write=write,
            latency=latency,
        )

    def _overflow(self, exc: Any) -> bool:
        detail = getattr(exc, "api_message", None) or exc.message
        return bool(exc.status_code == 400 and "prompt is too long" in str(detail).lower())


class _StreamState:
    """What one stream has said so far; the sync and async streams feed it their events."""

    def __init__(self, started: float, request_id: str | None, model: str) -> None:
        self.started = started
        self.request_id = request_id
        self.model = model
        self.pieces: list[str] = []
        self.first: float | None = None
        self.counts = {"input": 0, "output": 0, "read": 0, "write": 0}
        self.finish_reason: str | None = None

    def feed(self, event: Any) -> Iterator[StreamEvent]:
        """The text delta of one event, if any (usage, model and stop reason are kept)."""
        if event.type == "message_start":
            self.model = event.message.model or self.model
            _merge_usage(self.counts, event.message.usage)
        elif event.type == "content_block_delta" and event.delta.type == "text_delta":
            if self.first is None:
                self.first = time.perf_counter() - self.started
            self.pieces.append(event.delta.text)
            yield StreamEvent(text=event.delta.text)
        elif event.type == "message_delta":
            self.finish_reason = event.delta.stop_reason or self.finish_reason
            _merge_usage(self.counts, event.usage)

    def finish(self, llm: AnthropicLLM) -> StreamEvent:
        """The final event: the whole text and the streamed usage."""
        c = self.counts
        latency = time.perf_counter() - self.started
        usage = llm._usage(self.model, c["input"], c["output"], c["read"], c["write"], latency)
        usage.request_id = self.request_id
        usage.time_to_first_token_s = self.first
        return StreamEvent(
            completion=Completion(
                text="".join(self.pieces), usage=usage, finish_reason=self.finish_reason
            )
        )


def _merge_usage(counts: dict[str, int], usage: Any) -> None:
    """Streamed usage: later events repeat or update earlier counts; keep the latest given."""
    for key, attr in (
        ("input", "input_tokens"),
        ("output", "output_tokens"),
        ("read", "cache_read_input_tokens"),
        ("write", "cache_creation_input_tokens"),
    ):
        value = getattr(usage, attr, None)
        if value is not None:
            counts[key] = int(value)


def cache_breakpoints(system: str, turns: Sequence[Message], policy: str) -> dict[int, int]:
    """Where to put ``cache_control``: turn index -> characters of its content that end the
    marked prefix (``-1`` is the system prompt). ``auto``: the system prompt and the last turn
    before the final user message; ``sources``: also the final message's ``stable_chars``.
    A point whose whole prefix is under ``CACHE_MIN_TOKENS`` is left out."""
    if policy == "off":
        return {}
    marks: dict[int, int] = {}
    used = approx_tokens(system)
    if system and used >= CACHE_MIN_TOKENS:
        marks[-1] = len(system)
    last = len(turns) - 1
    for i, m in enumerate(turns[:last]):
        used += approx_tokens(m.content)
        if i == last - 1 and m.content and used >= CACHE_MIN_TOKENS:
            marks[i] = len(m.content)
    if policy == "sources" and turns:
        final = turns[last]
        stable = min(final.stable_chars, len(final.content))
        if stable and used + approx_tokens(final.content[:stable]) >= CACHE_MIN_TOKENS:
            marks[last] = stable
    return marks


def _turn(i: int, m: Message, marks: dict[int, int]) -> dict[str, Any]:
    """One message: plain text, or text blocks whose first one ends at a cache breakpoint."""
    cut = marks.get(i)
    if cut is None:
        return {"role": m.role, "content": m.content}
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": m.content[:cut], "cache_control": _EPHEMERAL}
    ]
    if m.content[cut:]:
        blocks.append({"type": "text", "text": m.content[cut:]})
    return {"role": m.role, "content": blocks}
