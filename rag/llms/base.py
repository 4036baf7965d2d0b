"""The LLM protocol: one interface for local llama.cpp and hosted APIs.

Contract (every backend, one module each under ``rag/llms/``):

- ``complete(messages)`` returns a ``Completion`` whose ``usage`` carries the
  backend, model, input/output (and cached) tokens as the backend reports them,
  latency and cost (``Decimal(0)`` for local; ``None`` when the price is unknown).
- ``stream(messages)`` yields ``StreamEvent``s: text deltas as they arrive, then
  exactly one final event whose ``completion`` holds the whole text and usage
  (with ``time_to_first_token_s``). Backends that cannot stream declare
  ``supports_streaming = False``.
- ``count_tokens(text)`` counts with the model's own tokenizer when it is available
  offline, else a documented approximation; the query pipeline uses it to pack the
  prompt under ``context_window``.
- Optional capability, read with ``parameter_count_of``: ``parameter_count: int | None``,
  the model's size when the backend knows it (llama.cpp reads it from the GGUF). The
  ``auto`` answer mode answers extractively for models below ``GENERATIVE_MIN_PARAMS``.
- Async twin (httpx's ``BaseTransport``/``AsyncBaseTransport`` shape): ``AsyncLLM`` with
  ``acomplete``, ``astream`` and ``aclose``, the same contract awaited. The hosted backends
  implement it on their SDKs' async clients; a backend without a native async path (llama.cpp,
  the fakes) becomes one through ``rag.llms.offload.OffloadedLLM``, which runs it in a given
  executor. ``rag.llms.as_async`` picks between them; nothing falls back to a sync call on the
  event loop.
- Failures raise ``rag.errors.BackendError`` (with ``kind`` and ``retryable``) or
  ``ContextWindowError``; never a bare SDK exception.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator, Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from rag.types import Usage


class Message(BaseModel):
    """One chat message."""

    role: Literal["system", "user", "assistant"]
    content: str
    stable_chars: int = Field(default=0, ge=0, exclude=True)
    """How many leading characters of ``content`` repeat across calls (a prompt's sources,
    shared by the questions of a batch): a backend with an explicit prompt cache may mark them
    (``rag.llms.anthropic``); the others send ``content`` whole. Not serialized."""


class Completion(BaseModel):
    """A finished generation and what it cost."""

    text: str
    usage: Usage
    finish_reason: str | None = None


class StreamEvent(BaseModel):
    """A text delta, or (last) the finished completion."""

    text: str = ""
    completion: Completion | None = None


@runtime_checkable
class LLM(Protocol):
    """A text generator. See the module docstring for the contract."""

    backend: str
    model: str
    supports_streaming: bool

    @property
    def context_window(self) -> int:
        """Tokens the model takes in prompt and answer together."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model's prompt."""
        ...

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """Generate a reply to ``messages``."""
        ...

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        """Generate a reply, yielding deltas and then the final completion."""
        ...


@runtime_checkable
class AsyncLLM(Protocol):
    """The async twin of ``LLM``: the same calls awaited, and ``aclose`` for the async client."""

    backend: str
    model: str
    supports_streaming: bool

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        """Generate a reply to ``messages``."""
        ...

    def astream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        """Generate a reply, yielding deltas and then the final completion."""
        ...

    async def aclose(self) -> None:
        """Release what the async calls hold (the async client's connections)."""
        ...


def approx_tokens(text: str) -> int:
    """Token estimate when no tokenizer is at hand: one per 4 characters of Latin text,
    one per character of Hangul/CJK (those take about a token each in BPE vocabularies)."""
    wide = sum(1 for ch in text if ord(ch) >= 0x1100)
    return (len(text) - wide + 3) // 4 + wide


GENERATIVE_MIN_PARAMS = 1_000_000_000
"""Below this many parameters the ``auto`` answer mode does not let the model write the
answer: SmolLM2-135M, the packaged default, writes answers that contain the gold answer far
less often than the sources' own best sentences do and invents commands and numbers (numbers
in README "Grounded answers"). Hosted models and GGUFs of unknown size are let write, with
every sentence checked."""


def parameter_count_of(llm: Any) -> int | None:
    """The model's parameter count when its backend declares it, else None."""
    try:
        count = getattr(llm, "parameter_count", None)
    except Exception:  # a model that cannot be loaded: unknown size
        return None
    return int(count) if isinstance(count, int) and count > 0 else None
