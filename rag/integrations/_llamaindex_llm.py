"""``from_llamaindex``: a LlamaIndex LLM behind rag's ``LLM`` protocol (``rag.llms.base``).

Imported through ``rag.integrations.llamaindex`` (which checks the ``llamaindex`` extra first).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.callbacks.token_counting import get_tokens_from_response
from llama_index.core.llms.llm import LLM as LlamaIndexLLMBase

from rag.errors import BackendError
from rag.llms.base import Completion, Message, StreamEvent, approx_tokens
from rag.types import Usage

__all__ = ["LlamaIndexLLM", "from_llamaindex"]

_ROLES = {
    "system": MessageRole.SYSTEM,
    "user": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
}


class LlamaIndexLLM:
    """A LlamaIndex LLM behind rag's ``LLM`` protocol (``rag.llms.base``).

    ``backend`` is ``llamaindex``; ``model`` the LLM's ``metadata.model_name`` (its class name
    when it has none); ``context_window`` its ``metadata.context_window``. Generation settings
    (max tokens, temperature) are the LlamaIndex LLM's own, set when it was built: LlamaIndex
    has no per-call parameter for them that every LLM takes, so rag's per-call values are not
    passed. The cost is unknown (None): rag has no price for an arbitrary LlamaIndex model.
    Token counts: as the LLM reports them in its response (``raw["usage"]`` or
    ``additional_kwargs``, as LlamaIndex's own token counter reads them), else estimated with
    ``approx_tokens`` and marked ``Usage.tokens_estimated``.
    """

    backend = "llamaindex"
    supports_streaming = True

    def __init__(self, llm: LlamaIndexLLMBase, *, model: str | None = None) -> None:
        self.llm = llm
        meta = llm.metadata
        name = meta.model_name if meta.model_name and meta.model_name != "unknown" else None
        self.model = model or name or llm.class_name()
        self._context_window = int(meta.context_window)

    @property
    def context_window(self) -> int:
        return self._context_window

    def count_tokens(self, text: str) -> int:
        """An estimate (``approx_tokens``): LlamaIndex exposes no tokenizer per model."""
        return approx_tokens(text)

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        started = time.perf_counter()
        try:
            response = self.llm.chat(_chat_messages(messages))
        except Exception as exc:
            raise self._error(exc) from exc
        text = response.message.content or ""
        return Completion(text=text, usage=self._usage(messages, text, response, started))

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        first: float | None = None
        pieces: list[str] = []
        last: ChatResponse | None = None
        try:
            for response in self.llm.stream_chat(_chat_messages(messages)):
                last = response
                if response.delta:
                    if first is None:
                        first = time.perf_counter() - started
                    pieces.append(response.delta)
                    yield StreamEvent(text=response.delta)
        except Exception as exc:
            raise self._error(exc) from exc
        text = "".join(pieces)
        if not text and last is not None and last.message.content:
            text = last.message.content  # a stream that sent the whole text, no deltas
            yield StreamEvent(text=text)
        usage = self._usage(messages, text, last, started)
        usage.time_to_first_token_s = first
        yield StreamEvent(completion=Completion(text=text, usage=usage))

    def _usage(
        self,
        messages: Sequence[Message],
        text: str,
        response: ChatResponse | None,
        started: float,
    ) -> Usage:
        reported = _reported_tokens(response)
        counts = reported or (sum(approx_tokens(m.content) for m in messages), approx_tokens(text))
        return Usage(
            backend=self.backend,
            model=self.model,
            input_tokens=counts[0],
            output_tokens=counts[1],
            latency_s=time.perf_counter() - started,
            cost=None,
            tokens_estimated=reported is None,
        )

    def _error(self, exc: Exception) -> BackendError:
        return BackendError(
            f"LlamaIndex LLM {type(self.llm).__name__} ({self.model}) failed: "
            f"{type(exc).__name__}: {exc}"
        )


def _chat_messages(messages: Sequence[Message]) -> list[ChatMessage]:
    return [ChatMessage(role=_ROLES[m.role], content=m.content) for m in messages]


def _reported_tokens(response: ChatResponse | None) -> tuple[int, int] | None:
    """(input, output) tokens the LLM reported, or None when it reported none."""
    if response is None:
        return None
    try:
        prompt, completion = get_tokens_from_response(response)
    except (TypeError, ValueError, AttributeError):  # a raw response of another shape
        return None
    if not prompt and not completion:
        return None
    return int(prompt), int(completion)


def from_llamaindex(llm: LlamaIndexLLMBase, *, model: str | None = None) -> LlamaIndexLLM:
    """A LlamaIndex LLM as rag's LLM: ``RAG(llm=from_llamaindex(llm))`` (see
    ``LlamaIndexLLM``). ``model`` names it in the call log (default: from its metadata)."""
    return LlamaIndexLLM(llm, model=model)
