"""What the hosted backends (``openai``, ``anthropic``) share: the provider (who serves: name,
key, base URL), the model's window from the price list, priced ``Usage``, API-key checks, the
pre-call context-window check, and turning the SDK's errors into ``HostedBackendError``s the
router can act on.

Both official SDKs are generated from one template, so their clients and exception classes
(``APITimeoutError``, ``APIConnectionError``, ``APIStatusError``) have the same shape: a
provider names its SDK, and a backend (``HostedLLM`` subclass) writes only its wire format:
the request parameters, one call, one stream, and how the provider words a context overflow.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import os
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Callable, Iterator, Mapping, Sequence
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Self

from rag._lazy import require
from rag.costs.pricing import PriceTable, load_prices
from rag.errors import ConfigError, ContextWindowError, HostedBackendError, LLMError
from rag.llms.base import Completion, Message, StreamEvent, approx_tokens
from rag.types import Usage

PromptCache = Literal["auto", "sources", "off"]
"""What Anthropic requests mark with ``cache_control`` (setting ``prompt_cache``): ``auto`` the
system prompt and the conversation so far, ``sources`` also the sources of the prompt (worth it
when the questions of a batch share them: a cache write costs 1.25x input, a read 0.1x),
``off`` nothing."""

DEFAULT_CONTEXT_WINDOW = 8192
"""Assumed window of a model that neither the price list nor the configuration describes."""

MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat format adds per message (role markers, separators)."""


def check_api_key(key: str | None, env_var: str, label: str) -> str:
    """Return a usable key or raise ConfigError naming ``env_var`` (at construction time)."""
    if key is None or not key.strip():
        raise ConfigError(
            f"{label} needs an API key: set the environment variable {env_var} "
            f"(export {env_var}=...) or choose another backend with --llm / setting 'llm'"
        )
    key = key.strip()
    if any(ch.isspace() for ch in key) or not key.isascii() or not key.isprintable():
        raise ConfigError(
            f"{label}: the API key in {env_var} is malformed (it contains spaces, line breaks or "
            f"non-ASCII characters); copy the key again into {env_var}"
        )
    return key


