"""OpenAI chat completions on the official ``openai`` SDK, and every OpenAI-compatible server.

The wire protocol (this module's ``OpenAILLM``) is separate from who serves it
(``OpenAIProvider``: name, base URL, key), as in pydantic-ai's providers: vLLM, the llama.cpp
server and Ollama are ``OpenAIProvider.compatible(url)``, not new backends.

Usage comes from the provider's response (``usage``, with ``prompt_tokens_details.cached_tokens``;
streams ask for it with ``stream_options={"include_usage": True}``). The SDK's own retries are
off (``max_retries=0``): rag's router retries, so each attempt is counted and logged.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rag.llms._hosted import HostedLLM, HostedProvider, check_api_key, prompt_tokens
from rag.llms.base import Completion, Message, StreamEvent, approx_tokens
from rag.types import Usage

if TYPE_CHECKING:
    import openai as openai_sdk

__all__ = ["OpenAILLM", "OpenAIProvider"]


@dataclass(frozen=True)
class OpenAIProvider(HostedProvider):
    """Who serves the OpenAI wire protocol: its name (the ``backend`` in usage and prices),
    base URL (None = ``OPENAI_BASE_URL`` or api.openai.com), API key, and which field carries
    the output limit."""

    key_env: str = "OPENAI_API_KEY"
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"

    official_name: ClassVar[str] = "openai"
    title: ClassVar[str] = "OpenAI"
    default_host: ClassVar[str] = "api.openai.com"
    purpose: ClassVar[str] = "The OpenAI backend (--llm openai:MODEL or openai-compatible:URL)"

    @classmethod
    def openai(cls, api_key: str | None = None, base_url: str | None = None) -> OpenAIProvider:
        """api.openai.com; the key defaults to ``OPENAI_API_KEY`` (ConfigError if unset)."""
        return cls.official(api_key, base_url)

    @classmethod
    def compatible(cls, base_url: str, api_key: str | None = None) -> OpenAIProvider:
        """Any OpenAI-compatible server (vLLM, llama.cpp server, Ollama) at ``base_url``.
        The key is optional: ``api_key``, else ``OPENAI_COMPATIBLE_API_KEY``, else none."""
        key = api_key if api_key is not None else os.environ.get("OPENAI_COMPATIBLE_API_KEY")
        if key:
            key = check_api_key(key, "OPENAI_COMPATIBLE_API_KEY", f"the server at {base_url}")
        return cls(
            name="openai-compatible",
            api_key=key or "no-key",  # the SDK insists on a value; such servers ignore it
            base_url=base_url,
            key_env="OPENAI_COMPATIBLE_API_KEY",
            max_tokens_field="max_tokens",  # what vLLM, llama.cpp server and Ollama all accept
        )


class OpenAILLM(HostedLLM):
    """An LLM over the OpenAI chat-completions protocol. See ``rag.llms.base`` for the contract."""

    provider_type = OpenAIProvider
    example_spec = "openai:gpt-4o-mini"
    provider: OpenAIProvider
    _client: openai_sdk.OpenAI

    # --- calls ---

    def _params(
        self, messages: Sequence[Message], limit: int, temperature: float | None
    ) -> dict[str, Any]:
        """The output limit in the provider's field; no temperature for models that refuse it."""
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            self.provider.max_tokens_field: limit,
        }
        temp = temperature if temperature is not None else self.temperature
        takes_temperature = self.price_info is None or self.price_info.temperature
        if temp is not None and takes_temperature:
            params["temperature"] = temp
        return params

    def _complete(self, params: dict[str, Any], messages: Sequence[Message]) -> Completion:
        """One chat completion; usage and request id from the response."""
        started = time.perf_counter()
        resp = self._client.chat.completions.create(**params)
        return self._completion(resp, messages, time.perf_counter() - started)

    async def _acomplete(self, params: dict[str, Any], messages: Sequence[Message]) -> Completion:
        started = time.perf_counter()
        resp = await self._async_client().chat.completions.create(**params)
        return self._completion(resp, messages, time.perf_counter() - started)

    def _completion(self, resp: Any, messages: Sequence[Message], latency: float) -> Completion:
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content or "") if choice is not None else ""
        usage = self._usage(resp.usage, resp.model, messages, text, latency)
        usage.request_id = resp._request_id
        return Completion(
            text=text, usage=usage, finish_reason=choice.finish_reason if choice else None
        )

    def _stream(self, params: dict[str, Any], messages: Sequence[Message]) -> Iterator[StreamEvent]:
        """Usage from the usage block of the last chunk (asked for with ``include_usage``)."""
        started = time.perf_counter()
        stream = self._client.chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
        state = _StreamState(started, stream.response.headers.get("x-request-id"))
        try:
            for chunk in stream:
                yield from state.feed(chunk)
        finally:
            stream.close()
        yield state.finish(self, messages)

    async def _astream(
        self, params: dict[str, Any], messages: Sequence[Message]
    ) -> AsyncGenerator[StreamEvent, None]:
        started = time.perf_counter()
        stream = await self._async_client().chat.completions.create(
            **params, stream=True, stream_options={"include_usage": True}
        )
        state = _StreamState(started, stream.response.headers.get("x-request-id"))
        try:
            async for chunk in stream:
                for event in state.feed(chunk):
                    yield event
        finally:
            await stream.close()
        yield state.finish(self, messages)

    # --- helpers ---

    def _usage(
        self,
        reported: Any,
        model: str | None,
        messages: Sequence[Message],
        text: str,
        latency: float,
    ) -> Usage:
        """The reported usage (cached prompt tokens included), else an approximation that warns."""
        if reported is not None:
            details = getattr(reported, "prompt_tokens_details", None)
            return self._priced(
                model or self.model,
                input_tokens=int(reported.prompt_tokens or 0),
                output_tokens=int(reported.completion_tokens or 0),
                cached=int(getattr(details, "cached_tokens", 0) or 0),
                latency=latency,
            )
        warnings.warn(
            f"{self.label} did not report token usage; rag approximated it "
            "(enable usage reporting on the server for exact numbers)",
            UserWarning,
            stacklevel=3,
        )
        return self._priced(
            model or self.model,
            input_tokens=prompt_tokens(messages),
            output_tokens=approx_tokens(text),
            cached=0,
            latency=latency,
        )

    def _overflow(self, exc: Any) -> bool:
        body = exc.body if isinstance(exc.body, dict) else {}
        err = body.get("error", body)
        return isinstance(err, dict) and err.get("code") == "context_length_exceeded"


