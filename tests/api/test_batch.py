"""``ask_many`` (``RAG`` and ``AsyncRAG``): one retrieval pass per batch, answers in order and
equal to ``ask``'s, failures per question; and against the loopback OpenAI/Anthropic server
with 200 ms per call: concurrency 8 takes at most a fifth of the sequential time, a per-day
budget that allows 20 calls lets exactly 20 through at concurrency 8, and one failing question
does not stop the others."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from llm_server import FakeProvider, Reply, close_tracked, track
from topic_corpus import TOPICS, topic, write_corpus

from rag.aio import AsyncRAG
from rag.api import RAG
from rag.chunking import TokenChunker
from rag.costs.calllog import CallLog
from rag.costs.pricing import ModelPrice, PriceTable
from rag.errors import ConfigError
from rag.llms.anthropic import AnthropicLLM, AnthropicProvider
from rag.llms.base import LLM
from rag.llms.openai import OpenAILLM, OpenAIProvider
from rag.llms.routing import Budget, RetryPolicy, RoutedLLM
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM, echo_question
from rag.types import Answer, AskFailure

QUESTIONS = [f"What about {topic(i % TOPICS)}?" for i in range(32)]


class CountingEmbedder(FakeEmbedder):
    """FakeEmbedder that records how many texts each query-embedding call had."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.query_calls: list[int] = []

    def embed(self, texts: Sequence[str], *, input_type: str = "document") -> Any:
        if input_type == "query":
            self.query_calls.append(len(texts))
        return super().embed(texts, input_type=input_type)  # type: ignore[arg-type]


def make_rag(tmp_path: Path, llm: LLM, cls: type[Any] = RAG, **settings: Any) -> Any:
    docs = tmp_path / "docs"
    if not docs.exists():
        write_corpus(docs)
    embedder = CountingEmbedder(dimension=256)
    r = cls(
        store=MemoryStore("batch"),
        embedder=embedder,
        llm=llm,
        chunker=TokenChunker(embedder.tokenizer, 60, 10),
        data_dir=tmp_path / "data",
        top_k=2,
        **{"answer_mode": "generative", **settings},
    )
    return r


@pytest.fixture()
def rag_fake(tmp_path: Path) -> Iterator[RAG]:
    with make_rag(tmp_path, ScriptedLLM(reply=echo_question)) as r:
        r.ingest(tmp_path / "docs")
        yield r


@pytest.mark.parametrize("mode", ["generative", "extractive"])
def test_same_answers_as_ask_in_order_with_one_embedding_call(tmp_path: Path, mode: str) -> None:
    with make_rag(tmp_path, ScriptedLLM(reply=echo_question), answer_mode=mode) as r:
        r.ingest(tmp_path / "docs")
        embedder = r.embedder
        assert isinstance(embedder, CountingEmbedder)
        embedder.query_calls.clear()
        seen: list[int] = []
        answers = r.ask_many(QUESTIONS[:10], concurrency=4, on_done=lambda i, _: seen.append(i))
        # retrieval embeds the batch's questions in one call; an extractive answer then
        # compares its sentences with its own question (one text per call)
        assert embedder.query_calls[0] == 10, "the batch's questions are embedded in one call"
        assert embedder.query_calls[1:] == ([1] * 10 if mode == "extractive" else [])
        assert sorted(seen) == list(range(10))
        for question, answer in zip(QUESTIONS[:10], answers, strict=True):
            assert isinstance(answer, Answer)
            alone = r.ask(question)
            assert answer.question == question
            assert answer.text == alone.text
            assert [c.source for c in answer.citations] == [c.source for c in alone.citations]
            assert answer.mode == mode
        calls = r.call_log.calls()
        assert len(calls) == 20, "every answer of the batch is recorded as ask records it"


def test_failures_are_per_question(rag_fake: RAG) -> None:
    def reply(messages: Sequence[Any]) -> str:
        if topic(3) in messages[-1].content:
            raise RuntimeError("boom on topic 3")
        return echo_question(messages)

    bad = rag_fake.with_settings(rag_fake.settings, llm=ScriptedLLM(reply=reply))
    answers = bad.ask_many(QUESTIONS[:8], concurrency=3)
    failed = [a for a in answers if isinstance(a, AskFailure)]
    assert [(f.index, f.kind) for f in failed] == [(3, "RuntimeError")]
    assert failed[0].message == "boom on topic 3" and failed[0].question == QUESTIONS[3]
    assert all(isinstance(a, Answer) for i, a in enumerate(answers) if i != 3)
    with pytest.raises(ConfigError, match="concurrency"):
        rag_fake.ask_many(QUESTIONS, concurrency=0)
    assert rag_fake.ask_many([]) == []


def test_async_ask_many_matches(tmp_path: Path) -> None:
    sync = make_rag(tmp_path / "s", ScriptedLLM(reply=echo_question))
    sync.ingest(tmp_path / "s" / "docs")

    async def main() -> list[Answer | AskFailure]:
        async with make_rag(tmp_path / "a", ScriptedLLM(reply=echo_question), AsyncRAG) as r:
            await r.ingest(tmp_path / "a" / "docs")
            return list(await r.ask_many(QUESTIONS[:6], concurrency=3))

    answers = asyncio.run(main())
    for question, answer in zip(QUESTIONS[:6], answers, strict=True):
        assert isinstance(answer, Answer)
        assert answer.text == sync.ask(question).text
    sync.close()


