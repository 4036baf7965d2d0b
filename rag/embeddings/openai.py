"""Hosted embeddings over the OpenAI embeddings API (``/v1/embeddings``) on the official SDK.

``--embed openai:text-embedding-3-small`` (or ``-large``, or any model a server offers) and
``--embed openai-compatible:URL#MODEL`` for any OpenAI-compatible server: the provider (name,
key, base URL) is the OpenAI LLM backend's ``OpenAIProvider``, as are the SDK client (its own
retries off), the mapping of the SDK's errors (``rag.llms._hosted.sdk_error``) and the retry
rule (``RetryPolicy.wait``: timeouts, 429, 5xx and connection errors, honouring
``retry-after``).

Texts go in requests of at most ``batch_tokens`` estimated tokens and ``MAX_BATCH_TEXTS``
texts. Token counts are estimates (``approx_tokens``: the providers' tokenizers need a
download), so ``ApproxTokenizer`` keeps chunks inside the model's window with that same rule;
the call log holds the provider's exact counts. Every request, failed tries included, is a
row in the call log with kind ``embedding`` and its exact cost from ``prices.toml``. A batch
whose request fails after its retries raises: ``embed`` returns all of its texts' vectors or
none, so ingest writes nothing of that batch.
"""

from __future__ import annotations

import bisect
import time
import warnings
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np

from rag.costs.pricing import PriceTable, load_prices
from rag.embeddings.base import EmbedderIdentity, InputType, Tokenizer
from rag.errors import HostedBackendError, LLMError
from rag.llms._hosted import mapped_errors, sdk_error
from rag.llms.base import approx_tokens
from rag.llms.openai import OpenAIProvider
from rag.routing_config import RetryPolicy
from rag.types import Usage, Vectors

if TYPE_CHECKING:
    from rag.costs.calllog import CallLogLike

__all__ = ["KNOWN_DIMENSIONS", "MAX_BATCH_TEXTS", "ApproxTokenizer", "OpenAIEmbedder"]

KNOWN_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
"""Full vector length of OpenAI's models (others are asked once, on first need)."""
MAX_BATCH_TEXTS = 2048
"""The API's limit on inputs per request."""
MAX_INPUT_TOKENS = 8191
"""The API's limit on one input's tokens (all OpenAI embedding models)."""


