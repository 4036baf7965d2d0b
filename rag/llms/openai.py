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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rag._lazy import require
from rag.errors import ContextWindowError, LLMError
from rag.llms._hosted import (
    DEFAULT_CONTEXT_WINDOW,
    HostedBackendError,
    check_api_key,
    check_context_window,
    classify_status,
    parse_retry_after,
    prompt_tokens,
)
from rag.llms.base import Completion, Message, StreamEvent, approx_tokens
from rag.pricing import PriceTable, load_prices
from rag.types import Usage

if TYPE_CHECKING:
    import openai as openai_sdk

__all__ = ["OpenAILLM", "OpenAIProvider"]

_PURPOSE = "The OpenAI backend (--llm openai:MODEL or openai-compatible:URL)"


@dataclass(frozen=True)
class OpenAIProvider:
    """Who serves the OpenAI wire protocol: its name (the ``backend`` in usage and prices),
    base URL, API key, and which field carries the output limit."""

    name: str
    api_key: str
    base_url: str | None = None
    """None = the SDK default (``OPENAI_BASE_URL`` or api.openai.com)."""
    key_env: str = "OPENAI_API_KEY"
    max_tokens_field: Literal["max_completion_tokens", "max_tokens"] = "max_completion_tokens"

    @classmethod
    def openai(cls, api_key: str | None = None, base_url: str | None = None) -> OpenAIProvider:
        """api.openai.com; the key defaults to ``OPENAI_API_KEY`` (ConfigError if unset)."""
        key = check_api_key(
            api_key if api_key is not None else os.environ.get("OPENAI_API_KEY"),
            "OPENAI_API_KEY",
            "the OpenAI backend",
        )
        return cls(name="openai", api_key=key, base_url=base_url)

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

    def client(self, timeout_s: float) -> openai_sdk.OpenAI:
        """An SDK client with retries off (rag retries) and the given timeout."""
        sdk = require("openai", "openai", _PURPOSE)
        client: openai_sdk.OpenAI = sdk.OpenAI(
            api_key=self.api_key, base_url=self.base_url, timeout=timeout_s, max_retries=0
        )
        return client


