"""``from_langchain``: a LangChain chat model behind rag's ``LLM`` and ``AsyncLLM`` protocols,
with usage from its replies and cost from rag's price list.

Imported through ``rag.integrations.langchain`` (which checks the ``langchain`` extra first).
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Iterator, Sequence
from decimal import Decimal
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)

from rag.costs.pricing import PriceTable, load_prices
from rag.errors import BackendError
from rag.llms.base import Completion, Message, StreamEvent, approx_tokens
from rag.types import Usage

__all__ = ["LangChainLLM", "from_langchain"]

_BACKENDS = {"openai": "openai", "azure": "openai", "anthropic": "anthropic"}
"""LangChain ``_llm_type`` prefixes whose prices are rag's backend's (``rag/costs/prices.toml``)."""


def _backend_of(chat_model: BaseChatModel) -> str:
    llm_type = chat_model._llm_type
    for prefix, backend in _BACKENDS.items():
        if llm_type.startswith(prefix):
            return backend
    return llm_type


def _model_of(chat_model: BaseChatModel) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(chat_model, attr, None)
        if isinstance(value, str) and value:
            return value
    return chat_model._llm_type


class LangChainLLM:
    """A LangChain chat model behind rag's ``LLM`` and ``AsyncLLM`` protocols. Usage comes from
    the reply's ``usage_metadata`` (input, output, cache-read and cache-write tokens), or is
    estimated (``approx_tokens``) when the model reports none; cost from rag's price list for
    ``backend``/``model`` (None, with a warning, when unpriced). ``RAG.ask`` records it in the
    call log as for any backend. Errors become ``BackendError``."""

    supports_streaming = True

    def __init__(
        self,
        chat_model: BaseChatModel,
        *,
        backend: str | None = None,
        model: str | None = None,
        context_window: int | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        self.chat_model = chat_model
        self.backend = backend or _backend_of(chat_model)
        self.model = model or _model_of(chat_model)
        self.prices = prices if prices is not None else load_prices()
        price = self.prices.lookup(self.backend, self.model)
        window = context_window or (price.context_window if price is not None else None)
        self._context_window = window or 8192

    @property
    def context_window(self) -> int:
        """From ``context_window``, else rag's price list, else 8192."""
        return self._context_window

    def count_tokens(self, text: str) -> int:
        return approx_tokens(text)

    def _messages(self, messages: Sequence[Message]) -> list[BaseMessage]:
        kinds: dict[str, type[BaseMessage]] = {
            "system": SystemMessage,
            "user": HumanMessage,
            "assistant": AIMessage,
        }
        return [kinds[m.role](content=m.content) for m in messages]

    @staticmethod
    def _kwargs(max_tokens: int | None, temperature: float | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if temperature is not None:
            kwargs["temperature"] = temperature
        return kwargs

    def _usage(
        self, reply: BaseMessage, messages: Sequence[Message], text: str, started: float
    ) -> Usage:
        meta = getattr(reply, "usage_metadata", None)
        if meta:
            details = meta.get("input_token_details") or {}
            input_tokens = int(meta.get("input_tokens", 0))
            output_tokens = int(meta.get("output_tokens", 0))
            cached = int(details.get("cache_read", 0) or 0)
            written = int(details.get("cache_creation", 0) or 0)
        else:
            input_tokens = sum(approx_tokens(m.content) for m in messages)
            output_tokens = approx_tokens(text)
            cached = written = 0
        served = reply.response_metadata.get("model_name") or self.model
        cost: Decimal | None = self.prices.cost(
            self.backend,
            served,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            cache_write_tokens=written,
            also=self.model,
        )
        return Usage(
            backend=self.backend,
            model=served,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cached_input_tokens=cached,
            latency_s=time.perf_counter() - started,
            cost=cost,
        )

    def _error(self, exc: Exception) -> BackendError:
        return BackendError(
            f"{self.backend}:{self.model} (LangChain {type(self.chat_model).__name__}) failed: "
            f"{type(exc).__name__}: {exc}"
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        started = time.perf_counter()
        try:
            reply = self.chat_model.invoke(
                self._messages(messages), **self._kwargs(max_tokens, temperature)
            )
        except Exception as exc:
            raise self._error(exc) from exc
        text = str(reply.text)
        finish = reply.response_metadata.get("finish_reason")
        return Completion(
            text=text, usage=self._usage(reply, messages, text, started), finish_reason=finish
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        first: float | None = None
        total: AIMessageChunk | None = None
        try:
            for piece in self.chat_model.stream(
                self._messages(messages), **self._kwargs(max_tokens, temperature)
            ):
                total = piece if total is None else total + piece
                if piece.text:
                    first = first if first is not None else time.perf_counter() - started
                    yield StreamEvent(text=str(piece.text))
        except Exception as exc:
            raise self._error(exc) from exc
        yield self._final(total, messages, started, first)

    def _final(
        self,
        total: AIMessageChunk | None,
        messages: Sequence[Message],
        started: float,
        first: float | None,
    ) -> StreamEvent:
        reply = total if total is not None else AIMessageChunk(content="")
        text = str(reply.text)
        usage = self._usage(reply, messages, text, started)
        usage.time_to_first_token_s = first
        finish = reply.response_metadata.get("finish_reason")
        return StreamEvent(completion=Completion(text=text, usage=usage, finish_reason=finish))

    async def acomplete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        started = time.perf_counter()
        try:
            reply = await self.chat_model.ainvoke(
                self._messages(messages), **self._kwargs(max_tokens, temperature)
            )
        except Exception as exc:
            raise self._error(exc) from exc
        text = str(reply.text)
        finish = reply.response_metadata.get("finish_reason")
        return Completion(
            text=text, usage=self._usage(reply, messages, text, started), finish_reason=finish
        )

    async def astream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> AsyncGenerator[StreamEvent, None]:
        started = time.perf_counter()
        first: float | None = None
        total: AIMessageChunk | None = None
        try:
            async for piece in self.chat_model.astream(
                self._messages(messages), **self._kwargs(max_tokens, temperature)
            ):
                total = piece if total is None else total + piece
                if piece.text:
                    first = first if first is not None else time.perf_counter() - started
                    yield StreamEvent(text=str(piece.text))
        except Exception as exc:
            raise self._error(exc) from exc
        yield self._final(total, messages, started, first)

    async def aclose(self) -> None:
        """Nothing to release: the chat model's clients belong to whoever made it."""


def from_langchain(
    chat_model: BaseChatModel,
    *,
    backend: str | None = None,
    model: str | None = None,
    context_window: int | None = None,
    prices: PriceTable | None = None,
) -> LangChainLLM:
    """A LangChain chat model as rag's LLM: ``RAG(llm=from_langchain(ChatOpenAI(...)))``.
    ``backend``/``model`` name it in the call log and price list (default: from the model:
    ``ChatOpenAI`` -> ``openai``, ``ChatAnthropic`` -> ``anthropic``, else its ``_llm_type``)."""
    return LangChainLLM(
        chat_model, backend=backend, model=model, context_window=context_window, prices=prices
    )