class ApproxTokenizer:
    """The ``Tokenizer`` protocol by ``approx_tokens``'s rule (a token per 4 Latin characters,
    one per Hangul/CJK character), for models whose tokenizer is not at hand offline."""

    def count(self, texts: Sequence[str]) -> list[int]:
        return [approx_tokens(t) for t in texts]

    def split(self, text: str, max_tokens: int, overlap: int = 0) -> list[str]:
        """Consecutive pieces of at most ``max_tokens`` estimated tokens, cut after a space
        in the second half of a piece where there is one."""
        if approx_tokens(text) <= max_tokens:
            return [text] if text.strip() else []
        cum = [0]  # cost in quarter tokens up to each character
        for ch in text:
            cum.append(cum[-1] + (4 if ord(ch) >= 0x1100 else 1))
        limit, back, n = 4 * max_tokens, 4 * max(0, min(overlap, max_tokens - 1)), len(text)
        pieces: list[str] = []
        start = 0
        while start < n:
            end = max(bisect.bisect_right(cum, cum[start] + limit) - 1, start + 1)
            if end < n:
                cut = text.rfind(" ", start + (end - start) // 2, end)
                if cut > start:
                    end = cut + 1
            pieces.append(text[start:end])
            if end >= n:
                break
            start = max(bisect.bisect_left(cum, cum[end] - back), start + 1) if back else end
        return [p for p in pieces if p.strip()]


class OpenAIEmbedder:
    """An ``Embedder`` over the OpenAI embeddings API. See the module docstring."""

    max_tokens = MAX_INPUT_TOKENS
    languages: frozenset[str] | None = None
    """Multilingual: no language is left to the keyword leg alone."""

    def __init__(
        self,
        model: str,
        *,
        provider: OpenAIProvider | None = None,
        dimensions: int | None = None,
        batch_tokens: int = 100_000,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        prices: PriceTable | None = None,
        call_log: CallLogLike | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not model or any(ch.isspace() for ch in model):
            raise LLMError(
                f"the OpenAI embedder needs a model name, e.g. openai:text-embedding-3-small "
                f"(got {model!r})"
            )
        self.provider = provider or OpenAIProvider.openai()
        self.backend = self.provider.name
        self.model = model
        self.name = f"{self.backend}:{model}"
        self.dimensions = dimensions
        self.batch_tokens = batch_tokens
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.prices = prices or load_prices()
        self.call_log = call_log
        self._sleep = sleep
        self.tokenizer: Tokenizer = ApproxTokenizer()
        self.identity = EmbedderIdentity(
            model=model,
            backend=self.backend,
            scheme=f"dimensions={dimensions}" if dimensions else "",
        )
        self._dimension = dimensions or KNOWN_DIMENSIONS.get(model)
        self._client = self.provider.client(timeout_s)

    @property
    def billing(self) -> tuple[str, str]:
        """``(backend, model)`` of the price list entry (the ingest plan estimates with it)."""
        return self.backend, self.model

    @property
    def dimension(self) -> int:
        """The vectors' length: ``dimensions``, a known model's, else asked once (one call)."""
        if self._dimension is None:
            self._dimension = int(self.embed(["dimension"], input_type="query").shape[1])
        return self._dimension

    def close(self) -> None:
        """Close the SDK client's connection pool."""
        self._client.close()

    def batches(self, texts: Sequence[str]) -> list[tuple[int, int]]:
        """``[start, end)`` ranges of ``texts``, each one request: at most ``batch_tokens``
        estimated tokens (one text alone may be more) and ``MAX_BATCH_TEXTS`` texts."""
        ranges: list[tuple[int, int]] = []
        start, tokens = 0, 0
        for i, n in enumerate(self.tokenizer.count(texts)):
            full = i - start >= MAX_BATCH_TEXTS or tokens + n > self.batch_tokens
            if i > start and full:
                ranges.append((start, i))
                start, tokens = i, 0
            tokens += n
        if start < len(texts):
            ranges.append((start, len(texts)))
        return ranges

    def embed(self, texts: Sequence[str], *, input_type: InputType = "document") -> Vectors:
        """Unit-length float32 rows, one per text (``input_type`` is ignored: the models are
        symmetric). All or nothing: a request that still fails after its retries raises."""
        if not texts:
            return np.zeros((0, self._dimension or 0), dtype=np.float32)
        parts = [self._request(texts[a:b]) for a, b in self.batches(texts)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _request(self, texts: Sequence[str]) -> Vectors:
        """One request, retried as ``retry`` says; each try is logged."""
        params: dict[str, Any] = {"model": self.model, "input": [t or " " for t in texts]}
        if self.dimensions is not None:
            params["dimensions"] = self.dimensions
        attempt = 0
        while True:
            started = time.perf_counter()
            try:
                with mapped_errors(self.provider.sdk(), self._error):
                    resp = self._client.embeddings.create(**params)
                vectors = self._vectors(resp, len(texts))
            except HostedBackendError as exc:
                self._log_failure(exc, started)
                wait = self.retry.wait(attempt, exc.retry_after) if exc.retryable else None
                if wait is None:
                    raise
                self._sleep(wait)
                attempt += 1
                continue
            self._log(self._usage(resp, texts, time.perf_counter() - started))
            return vectors

    def _vectors(self, resp: Any, count: int) -> Vectors:
        """The response's vectors in input order, unit length."""
        rows = sorted(resp.data, key=lambda d: d.index)
        if len(rows) != count:
            raise HostedBackendError(
                f"{self.name}: the server returned {len(rows)} vectors for {count} texts; "
                "check that it implements /v1/embeddings",
                kind="bad_response",
                retryable=False,
            )
        vectors = np.asarray([d.embedding for d in rows], dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.where(norms > 0, norms, 1.0)
        if self._dimension is None:
            self._dimension = vectors.shape[1]
        return vectors

    def _usage(self, resp: Any, texts: Sequence[str], latency: float) -> Usage:
        """The provider's token count priced exactly; estimated (with a warning) when absent."""
        served = getattr(resp, "model", None) or self.model
        reported = getattr(resp, "usage", None)
        tokens = getattr(reported, "prompt_tokens", None)
        if tokens is None:
            warnings.warn(
                f"{self.name} did not report token usage; rag estimated it",
                UserWarning,
                stacklevel=4,
            )
            tokens = sum(self.tokenizer.count(texts))
        cost = self.prices.cost(
            self.backend, served, input_tokens=int(tokens), output_tokens=0, also=self.model
        )
        return Usage(
            backend=self.backend,
            model=served,
            input_tokens=int(tokens),
            latency_s=latency,
            cost=cost,
            request_id=getattr(resp, "_request_id", None),
            kind="embedding",
        )

    def _error(self, exc: Exception) -> LLMError:
        return sdk_error(exc, self.provider, self.name, self.timeout_s)

    def _log(self, usage: Usage, error: str | None = None) -> None:
        if self.call_log is not None:
            self.call_log.record(usage, error=error)

    def _log_failure(self, exc: HostedBackendError, started: float) -> None:
        self._log(
            Usage(
                backend=self.backend,
                model=self.model,
                latency_s=time.perf_counter() - started,
                cost=Decimal(0),  # providers do not bill refused or failed requests
                request_id=exc.request_id,
                outcome=f"error:{exc.kind}",
                kind="embedding",
            ),
            error=str(exc),
        )