# --- against the loopback OpenAI / Anthropic server ---


@pytest.fixture()
def slow_server() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        server.default = Reply(text="It matters [1].", delay_s=0.2)
        yield server
    close_tracked()


def hosted(server: FakeProvider, backend: str, **kw: Any) -> LLM:
    if backend == "openai":
        provider = OpenAIProvider.openai(api_key="sk-test", base_url=server.openai_url)
        return track(OpenAILLM("gpt-4o-mini", provider=provider, **kw))
    anthropic = AnthropicProvider.official(api_key="sk-ant", base_url=server.anthropic_url)
    return track(AnthropicLLM("claude-haiku-4-5", provider=anthropic, **kw))


@pytest.mark.integration
def test_concurrency_8_keeps_8_requests_in_flight(
    tmp_path: Path, slow_server: FakeProvider
) -> None:
    """Overlap is counted at the server, not timed: with ``gather=8`` each request is held
    until eight are in flight, so anything less than eight workers would show in the count."""
    with make_rag(tmp_path, hosted(slow_server, "openai"), check_answers=False) as r:
        r.ingest(tmp_path / "docs")
        r.ask(QUESTIONS[0])  # warm: the keyword index, the connection pool
        slow_server.max_in_flight = 0
        sequential = r.ask_many(QUESTIONS, concurrency=1)
        assert slow_server.max_in_flight == 1
        slow_server.default = Reply(text="It matters [1].", gather=8)
        slow_server.max_in_flight = 0
        parallel = r.ask_many(QUESTIONS, concurrency=8)
        assert slow_server.max_in_flight == 8
    assert all(isinstance(a, Answer) for a in [*sequential, *parallel])
    assert [a.text for a in parallel] == [a.text for a in sequential]

    async def main() -> list[Answer | AskFailure]:
        async with make_rag(
            tmp_path / "a", hosted(slow_server, "anthropic"), AsyncRAG, check_answers=False
        ) as r:
            await r.ingest(tmp_path / "docs")
            slow_server.max_in_flight = 0
            return list(await r.ask_many(QUESTIONS, concurrency=8))

    answers = asyncio.run(main())
    assert slow_server.max_in_flight == 8
    assert all(isinstance(a, Answer) for a in answers)
    assert {a.usage.backend for a in answers if isinstance(a, Answer)} == {"anthropic"}


def one_dollar_a_call() -> PriceTable:
    """Only output tokens cost ($1 each), and each call asks for and gets one: the router's
    worst-case estimate equals the actual cost, so a $20 day holds exactly 20 calls."""
    price = ModelPrice(input=Decimal(0), output=Decimal(1_000_000))
    return PriceTable({"openai": {"gpt-4o-mini": price}})


@pytest.mark.integration
@pytest.mark.parametrize("runner", ["sync", "async"])
def test_per_day_budget_is_never_overshot_by_concurrency(
    tmp_path: Path, slow_server: FakeProvider, runner: str
) -> None:
    slow_server.default = Reply(text="It matters [1].", output_tokens=1, delay_s=0.2)
    prices = one_dollar_a_call()
    log = CallLog(tmp_path / "data" / "calls.db")
    router = RoutedLLM(
        [("main", hosted(slow_server, "openai", prices=prices))],
        budget=Budget(per_day_usd=Decimal(20)),
        retry=RetryPolicy(attempts=1),
        prices=prices,
        max_tokens=1,
        call_log=log,
    )
    r = make_rag(tmp_path, router, check_answers=False, max_tokens=1)
    r._call_log = log
    r.ingest(tmp_path / "docs")
    if runner == "sync":
        answers = r.ask_many(QUESTIONS, concurrency=8)
    else:

        async def main() -> list[Answer | AskFailure]:
            with ThreadPoolExecutor(8) as pool:
                return await AsyncRAG.wrap(r, executor=pool).ask_many(QUESTIONS, concurrency=8)

        answers = asyncio.run(main())
    r.close()
    ok = [a for a in answers if isinstance(a, Answer)]
    refused = [a for a in answers if isinstance(a, AskFailure)]
    assert len(ok) == 20 and len(slow_server.requests) == 20
    assert {f.kind for f in refused} == {"budget"} and len(refused) == 12
    assert "per-day budget $20" in refused[0].message
    assert sum(a.usage.cost or 0 for a in ok) == Decimal(20)


@pytest.mark.integration
@pytest.mark.parametrize("backend", ["openai", "anthropic"])
def test_one_failing_question_does_not_stop_the_others(
    tmp_path: Path, slow_server: FakeProvider, backend: str
) -> None:
    slow_server.push(Reply(status=400, error_message="this one is malformed", delay_s=0.2))
    with make_rag(tmp_path, hosted(slow_server, backend), check_answers=False) as r:
        r.ingest(tmp_path / "docs")
        answers = r.ask_many(QUESTIONS[:16], concurrency=8)
        failed = [a for a in answers if isinstance(a, AskFailure)]
        assert len(failed) == 1 and failed[0].kind == "bad_request"
        assert "this one is malformed" in failed[0].message
        assert sum(isinstance(a, Answer) for a in answers) == 15
        outcomes = [c.outcome for c in r.call_log.calls()]
        assert outcomes.count("ok") == 15 and outcomes.count("error:bad_request") == 1
