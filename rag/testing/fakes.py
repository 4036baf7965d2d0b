"""Deterministic fakes for fast unit tests: an embedder, a scripted LLM and a reranker.

They satisfy the same protocols as the real parts and report usage like them, so
pipelines are tested without torch or llama.cpp. Each real part still has its own
real test.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal

import numpy as np

from rag.embeddings import InputType
from rag.llms.base import Completion, Message, StreamEvent
from rag.rerankers import keep_best
from rag.types import ScoredChunk, Usage, Vectors

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)


class WhitespaceTokenizer:
    """Counts words and punctuation marks as tokens."""

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(_WORD.findall(t)) for t in texts]

    def split(self, text: str, max_tokens: int, overlap: int = 0) -> list[str]:
        spans = [m.span() for m in _WORD.finditer(text)]
        if len(spans) <= max_tokens:
            return [text] if text.strip() else []
        step = max(1, max_tokens - overlap)
        out = []
        for start in range(0, len(spans), step):
            window = spans[start : start + max_tokens]
            out.append(text[window[0][0] : window[-1][1]])
            if start + max_tokens >= len(spans):
                break
        return out


class FakeEmbedder:
    """Bag-of-words hashing embedder: texts sharing words get similar vectors. Deterministic."""

    def __init__(self, dimension: int = 64, max_tokens: int = 256) -> None:
        self.name = f"fake-{dimension}"
        self.dimension = dimension
        self.max_tokens = max_tokens
        self.tokenizer = WhitespaceTokenizer()
        self.calls = 0
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        self.calls += 1
        self.texts_embedded += len(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[i, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            norm = float(np.linalg.norm(out[i]))
            if norm == 0:
                out[i, 0] = 1.0
            else:
                out[i] /= norm
        return out


class ScriptedLLM:
    """Replies with scripted texts in order (the last one repeats) and reports usage.

    ``prompts`` keeps every message list it was sent, so tests can assert on the prompt.
    ``reply``, when given, computes each reply from the messages instead (for example
    ``echo_question``, so a test can tell which prompt an answer came from).
    """

    backend = "fake"
    supports_streaming = True

    def __init__(
        self,
        replies: Iterable[str] = ("According to the sources [1].",),
        *,
        model: str = "scripted",
        context_window: int = 4096,
        cost_per_call: Decimal | None = Decimal(0),
        reply: Callable[[Sequence[Message]], str] | None = None,
    ) -> None:
        self.replies = list(replies)
        self.reply = reply
        self.model = model
        self.context_window = context_window
        self.cost_per_call = cost_per_call
        self.prompts: list[list[Message]] = []
        self._tok = WhitespaceTokenizer()

    def count_tokens(self, text: str) -> int:
        return self._tok.count([text])[0]

    def _next(self, messages: Sequence[Message]) -> str:
        self.prompts.append(list(messages))
        if self.reply is not None:
            return self.reply(messages)
        index = min(len(self.prompts) - 1, len(self.replies) - 1)
        return self.replies[index]

    def _usage(self, messages: Sequence[Message], text: str, started: float) -> Usage:
        return Usage(
            backend=self.backend,
            model=self.model,
            input_tokens=sum(self.count_tokens(m.content) for m in messages),
            output_tokens=self.count_tokens(text),
            latency_s=time.perf_counter() - started,
            cost=self.cost_per_call,
        )

    def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Completion:
        started = time.perf_counter()
        text = self._next(messages)
        return Completion(
            text=text, usage=self._usage(messages, text, started), finish_reason="stop"
        )

    def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
    ) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        text = self._next(messages)
        first: float | None = None
        for piece in re.findall(r"\S+\s*", text):
            if first is None:
                first = time.perf_counter() - started
            yield StreamEvent(text=piece)
        usage = self._usage(messages, text, started)
        usage.time_to_first_token_s = first
        yield StreamEvent(completion=Completion(text=text, usage=usage, finish_reason="stop"))


_QUESTION = re.compile(r"Question: (.*)\nAnswer:\s*$")


def echo_question(messages: Sequence[Message]) -> str:
    """A ``ScriptedLLM`` reply that repeats the prompt's question and cites sources 1 and 2."""
    match = _QUESTION.search(messages[-1].content)
    return f"Echo: {match.group(1) if match else messages[-1].content} [1] [2]"


class FakeReranker:
    """Scores a hit by the share of the question's distinct words its text contains (0..1);
    deterministic, so tests can predict the order it gives. Keeps no per-call state."""

    name = "fake-overlap"

    def rerank(self, question: str, hits: Sequence[ScoredChunk], k: int) -> list[ScoredChunk]:
        if not hits or k <= 0:
            return []
        words = set(_WORD.findall(question.lower()))
        scores = [
            len(words & set(_WORD.findall(h.chunk.text.lower()))) / max(1, len(words)) for h in hits
        ]
        return keep_best(hits, scores, k)
