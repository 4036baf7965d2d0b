"""The async twins of the hosted backends (``AsyncLLM``): the real ``AsyncOpenAI`` and
``AsyncAnthropic`` clients against tests/llm_server.py on 127.0.0.1, the async router, and
``AsyncRAG`` over them, with usage and cost as on the sync path and in the call log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest
from llm_server import MESSAGES, FakeProvider, Reply, rate_limited, track
from no_real_llm import no_real_llm  # noqa: F401  (the guard, until conftest enables it)

from rag.aio import AsyncRAG
from rag.chunking import TokenChunker
from rag.costs.calllog import CallLog
from rag.costs.pricing import load_prices
from rag.errors import HostedBackendError
from rag.llms import as_async
from rag.llms.anthropic import AnthropicLLM, AnthropicProvider
from rag.llms.base import AsyncLLM, StreamEvent
from rag.llms.openai import OpenAILLM, OpenAIProvider
from rag.llms.routing import AsyncRoutedLLM, RetryPolicy, RoutedLLM
from rag.stores.memory import MemoryStore
from rag.testing import FakeEmbedder, ScriptedLLM
from rag.types import Answer

pytestmark = pytest.mark.integration


@pytest.fixture()
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def openai_llm(fake: FakeProvider, model: str = "gpt-4o-mini", **kw: object) -> OpenAILLM:
    provider = OpenAIProvider.openai(api_key="sk-test-123", base_url=fake.openai_url)
    return track(OpenAILLM(model, provider=provider, **kw))  # type: ignore[arg-type]


def anthropic_llm(fake: FakeProvider, model: str = "claude-haiku-4-5-20251001") -> AnthropicLLM:
    provider = AnthropicProvider.official(api_key="sk-ant-test", base_url=fake.anthropic_url)
    return track(AnthropicLLM(model, provider=provider))


def test_openai_async_complete_and_stream(fake: FakeProvider) -> None:
    """Usage, cost and request id as on the sync path; the requests come from the async client."""
    fake.push(
        Reply(text="Paris [1].", input_tokens=1200, output_tokens=30, cached_tokens=1024),
        Reply(text="Paris is the capital [1].", input_tokens=50, output_tokens=7, cached_tokens=16),
    )
    llm = openai_llm(fake, temperature=0.2, max_tokens=64)
    assert isinstance(llm, AsyncLLM)

    async def main() -> tuple[object, list[StreamEvent]]:
        try:
            done = await llm.acomplete(MESSAGES)
            events = [e async for e in llm.astream(MESSAGES, max_tokens=20, temperature=0.0)]
        finally:
            await llm.aclose()
        return done, events

    done, events = asyncio.run(main())
    u = done.usage  # type: ignore[attr-defined]
    assert done.text == "Paris [1]."  # type: ignore[attr-defined]
    assert (u.backend, u.model) == ("openai", "gpt-4o-mini")
    assert (u.input_tokens, u.output_tokens, u.cached_input_tokens) == (1200, 30, 1024)
    assert u.cost == Decimal("0.0001212")
    assert u.request_id == "req_1" and u.latency_s > 0

    deltas = [e.text for e in events if e.completion is None]
    assert len(deltas) >= 4 and "".join(deltas) == "Paris is the capital [1]."
    final = events[-1].completion
    assert final is not None and final.text == "Paris is the capital [1]."
    s = final.usage
    assert (s.input_tokens, s.output_tokens, s.cached_input_tokens) == (50, 7, 16)
    assert s.cost == (34 * Decimal("0.15") + 16 * Decimal("0.075") + 7 * Decimal("0.60")) / 10**6
    assert s.time_to_first_token_s is not None and s.request_id == "req_2"

    first, second = fake.requests
    assert first.headers["x-stainless-async"].startswith("async:")
    assert first.body["max_completion_tokens"] == 64 and first.body["temperature"] == 0.2
    assert second.body["stream"] is True
    assert second.body["stream_options"] == {"include_usage": True}


def test_anthropic_async_complete_and_stream(fake: FakeProvider) -> None:
    fake.push(
        Reply(
            text="Paris [1].",
            input_tokens=100,
            output_tokens=20,
            cached_tokens=2000,
            cache_write_tokens=500,
            request_id="req_ant_42",
        ),
        Reply(text="Paris is in France [1].", input_tokens=80, output_tokens=12, cached_tokens=8),
    )
    llm = anthropic_llm(fake)

    async def main() -> tuple[object, list[StreamEvent]]:
        try:
            done = await llm.acomplete(MESSAGES)
            events = [e async for e in llm.astream(MESSAGES)]
        finally:
            await llm.aclose()
        return done, events

    done, events = asyncio.run(main())
    u = done.usage  # type: ignore[attr-defined]
    assert done.finish_reason == "end_turn"  # type: ignore[attr-defined]
    assert u.input_tokens == 2600 and u.cached_input_tokens == 2000 and u.output_tokens == 20
    assert u.cost == Decimal("0.001025") and u.request_id == "req_ant_42"
    deltas = [e.text for e in events if e.completion is None]
    assert len(deltas) >= 4 and "".join(deltas) == "Paris is in France [1]."
    final = events[-1].completion
    assert final is not None
    assert (final.usage.input_tokens, final.usage.output_tokens) == (88, 12)
    assert final.usage.cost == (80 * Decimal(1) + 8 * Decimal("0.10") + 12 * Decimal(5)) / 10**6
    assert fake.requests[0].path == "/v1/messages"
    assert fake.requests[0].headers["x-stainless-async"].startswith("async:")
    assert fake.requests[0].body["system"] == "Answer from the sources only."


def test_async_errors_are_mapped_like_sync(fake: FakeProvider) -> None:
    fake.push(rate_limited("2"))
    llm = openai_llm(fake)

    async def main() -> None:
        try:
            await llm.acomplete(MESSAGES)
        finally:
            await llm.aclose()

    with pytest.raises(HostedBackendError) as info:
        asyncio.run(main())
    assert info.value.kind == "rate_limit" and info.value.retry_after == 2.0


def test_async_router_retries_falls_back_and_logs(fake: FakeProvider, tmp_path: Path) -> None:
    """429 twice on the primary (attempts=2), then the fallback (a sync-only LLM, run in the
    executor) answers; both failed attempts are in the call log; the route says why."""
    fake.push(rate_limited("0"), rate_limited("0"))
    log = CallLog(tmp_path / "calls.db")
    router = RoutedLLM(
        [("main", openai_llm(fake)), ("local", ScriptedLLM(["local answer [1]"]))],
        retry=RetryPolicy(attempts=2),
        prices=load_prices(),
        call_log=log,
    )
    with ThreadPoolExecutor(2) as pool:
        view = as_async(router, pool)
        assert isinstance(view, AsyncRoutedLLM)

        async def main() -> tuple[str, list[str | None]]:
            try:
                done = await view.acomplete(MESSAGES)
                fake.push(rate_limited("0"), rate_limited("0"))
                events = [e async for e in view.astream(MESSAGES)]
            finally:
                await view.aclose()
            final = events[-1].completion
            assert final is not None
            return done.usage.route or "", [done.text, final.text]

        route, texts = asyncio.run(main())
    assert texts == ["local answer [1]", "local answer [1]"]
    assert route == "fallback after rate_limit from openai:gpt-4o-mini"
    outcomes = [c.outcome for c in log.calls()]
    assert outcomes.count("error:rate_limit") == 4


def test_async_rag_over_openai_records_usage_and_cost(fake: FakeProvider, tmp_path: Path) -> None:
    """AsyncRAG.ask and ask_stream generate on the async client (not in the executor) and
    record each call's usage and cost in the call log, as RAG does."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "paris.txt").write_text("Paris is the capital of France.\n")
    fake.default = Reply(text="Paris is the capital of France [1].", input_tokens=1000)
    llm = openai_llm(fake)
    embedder = FakeEmbedder()

    async def main() -> tuple[Answer, list[str | Answer], Decimal | None, int]:
        async with AsyncRAG(
            store=MemoryStore("hosted"),
            embedder=embedder,
            llm=llm,
            chunker=TokenChunker(embedder.tokenizer, 60, 10),
            data_dir=tmp_path / "data",
            answer_mode="generative",
        ) as r:
            assert as_async(llm, r.executor) is llm, "a hosted LLM is its own async twin"
            await r.ingest(docs)
            answer = await r.ask("What is the capital of France?")
            pieces = [p async for p in r.ask_stream("What is the capital of France?")]
            costs = await r.costs()
            return answer, pieces, costs.total.cost, costs.total.calls

    answer, pieces, total_cost, calls = asyncio.run(main())
    assert answer.text == "Paris is the capital of France [1]."
    assert answer.citations[0].cited and answer.usage.cost is not None
    final = pieces[-1]
    assert isinstance(final, Answer) and final.text == answer.text
    assert "".join(p for p in pieces[:-1] if isinstance(p, str)) == answer.text
    assert calls == 2
    assert total_cost == answer.usage.cost + (final.usage.cost or 0)
    assert all(req.headers["x-stainless-async"].startswith("async:") for req in fake.requests)
