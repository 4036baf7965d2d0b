"""Many questions at once: ``RAG.ask_many``, ``AsyncRAG.ask_many`` and ``rag ask --file``.

One retrieval pass per batch (``retrieve_many``): a hybrid retriever embeds every question's
dense text in one call and runs the keyword legs on its leg threads while the dense legs query
the store (``HybridRetriever.retrieve_many``); other retrievers retrieve question by question.
Then each question is packed and answered on ``concurrency`` threads, each call under the
model's own rules: a hosted model (or a routing policy: retries, fallback and a per-day
budget that concurrency cannot overshoot, ``rag.llms.routing``) serves ``concurrency`` calls at
once; the local llama.cpp model serves one at a time (its lock), keeping the KV cache of the
prompt prefix the batch's questions share (``batch_llm``). Every call is recorded in the call
log as ``ask`` records it.

A question that fails (its retrieval, its generation, the budget) becomes an ``AskFailure`` in
its place; the others are answered all the same.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Protocol

from rag.errors import ConfigError
from rag.llms.base import LLM
from rag.pipelines.query import QueryPipeline, Retrieves, clean_question
from rag.stores.base import Filters
from rag.types import Answer, AskFailure, Retrieval

__all__ = ["BATCH_THREAD_PREFIX", "Done", "ask_many", "batch_llm", "failure", "retrieve_many"]

BATCH_THREAD_PREFIX = "rag-batch"
"""Name prefix of the threads ``ask_many`` answers on."""

Done = Callable[[int, "Answer | AskFailure"], None]
"""Called once per question as it finishes (index, result), from the thread that finished it."""


class RetrievesMany(Protocol):
    """A retriever with a batched pass (``HybridRetriever``)."""

    def retrieve_many(
        self, questions: Sequence[str], *, k: int | None = None, filters: Filters | None = None
    ) -> list[Retrieval | Exception]: ...


def failure(index: int, question: str, exc: Exception) -> AskFailure:
    """``exc`` as one question's failure (its kind from ``LLMError.kind`` when it has one)."""
    kind = getattr(exc, "kind", None)
    return AskFailure(
        index=index,
        question=question,
        kind=kind if isinstance(kind, str) else type(exc).__name__,
        message=str(exc) or type(exc).__name__,
        error=exc,
    )


def check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigError(f"concurrency is {concurrency!r}; give a whole number of 1 or more")
    return concurrency


def retrieve_many(
    retriever: Retrieves, questions: Sequence[str], *, k: int | None, filters: Filters | None
) -> list[Retrieval | Exception]:
    """Each question's retrieval (or the exception that stopped it), in one pass when the
    retriever has one (module docstring)."""
    many = getattr(retriever, "retrieve_many", None)
    if many is not None:
        batched: RetrievesMany = retriever  # type: ignore[assignment]
        return batched.retrieve_many(questions, k=k, filters=filters)
    out: list[Retrieval | Exception] = []
    for question in questions:
        try:
            out.append(retriever.retrieve(question, k=k, filters=filters))
        except Exception as exc:
            out.append(exc)
    return out


def batch_llm(llm: LLM, *, reuse_prefix: bool) -> LLM:
    """The model a batch generates with. A llama.cpp model (it declares ``reuse_prefix``)
    keeps the KV cache of the prompt prefix the previous question shared with this one (the
    system prompt and chat template) instead of evaluating every prompt from an empty
    context: the same loaded model and lock, a copy of its settings. The trade-off is
    llama.cpp's (``rag.llms.llamacpp``): at near ties an answer may differ from a lone ``ask``.
    Any other model is returned as it is."""
    if not reuse_prefix or getattr(llm, "reuse_prefix", None) is not False:
        return llm
    twin = copy.copy(llm)
    twin.reuse_prefix = True  # type: ignore[attr-defined]
    return twin


def ask_many(
    pipeline: QueryPipeline,
    questions: Sequence[str],
    *,
    concurrency: int = 8,
    filters: Filters | None = None,
    k: int | None = None,
    reuse_prefix: bool = True,
    on_done: Done | None = None,
) -> list[Answer | AskFailure]:
    """An Answer or an AskFailure per question, in the questions' order (module docstring).
    ``on_done`` hears of each as it finishes (a progress bar)."""
    check_concurrency(concurrency)
    cleaned = [clean_question(q) for q in questions]
    if not cleaned:
        return []
    started = time.perf_counter()
    try:
        retrievals = retrieve_many(pipeline.retriever, cleaned, k=k, filters=filters)
    except ConfigError:
        raise  # bad filters: a usage error for every question alike
    except Exception as exc:  # e.g. the embedder failed: every question says so
        retrievals = [exc] * len(cleaned)
    share = (time.perf_counter() - started) / len(cleaned)
    llm = batch_llm(pipeline.llm, reuse_prefix=reuse_prefix)
    results: list[Answer | AskFailure | None] = [None] * len(cleaned)

    def one(i: int) -> Answer | AskFailure:
        found = retrievals[i]
        if isinstance(found, Exception):
            return failure(i, cleaned[i], found)
        try:
            return answer_one(pipeline, llm, cleaned[i], found, share)
        except Exception as exc:
            return failure(i, cleaned[i], exc)

    with ThreadPoolExecutor(
        max_workers=min(concurrency, len(cleaned)), thread_name_prefix=BATCH_THREAD_PREFIX
    ) as pool:
        futures = {pool.submit(one, i): i for i in range(len(cleaned))}
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            if on_done is not None:
                on_done(i, results[i])  # type: ignore[arg-type]
    return [r for r in results if r is not None]


def answer_one(
    pipeline: QueryPipeline, llm: LLM, question: str, retrieval: Retrieval, retrieval_s: float
) -> Answer:
    """Pack ``retrieval`` and answer, as ``QueryPipeline.ask`` does, generating with ``llm``
    (the batch's model); a failed generation is logged, then raised."""
    prepared = pipeline.prepare(question, retrieval)
    if pipeline.answer_mode == "extractive":
        return pipeline.extract(question, prepared, retrieval_s)
    try:
        completion = llm.complete(prepared.messages, max_tokens=pipeline.max_tokens)
    except Exception as exc:
        pipeline.record_failure(question, exc)
        raise
    return pipeline.generated(question, prepared, completion, retrieval_s)