class OpenAILLM:
    """An LLM over the OpenAI chat-completions protocol. See ``rag.llms.base`` for the contract."""

    supports_streaming = True

    def __init__(
        self,
        model: str,
        *,
        provider: OpenAIProvider | None = None,
        timeout_s: float = 60.0,
        max_tokens: int = 256,
        temperature: float | None = None,
        context_window: int | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        if not model:
            raise LLMError("OpenAILLM needs a model name, e.g. openai:gpt-4o-mini")
        self.provider = provider or OpenAIProvider.openai()
        self.backend = self.provider.name
        self.model = model
        self.label = f"{self.backend}:{model}"
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.prices = prices or load_prices()
        info = self.prices.lookup(self.backend, model)
        if context_window is not None:
            self.context_window, self._window_source = context_window, "configured"
        elif info is not None and info.context_window is not None:
            self.context_window = info.context_window
            self._window_source = f"rag price list {self.prices.version}"
        else:
            self.context_window = DEFAULT_CONTEXT_WINDOW
            self._window_source = "assumed; set context_window for this backend"
        self._takes_temperature = info is None or info.temperature
        self._client = self.provider.client(timeout_s)

    def close(self) -> None:
        """Close the SDK client's connection pool."""
        self._client.close()

    def count_tokens(self, text: str) -> int:
        """``approx_tokens``: the OpenAI tokenizer (tiktoken) would download its vocabulary."""
        return approx_tokens(text)

    # --- calls ---

    def _params(
        self, messages: Sequence[Message], max_tokens: int | None, temperature: float | None
    ) -> tuple[dict[str, Any], int]:
        limit = max_tokens if max_tokens is not None else self.max_tokens
        check_context_window(
            self.label, prompt_tokens(messages), limit, self.context_window, self._window_source
        )
        params: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            self.provider.max_tokens_field: limit,
        }
        temp = temperature if temperature is not None else self.temperature
        if temp is not None and self._takes_temperature:
            params["temperature"] = temp
        return params, limit

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """One chat completion; usage and request id from the response."""
        params, _ = self._params(messages, max_tokens, temperature)
        sdk = require("openai", "openai", _PURPOSE)
        started = time.perf_counter()
        try:
            resp = self._client.chat.completions.create(**params)
        except sdk.APIError as exc:
            raise self._error(exc) from exc
        latency = time.perf_counter() - started
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content or "") if choice is not None else ""
        usage = self._usage(resp.usage, resp.model, messages, text, latency)
        usage.request_id = resp._request_id
        return Completion(
            text=text, usage=usage, finish_reason=choice.finish_reason if choice else None
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Deltas as they arrive, then the completion with the usage block of the last chunk."""
        params, _ = self._params(messages, max_tokens, temperature)
        sdk = require("openai", "openai", _PURPOSE)
        started = time.perf_counter()
        try:
            stream = self._client.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True}
            )
        except sdk.APIError as exc:
            raise self._error(exc) from exc
        request_id = stream.response.headers.get("x-request-id")
        pieces: list[str] = []
        first: float | None = None
        reported: Any = None
        model: str | None = None
        finish: str | None = None
        try:
            for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    reported = chunk.usage
                for choice in chunk.choices:
                    if choice.finish_reason:
                        finish = choice.finish_reason
                    delta = choice.delta.content if choice.delta is not None else None
                    if delta:
                        if first is None:
                            first = time.perf_counter() - started
                        pieces.append(delta)
                        yield StreamEvent(text=delta)
        except sdk.APIError as exc:
            raise self._error(exc) from exc
        finally:
            stream.close()
        text = "".join(pieces)
        usage = self._usage(reported, model, messages, text, time.perf_counter() - started)
        usage.request_id = request_id
        usage.time_to_first_token_s = first
        yield StreamEvent(completion=Completion(text=text, usage=usage, finish_reason=finish))

    # --- helpers ---

    def _usage(
        self,
        reported: Any,
        model: str | None,
        messages: Sequence[Message],
        text: str,
        latency: float,
    ) -> Usage:
        served = model or self.model
        if reported is not None:
            input_tokens = int(reported.prompt_tokens or 0)
            output_tokens = int(reported.completion_tokens or 0)
            details = getattr(reported, "prompt_tokens_details", None)
            cached = int(getattr(details, "cached_tokens", 0) or 0)
        else:
            warnings.warn(
                f"{self.label} did not report token usage; rag approximated it "
                "(enable usage reporting on the server for exact numbers)",
                UserWarning,
                stacklevel=3,
            )
            input_tokens, output_tokens, cached = prompt_tokens(messages), approx_tokens(text), 0
        cost = self.prices.cost(
            self.backend,
            served,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            also=self.model,
        )
        return Usage(
            backend=self.backend,
            model=served,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            latency_s=latency,
            cost=cost,
        )

    def _error(self, exc: Exception) -> Exception:
        """The SDK exception as a HostedBackendError (or ContextWindowError) that names the fix."""
        sdk = require("openai", "openai", _PURPOSE)
        where = self.provider.base_url or "api.openai.com"
        if isinstance(exc, sdk.APITimeoutError):
            return HostedBackendError(
                f"{self.label}: no answer from {where} within {self.timeout_s:g} s (timeout); "
                "raise the backend's timeout_s or try later",
                kind="timeout",
                retryable=True,
            )
        if isinstance(exc, sdk.APIConnectionError):
            return HostedBackendError(
                f"{self.label}: cannot connect to {where} ({exc.__cause__ or exc}); check the "
                "URL and your network",
                kind="connection",
                retryable=True,
            )
        if isinstance(exc, sdk.APIStatusError):
            status = exc.status_code
            kind, retryable = classify_status(status)
            body = exc.body if isinstance(exc.body, dict) else {}
            err = body.get("error", body) if isinstance(body, dict) else {}
            code = err.get("code") if isinstance(err, dict) else None
            detail = exc.message
            if code == "context_length_exceeded":
                return ContextWindowError(
                    f"{self.label}: the provider says the prompt exceeds the context window "
                    f"({detail}); lower max_context_tokens or max_tokens"
                )
            hint = {
                "auth": f"; check the key in {self.provider.key_env}",
                "rate_limit": "; rag retries and falls back as the routing policy says",
                "bad_request": "; check the model name and parameters",
            }.get(kind, "")
            return HostedBackendError(
                f"{self.label}: HTTP {status} ({kind}) from {where}, request id "
                f"{exc.request_id or 'none'}: {detail}{hint}",
                kind=kind,
                retryable=retryable,
                retry_after=parse_retry_after(exc.response.headers),
                status_code=status,
                request_id=exc.request_id,
            )
        return HostedBackendError(
            f"{self.label}: {type(exc).__name__}: {exc}", kind="error", retryable=False
        )