def prompt_tokens(messages: Sequence[Message]) -> int:
    """Approximate prompt size (``approx_tokens`` per message plus the chat-format overhead)."""
    return sum(approx_tokens(m.content) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def check_context_window(
    label: str, prompt: int, max_tokens: int, window: int, source: str
) -> None:
    """Refuse before sending when prompt + requested output cannot fit the model's window."""
    if prompt + max_tokens > window:
        raise ContextWindowError(
            f"{label}: the prompt (~{prompt} tokens, approximated) plus max_tokens ({max_tokens}) "
            f"exceeds the model's context window of {window} tokens ({source}). Lower "
            "max_context_tokens or top_k, ask for fewer output tokens, or pick a model with a "
            "larger window; nothing was sent"
        )


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if math.isfinite(value) and value >= 0 else None
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    return max(email.utils.mktime_tz(parsed) - time.time(), 0.0)


def classify_status(status: int) -> tuple[str, bool]:
    """``(kind, retryable)`` for an HTTP error status."""
    if status == 429:
        return "rate_limit", True
    if status == 408:
        return "timeout", True
    if status in (401, 403):
        return "auth", False
    if status >= 500:
        return "server", True
    if status == 409:
        return "server", True  # conflict: the providers' own SDKs retry it
    return "bad_request", False


@dataclass(frozen=True)
class HostedProvider:
    """Who serves a wire protocol (pydantic-ai's Provider): its name (the ``backend`` in usage
    and prices), API key, base URL, the environment variable the key comes from, and the SDK
    client built from them. A subclass per protocol names its SDK."""

    name: str
    api_key: str
    base_url: str | None = None
    """None = the SDK default (its ``*_BASE_URL`` variable, else ``default_host``)."""
    key_env: str = ""

    official_name: ClassVar[str]
    """``name`` on the provider's own API (``openai``, ``anthropic``); also the import name of
    its official SDK and rag's extra that installs it."""
    title: ClassVar[str]
    """The provider as messages name it (``OpenAI``); also its SDK's client class."""
    default_host: ClassVar[str]
    purpose: ClassVar[str]
    """What needs the SDK, for the install hint."""

    @classmethod
    def official(cls, api_key: str | None = None, base_url: str | None = None) -> Self:
        """The provider's own API (or whatever serves it at ``base_url``). The key defaults to
        the variable ``key_env`` names; ConfigError if it is unset or malformed."""
        env = cls.key_env  # the field's default, e.g. OPENAI_API_KEY
        key = check_api_key(
            api_key if api_key is not None else os.environ.get(env), env, f"the {cls.title} backend"
        )
        return cls(name=cls.official_name, api_key=key, base_url=base_url)

    @property
    def where(self) -> str:
        """The server, as error messages name it (the SDK's ``*_BASE_URL`` variable counts;
        any password in it masked)."""
        from rag.redact import redact

        env = os.environ.get(f"{self.official_name.upper()}_BASE_URL")
        return redact(self.base_url or env or self.default_host)

    def sdk(self) -> Any:
        """The SDK module, or MissingDependencyError naming the extra."""
        return require(self.official_name, self.official_name, self.purpose)

    def client(self, timeout_s: float) -> Any:
        """An SDK client with retries off (rag retries) and the given timeout."""
        return getattr(self.sdk(), self.title)(
            api_key=self.api_key, base_url=self.base_url, timeout=timeout_s, max_retries=0
        )

    def async_client(self, timeout_s: float) -> Any:
        """The SDK's async client (``AsyncOpenAI``, ``AsyncAnthropic``), set up as ``client``."""
        return getattr(self.sdk(), "Async" + self.title)(
            api_key=self.api_key, base_url=self.base_url, timeout=timeout_s, max_retries=0
        )


class HostedLLM(ABC):
    """The shared half of a hosted backend: window, pricing, client, closing and error mapping.
    A subclass names its provider type and an example spec, and implements the calls (see
    ``rag.llms.base`` for the contract) twice: sync on the SDK's client and async
    (``AsyncLLM``) on its async client. The async client is built on first use, one per event
    loop (an httpx pool belongs to the loop that opened it); ``aclose`` closes the running
    loop's."""

    supports_streaming = True
    provider_type: ClassVar[type[HostedProvider]]
    """Whose ``official()`` provider serves when none is given."""
    example_spec: ClassVar[str]
    """Shown when the model name is missing, e.g. ``openai:gpt-4o-mini``."""
    max_temperature: ClassVar[float | None] = None
    """The provider's upper bound on ``temperature``, checked at construction; None = none."""

    _client: Any

    def __init__(
        self,
        model: str,
        *,
        provider: HostedProvider | None = None,
        timeout_s: float = 60.0,
        max_tokens: int = 256,
        temperature: float | None = None,
        context_window: int | None = None,
        prices: PriceTable | None = None,
        prompt_cache: PromptCache = "auto",
    ) -> None:
        if not model:
            raise LLMError(f"{type(self).__name__} needs a model name, e.g. {self.example_spec}")
        high = self.max_temperature
        if temperature is not None and high is not None and not 0.0 <= temperature <= high:
            raise ConfigError(
                f"{self.example_spec.partition(':')[0]}:{model}: temperature {temperature} is "
                f"outside the provider's range 0.0-{high:.1f}; set 'temperature' between 0 and "
                f"{high:g}"
            )
        self.provider = provider or self.provider_type.official()
        self.backend = self.provider.name
        self.model = model
        self.label = f"{self.backend}:{model}"
        self.timeout_s = timeout_s
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.prompt_cache: PromptCache = prompt_cache
        """Which stable prefixes a provider with an explicit prompt cache marks (``PromptCache``);
        OpenAI caches long prefixes by itself and ignores it."""
        self.prices = prices or load_prices()
        self.price_info = self.prices.lookup(self.backend, model)
        info = self.price_info
        if context_window is not None:
            self.context_window, self._window_source = context_window, "configured"
        elif info is not None and info.context_window is not None:
            self.context_window = info.context_window
            self._window_source = f"rag price list {self.prices.version}"
        else:
            self.context_window = DEFAULT_CONTEXT_WINDOW
            self._window_source = "assumed; set context_window for this backend"
        self._client = self.provider.client(timeout_s)
        self._async_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        self._async_lock = threading.Lock()

    def sdk(self) -> Any:
        """The provider's SDK module."""
        return self.provider.sdk()

    def close(self) -> None:
        """Close the SDK client's connection pool."""
        self._client.close()

    def _async_client(self) -> Any:
        """The running loop's async SDK client, built on first use."""
        loop = asyncio.get_running_loop()
        with self._async_lock:
            client = self._async_clients.get(loop)
            if client is None:
                client = self._async_clients[loop] = self.provider.async_client(self.timeout_s)
            return client

    async def aclose(self) -> None:
        """Close the running loop's async SDK client (its connection pool)."""
        with self._async_lock:
            client = self._async_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    def count_tokens(self, text: str) -> int:
        """``approx_tokens``: the providers' tokenizers need the network (or a download)."""
        return approx_tokens(text)

    # --- calls: the protocol here, the wire format in the subclass ---

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """One call; usage and the request id come from the provider's response."""
        params = self._request(messages, max_tokens, temperature)
        with self._mapped_errors():
            return self._complete(params, messages)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Text deltas as they arrive, then the completion with the streamed usage."""
        params = self._request(messages, max_tokens, temperature)
        with self._mapped_errors():
            yield from self._stream(params, messages)

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """``complete`` on the async client."""
        params = self._request(messages, max_tokens, temperature)
        with self._mapped_errors():
            return await self._acomplete(params, messages)

    async def astream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """``stream`` on the async client."""
        params = self._request(messages, max_tokens, temperature)
        with self._mapped_errors():
            async with aclosing(self._astream(params, messages)) as events:
                async for event in events:
                    yield event

    @abstractmethod
    def _params(
        self, messages: Sequence[Message], limit: int, temperature: float | None
    ) -> dict[str, Any]:
        """The SDK call's keyword arguments."""

    @abstractmethod
    def _complete(self, params: dict[str, Any], messages: Sequence[Message]) -> Completion:
        """Send one request; the completion with priced usage."""

    @abstractmethod
    def _stream(self, params: dict[str, Any], messages: Sequence[Message]) -> Iterator[StreamEvent]:
        """Send one streaming request; deltas, then the completion (the ``stream`` contract)."""

    @abstractmethod
    async def _acomplete(self, params: dict[str, Any], messages: Sequence[Message]) -> Completion:
        """``_complete`` on the async client."""

    @abstractmethod
    def _astream(
        self, params: dict[str, Any], messages: Sequence[Message]
    ) -> AsyncGenerator[StreamEvent, None]:
        """``_stream`` on the async client."""

    @abstractmethod
    def _overflow(self, exc: Any) -> bool:
        """Whether an HTTP error (an ``APIStatusError``) says the prompt exceeds the window."""

    def _request(
        self, messages: Sequence[Message], max_tokens: int | None, temperature: float | None
    ) -> dict[str, Any]:
        """The call's parameters, after refusing a prompt that cannot fit the window."""
        limit = max_tokens if max_tokens is not None else self.max_tokens
        check_context_window(
            self.label, prompt_tokens(messages), limit, self.context_window, self._window_source
        )
        return self._params(messages, limit, temperature)

    @contextmanager
    def _mapped_errors(self) -> Iterator[None]:
        """Raise the SDK's errors inside as rag's (``_error``); let anything else through."""
        with mapped_errors(self.sdk(), self._error):
            yield

    def _priced(
        self,
        served: str,
        *,
        input_tokens: int,
        output_tokens: int,
        cached: int,
        cache_write: int = 0,
        latency: float,
    ) -> Usage:
        """Usage with its cost; ``input_tokens`` counts all input, cache reads and writes too."""
        cost = self.prices.cost(
            self.backend,
            served,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cache_write_tokens=cache_write,
            also=self.model,
        )
        return Usage(
            backend=self.backend,
            model=served,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cache_write_tokens=cache_write,
            latency_s=latency,
            cost=cost,
        )

    def _error(self, exc: Exception) -> LLMError:
        """The SDK exception as a HostedBackendError (or ContextWindowError) that names the fix."""
        return sdk_error(exc, self.provider, self.label, self.timeout_s, self._overflow)


@contextmanager
def mapped_errors(sdk: Any, to_error: Callable[[Exception], Exception]) -> Iterator[None]:
    """Raise the SDK's errors (``sdk.APIError``) inside as ``to_error`` makes them; let
    anything else through."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, sdk.APIError):
            raise to_error(exc) from exc
        raise


def sdk_error(
    exc: Exception,
    provider: HostedProvider,
    label: str,
    timeout_s: float,
    overflow: Callable[[Any], bool] = lambda exc: False,
) -> LLMError:
    """An SDK exception as a HostedBackendError (or ContextWindowError, when ``overflow``
    says so) that names the fix; shared by the hosted LLMs and the hosted embedder."""
    sdk = provider.sdk()
    where = provider.where
    if isinstance(exc, sdk.APITimeoutError):
        return HostedBackendError(
            f"{label}: no answer from {where} within {timeout_s:g} s (timeout); "
            "raise the backend's timeout_s or try later",
            kind="timeout",
            retryable=True,
        )
    if isinstance(exc, sdk.APIConnectionError):
        return HostedBackendError(
            f"{label}: cannot connect to {where} ({exc.__cause__ or exc}); check the "
            "URL and your network",
            kind="connection",
            retryable=True,
        )
    if isinstance(exc, sdk.APIStatusError):
        status = exc.status_code
        kind, retryable = classify_status(status)
        detail = getattr(exc, "api_message", None) or exc.message
        if overflow(exc):
            return ContextWindowError(
                f"{label}: the provider says the prompt exceeds the context window "
                f"({detail}); lower max_context_tokens or max_tokens"
            )
        hint = {
            "auth": f"; check the key in {provider.key_env}",
            "rate_limit": "; rag retries and falls back as the routing policy says",
            "bad_request": "; check the model name and parameters",
        }.get(kind, "")
        return HostedBackendError(
            f"{label}: HTTP {status} ({kind}) from {where}, request id "
            f"{exc.request_id or 'none'}: {detail}{hint}",
            kind=kind,
            retryable=retryable,
            retry_after=parse_retry_after(exc.response.headers),
            status_code=status,
            request_id=exc.request_id,
        )
    return HostedBackendError(
        f"{label}: {type(exc).__name__}: {exc}", kind="error", retryable=False
    )
