"""What the hosted backends (``openai``, ``anthropic``) share: API-key checks, the pre-call
context-window check, and turning HTTP failures into ``BackendError``s the router can act on."""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Mapping, Sequence

from rag.errors import BackendError, ConfigError, ContextWindowError
from rag.llms.base import Message, approx_tokens

DEFAULT_CONTEXT_WINDOW = 8192
"""Assumed window of a model that neither the price list nor the configuration describes."""

MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens a chat format adds per message (role markers, separators)."""


class HostedBackendError(BackendError):
    """A hosted call failed. Adds what routing needs: ``retry_after`` (seconds the provider asked
    to wait, or None), the HTTP ``status_code`` and the provider's ``request_id``."""

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        retryable: bool,
        retry_after: float | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, kind=kind, retryable=retryable)
        self.retry_after = retry_after
        self.status_code = status_code
        self.request_id = request_id


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
