"""The server answers through ``AsyncRAG`` on its one bounded executor: a hosted LLM generates on
its async SDK client (the loopback wire-format server of ``tests/llm_server.py``), so many asks
wait on the provider together without a thread each; ``/readyz`` says what is not ready.

In-process (httpx over ASGI), the in-memory store and the fake embedder; the LLM is the real
OpenAI backend and SDK against the loopback server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from llm_server import FakeProvider, Reply
from sse import parse_events

from rag.config import Settings
from rag.embeddings import Embedder
from rag.llms.base import LLM
from rag.llms.openai import OpenAILLM, OpenAIProvider
from rag.server.app import create_app
from rag.server.catalog import Catalog, SharedParts
from rag.server.serve import free_port
from rag.testing import FakeEmbedder

pytestmark = pytest.mark.integration

DOC = {
    "documents": [{"source": "paris.md", "text": "# Paris\n\nParis is the capital of France.\n"}]
}
QUESTION = {"question": "What is the capital of France?"}


@pytest.fixture()
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


class HostedParts(SharedParts):
    """The fake embedder, and the real OpenAI backend pointed at the loopback provider."""

    fake: FakeProvider

    def embedder(self) -> Embedder:
        return self._embedder_fake

    def llm(self, spec: str) -> LLM:
        with self._lock:
            if spec not in self._llms:
                provider = OpenAIProvider.openai(
                    api_key="sk-test-123", base_url=self.fake.openai_url
                )
                self._llms[spec] = OpenAILLM("gpt-4o-mini", provider=provider)
            return self._llms[spec]


def hosted_app(tmp_path: Path, fake: FakeProvider, **server: Any) -> Any:
    settings = Settings(
        data_dir=tmp_path,
        store="memory",
        answer_mode="generative",
        check_answers=False,
        llm="openai:gpt-4o-mini",
        server=server,
    )
    catalog = Catalog(settings)
    parts = HostedParts(settings)
    parts.fake = fake
    parts._embedder_fake = FakeEmbedder()  # type: ignore[attr-defined]
    catalog.shared = parts
    return create_app(settings, catalog=catalog)


def client_of(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def stopped(app: Any) -> None:
    """What the app's lifespan does at shutdown (ASGITransport runs no lifespan)."""
    await app.state.rag.aclose()


def test_hosted_ask_runs_on_the_async_client_with_usage_and_cost(
    tmp_path: Path, fake: FakeProvider
) -> None:
    fake.default = Reply(text="Paris is the capital of France [1].", input_tokens=1000)
    app = hosted_app(tmp_path, fake)

    async def run() -> tuple[dict[str, Any], list[tuple[str, Any]], dict[str, Any]]:
        try:
            async with client_of(app) as client:
                assert (
                    await client.post("/v1/collections/docs/documents", json=DOC)
                ).status_code == 200
                whole = await client.post("/v1/collections/docs/ask", json=QUESTION)
                assert whole.status_code == 200, whole.text
                streamed = await client.post(
                    "/v1/collections/docs/ask", params={"stream": "true"}, json=QUESTION
                )
                costs = await client.get("/v1/costs")
                return whole.json(), parse_events(streamed.text.splitlines()), costs.json()
        finally:
            await stopped(app)

    body, events, costs = asyncio.run(run())
    assert body["answer"] == "Paris is the capital of France [1]."
    assert body["citations"][0]["cited"] and body["citations"][0]["source"] == "paris.md"
    usage = body["usage"]
    assert usage["backend"] == "openai" and usage["input_tokens"] == 1000
    assert usage["cost"] is not None and Decimal(usage["cost"]) > 0
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "final" and "delta" in names, names
    final = events[-1][1]
    assert isinstance(final, dict) and final["answer"] == body["answer"]
    assert final["usage"]["cost"] == usage["cost"]
    assert costs["total"]["calls"] == 2
    assert len(fake.requests) == 2
    for request in fake.requests:  # the SDK's async client sent both, not its sync one
        assert request.headers["x-stainless-async"].startswith("async:"), request.headers


def test_concurrent_hosted_asks_hold_no_thread_each(tmp_path: Path, fake: FakeProvider) -> None:
    """16 asks on an executor of 2 threads: with a thread per generation at most 2 would reach
    the provider at once; awaited on the async client, all 16 do (the fake holds each request
    until 16 are in flight, so the overlap is counted, not timed)."""
    asks = 16
    fake.default = Reply(text="Paris [1].")
    app = hosted_app(tmp_path, fake, executor_threads=2)

    async def run() -> None:
        try:
            async with client_of(app) as client:
                await client.post("/v1/collections/docs/documents", json=DOC)
                warm = await client.post("/v1/collections/docs/ask", json=QUESTION)
                assert warm.status_code == 200, warm.text  # the SDK client is built once
                fake.default = Reply(text="Paris [1].", gather=asks)
                fake.max_in_flight = 0
                answers = await asyncio.gather(
                    *(client.post("/v1/collections/docs/ask", json=QUESTION) for _ in range(asks))
                )
                assert [a.status_code for a in answers] == [200] * asks
                assert all(a.json()["answer"] == "Paris [1]." for a in answers)
        finally:
            await stopped(app)

    asyncio.run(run())
    assert app.state.rag.runner.threads == 2
    assert fake.max_in_flight == asks


def test_readyz_reports_an_unreachable_store(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    settings = Settings(data_dir=tmp_path, chroma_url=f"http://127.0.0.1:{port}")
    catalog = Catalog(settings)
    parts = HostedParts(settings)
    parts._embedder_fake = FakeEmbedder()  # type: ignore[attr-defined]
    catalog.shared = parts
    app = create_app(settings, catalog=catalog)

    async def run() -> httpx.Response:
        try:
            async with client_of(app) as client:
                return await client.get("/readyz")
        finally:
            await stopped(app)

    r = asyncio.run(run())
    assert r.status_code == 503, r.text
    error = r.json()["error"]
    assert error["type"] == "unavailable"
    assert "store is not reachable" in error["message"]
    assert f"127.0.0.1:{port}" in error["message"] and "chroma_url" in error["message"]
    assert "embedding model" not in error["message"]  # the embedder loaded
    assert r.headers["Retry-After"]


def test_readyz_ready_with_a_reachable_store(tmp_path: Path, fake: FakeProvider) -> None:
    app = hosted_app(tmp_path, fake)

    async def run() -> httpx.Response:
        try:
            async with client_of(app) as client:
                return await client.get("/readyz")
        finally:
            await stopped(app)

    r = asyncio.run(run())
    assert r.status_code == 200 and r.json() == {"status": "ready"}
