"""Anthropic Messages API on the official ``anthropic`` SDK.

System messages go in the ``system`` parameter. Usage comes from the response: ``input_tokens``
plus the prompt-cache reads and writes (``cache_read_input_tokens``,
``cache_creation_input_tokens``), so rag's ``input_tokens`` counts all input and
``cached_input_tokens`` the cache reads, as for OpenAI; cache writes are priced at their own
rate. Streams take usage from ``message_start`` and ``message_delta``. SDK retries are off
(``max_retries=0``); rag's router retries.

The SDK (2.x) no longer has a ``temperature`` argument; rag sends one in the request body
only when a temperature is configured or passed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from rag._lazy import require
from rag.errors import ConfigError, ContextWindowError, LLMError
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
    import anthropic

__all__ = ["AnthropicLLM"]

_PURPOSE = "The Anthropic backend (--llm anthropic:MODEL)"


class AnthropicLLM:
    """An LLM over Anthropic's Messages API. See ``rag.llms.base`` for the contract."""

    supports_streaming = True
    backend = "anthropic"

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout_s: float = 60.0,
        max_tokens: int = 256,
        temperature: float | None = None,
        context_window: int | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        if not model:
            raise LLMError(
                "AnthropicLLM needs a model name, e.g. anthropic:claude-3-5-haiku-latest"
            )
        if temperature is not None and not 0.0 <= temperature <= 1.0:
            raise ConfigError(
                f"anthropic:{model}: temperature {temperature} is outside Anthropic's range "
                "0.0-1.0; set 'temperature' between 0 and 1"
            )
        self.api_key = check_api_key(
            api_key if api_key is not None else os.environ.get("ANTHROPIC_API_KEY"),
            "ANTHROPIC_API_KEY",
            "the Anthropic backend",
        )
        self.model = model
        self.label = f"anthropic:{model}"
        self.base_url = base_url
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
        sdk = require("anthropic", "anthropic", _PURPOSE)
        self._client: anthropic.Anthropic = sdk.Anthropic(
            api_key=self.api_key, base_url=base_url, timeout=timeout_s, max_retries=0
        )

    def close(self) -> None:
        """Close the SDK client's connection pool."""
        self._client.close()

    def count_tokens(self, text: str) -> int:
        """``approx_tokens``: Anthropic's tokenizer is only available over the network."""
        return approx_tokens(text)

    # --- calls ---

    def _params(
        self, messages: Sequence[Message], max_tokens: int | None, temperature: float | None
    ) -> dict[str, Any]:
        limit = max_tokens if max_tokens is not None else self.max_tokens
        check_context_window(
            self.label, prompt_tokens(messages), limit, self.context_window, self._window_source
        )
        system = "\n\n".join(m.content for m in messages if m.role == "system")
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": limit,
            "messages": [
                {"role": m.role, "content": m.content} for m in messages if m.role != "system"
            ],
        }
        if system:
            params["system"] = system
        temp = temperature if temperature is not None else self.temperature
        if temp is not None:
            params["extra_body"] = {"temperature": temp}
        return params

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """One Messages call; usage (with cache reads and writes) and request id from the reply."""
        params = self._params(messages, max_tokens, temperature)
        sdk = require("anthropic", "anthropic", _PURPOSE)
        started = time.perf_counter()
        try:
            resp = self._client.messages.create(**params)
        except sdk.APIError as exc:
            raise self._error(exc) from exc
        latency = time.perf_counter() - started
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

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Text deltas as they arrive, then the completion with the streamed usage."""
        params = self._params(messages, max_tokens, temperature)
        sdk = require("anthropic", "anthropic", _PURPOSE)
        started = time.perf_counter()
        try:
            stream = self._client.messages.create(**params, stream=True)
        except sdk.APIError as exc:
            raise self._error(exc) from exc
        request_id = stream.response.headers.get("request-id")
        pieces: list[str] = []
        first: float | None = None
        model = self.model
        counts = {"input": 0, "output": 0, "read": 0, "write": 0}
        finish: str | None = None
        try:
            for event in stream:
                if event.type == "message_start":
                    model = event.message.model or model
                    _merge_usage(counts, event.message.usage)
                elif event.type == "content_block_delta" and event.delta.type == "text_delta":
                    if first is None:
                        first = time.perf_counter() - started
                    pieces.append(event.delta.text)
                    yield StreamEvent(text=event.delta.text)
                elif event.type == "message_delta":
                    finish = event.delta.stop_reason or finish
                    _merge_usage(counts, event.usage)
        except sdk.APIError as exc:
            raise self._error(exc) from exc
        finally:
            stream.close()
        usage = self._usage(
            model,
            counts["input"],
            counts["output"],
            counts["read"],
            counts["write"],
            time.perf_counter() - started,
        )
        usage.request_id = request_id
        usage.time_to_first_token_s = first
        yield StreamEvent(
            completion=Completion(text="".join(pieces), usage=usage, finish_reason=finish)
        )

    # --- helpers ---

    def _usage(
        self, model: str, plain: int, output: int, read: int, write: int, latency: float
    ) -> Usage:
        """Anthropic's ``input_tokens`` excludes cache reads and writes; rag's includes them."""
        total_input = plain + read + write
        cost = self.prices.cost(
            self.backend,
            model,
            input_tokens=total_input,
            output_tokens=output,
            cached_input_tokens=read,
            cache_write_tokens=write,
            also=self.model,
        )
        return Usage(
            backend=self.backend,
            model=model,
            input_tokens=total_input,
            output_tokens=output,
            cached_input_tokens=read,
            latency_s=latency,
            cost=cost,
        )

    def _error(self, exc: Exception) -> Exception:
        """The SDK exception as a HostedBackendError (or ContextWindowError) that names the fix."""
        sdk = require("anthropic", "anthropic", _PURPOSE)
        where = self.base_url or "api.anthropic.com"
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
            detail = getattr(exc, "api_message", None) or exc.message
            if status == 400 and "prompt is too long" in str(detail).lower():
                return ContextWindowError(
                    f"{self.label}: the provider says the prompt exceeds the context window "
                    f"({detail}); lower max_context_tokens or max_tokens"
                )
            hint = {
                "auth": "; check the key in ANTHROPIC_API_KEY",
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