class _StreamState:
    """What one stream has said so far; the sync and async streams feed it their chunks."""

    def __init__(self, started: float, request_id: str | None) -> None:
        self.started = started
        self.request_id = request_id
        self.pieces: list[str] = []
        self.first: float | None = None
        self.reported: Any = None
        self.model: str | None = None
        self.finish_reason: str | None = None

    def feed(self, chunk: Any) -> Iterator[StreamEvent]:
        """The text deltas of one chunk (its model, usage and finish reason are kept)."""
        self.model = chunk.model or self.model
        if chunk.usage is not None:
            self.reported = chunk.usage
        for choice in chunk.choices:
            if choice.finish_reason:
                self.finish_reason = choice.finish_reason
            delta = choice.delta.content if choice.delta is not None else None
            if delta:
                if self.first is None:
                    self.first = time.perf_counter() - self.started
                self.pieces.append(delta)
                yield StreamEvent(text=delta)

    def finish(self, llm: OpenAILLM, messages: Sequence[Message]) -> StreamEvent:
        """The final event: the whole text and the streamed usage."""
        text = "".join(self.pieces)
        latency = time.perf_counter() - self.started
        usage = llm._usage(self.reported, self.model, messages, text, latency)
        usage.request_id = self.request_id
        usage.time_to_first_token_s = self.first
        return StreamEvent(
            completion=Completion(text=text, usage=usage, finish_reason=self.finish_reason)
        )
