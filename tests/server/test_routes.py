"""Fast unit tests of the routes (httpx over ASGI, the in-memory store, fake embedder and a
scripted LLM), of ``rag serve keys add``'s edits, and of the tenant's call log view."""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sse import parse_events

from rag.config import Settings, TenantConfig
from rag.costs.calllog import CallLog
from rag.embeddings import Embedder
from rag.llms.base import LLM
from rag.pipelines.query import PreparedPrompt, QueryPipeline
from rag.server.app import create_app
from rag.server.catalog import Catalog, SharedParts
from rag.server.keys import add_key
from rag.server.tenants import key_digest
from rag.testing import FakeEmbedder, ScriptedLLM
from rag.types import Usage


class FakeParts(SharedParts):
    def embedder(self) -> Embedder:
        return self._fake_embedder

    def llm(self, spec: str) -> LLM:
        return ScriptedLLM(["Ripe in September [1]."], cost_per_call=Decimal("0.5"))


_opened: list[Catalog] = []
"""Catalogs of this module's apps: ASGITransport runs no lifespan, so nothing closes them."""


@pytest.fixture(autouse=True)
def _close_catalogs() -> Iterator[None]:
    yield
    while _opened:
        _opened.pop().close()


def make_client(tmp_path: Path, **tenant: Any) -> httpx.AsyncClient:
    settings = Settings(
        data_dir=tmp_path,
        store="memory",
        answer_mode="generative",
        check_answers=False,
        server={"tenants": [TenantConfig(name="acme", key_sha256=[key_digest("k")], **tenant)]},
    )
    catalog = Catalog(settings)
    _opened.append(catalog)
    parts = FakeParts(settings)
    parts._fake_embedder = FakeEmbedder()  # type: ignore[attr-defined]
    catalog.shared = parts
    app = create_app(settings, catalog=catalog)
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://test",
        headers={"Authorization": "Bearer k"},
    )


@pytest.fixture()
def client(tmp_path: Path) -> Iterator[httpx.AsyncClient]:
    yield make_client(tmp_path)


DOC = {"documents": [{"source": "apples.md", "text": "# Apples\n\nApples ripen in September.\n"}]}


def test_generative_ask_stream_and_chat(client: httpx.AsyncClient) -> None:
    async def run() -> None:
        async with client:
            assert (
                await client.post("/v1/collections/docs/documents", json=DOC)
            ).status_code == 200
            body = (
                await client.post("/v1/collections/docs/ask", json={"question": "When?"})
            ).json()
            assert body["answer"] == "Ripe in September [1]." and body["mode"] == "generative"
            assert body["citations"][0]["cited"] and body["usage"]["cost"] == "0.5"
            r = await client.post(
                "/v1/collections/docs/ask?stream=true", json={"question": "When?"}
            )
            events = parse_events(r.text.splitlines())
            assert events[0][0] == "sources" and events[-1][0] == "final"
            chat = await client.post(
                "/v1/chat/completions",
                json={"model": "docs", "messages": [{"role": "user", "content": "When?"}]},
            )
            assert chat.json()["citations"][0]["source"] == "apples.md"
            bad = await client.post(
                "/v1/collections/docs/ask", json={"question": "x", "llm": "openai:gpt-4o"}
            )
            assert bad.status_code == 422 and bad.json()["error"]["field"] == "llm"
            where = await client.post(
                "/v1/collections/docs/search", json={"query": "x", "where": {"a": {"$in": []}}}
            )
            assert where.status_code == 422 and where.json()["error"]["field"] == "where"

    asyncio.run(run())


def test_daily_budget_refuses_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A budgeted tenant's asks, whole and streamed, pack their prompt once (the prompt whose
    cost is held is the one sent), and the ask past the budget is refused."""
    client = make_client(tmp_path, daily_budget_usd=Decimal("1.0"))
    packed: list[str] = []
    real = QueryPipeline.prepare

    def prepare(self: QueryPipeline, question: str, hits: Any, **kw: Any) -> PreparedPrompt:
        packed.append(question)
        return real(self, question, hits, **kw)

    monkeypatch.setattr(QueryPipeline, "prepare", prepare)

    async def run() -> None:
        async with client:
            await client.post("/v1/collections/docs/documents", json=DOC)
            first = await client.post("/v1/collections/docs/ask", json={"question": "When?"})
            assert first.status_code == 200
            assert first.json()["answer"] == "Ripe in September [1]."
            assert packed == ["When?"], "a budgeted ask packs its prompt once"
            streamed = await client.post(
                "/v1/collections/docs/ask?stream=true", json={"question": "Which month?"}
            )
            events = parse_events(streamed.text.splitlines())
            assert events[0][0] == "sources" and events[-1][0] == "final"
            assert packed == ["When?", "Which month?"], "a streamed ask packs its prompt once"
            third = await client.post("/v1/collections/docs/ask", json={"question": "When?"})
            assert third.status_code == 429
            assert third.json()["error"]["type"] == "budget_exceeded"
            assert int(third.headers["Retry-After"]) > 0

    asyncio.run(run())


def test_max_concurrent_refuses_with_retry_after(tmp_path: Path) -> None:
    client = make_client(tmp_path, max_concurrent=1)

    async def run() -> None:
        async with client:
            await client.post("/v1/collections/docs/documents", json=DOC)
            r = await client.post("/v1/collections/docs/ask?stream=true", json={"question": "a"})
            assert r.status_code == 200  # the slot is given back when the stream ends
            app = client._transport.app  # type: ignore[attr-defined]
            tenant = app.state.rag.tenants.by_name["acme"]
            async with tenant.slot():
                busy = await client.get("/v1/collections")
            assert busy.status_code == 429 and busy.headers["Retry-After"] == "1"
            assert (await client.get("/v1/collections")).status_code == 200
            # whole (not streamed) answers, native and OpenAI-style, give their slot back too
            for _ in range(3):
                ask = await client.post("/v1/collections/docs/ask", json={"question": "a"})
                assert ask.status_code == 200, ask.text
                chat = await client.post(
                    "/v1/chat/completions",
                    json={"model": "docs", "messages": [{"role": "user", "content": "a"}]},
                )
                assert chat.status_code == 200, chat.text
            failed = await client.post("/v1/collections/nope/ask", json={"question": "a"})
            assert failed.status_code == 404
            assert tenant.running == 0

    asyncio.run(run())


def test_keys_add_keeps_the_file_and_appends_to_a_tenant(tmp_path: Path) -> None:
    toml = tmp_path / "rag.toml"
    toml.write_text('# settings\ntop_k = 3\n\n[server]\nport = 9000\n\n[routing]\ndefault = "a"\n')
    first = add_key(toml, "acme")
    second = add_key(toml, "acme")
    add_key(toml, "globex")
    data = tomllib.loads(toml.read_text())
    assert toml.read_text().startswith("# settings\ntop_k = 3\n")
    assert data["server"]["port"] == 9000 and data["routing"] == {"default": "a"}
    tenants = {t["name"]: t["key_sha256"] for t in data["server"]["tenants"]}
    assert tenants["acme"] == [key_digest(first), key_digest(second)]
    assert first not in toml.read_text() and len(tenants["globex"]) == 1


def test_call_log_tenant_view(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    usage = Usage(backend="fake", model="m", cost=Decimal("0.25"))
    CallLog(path, tenant="acme").record(usage)
    CallLog(path, tenant="globex").record(usage)
    CallLog(path).record(usage)
    assert CallLog(path, tenant="acme").summary().total.calls == 1
    assert CallLog(path).summary().total.calls == 3
    from datetime import UTC, datetime, timedelta

    since = datetime.now(UTC) - timedelta(hours=1)
    assert CallLog(path, tenant="globex").spent(since) == Decimal("0.25")
    assert [c.tenant for c in CallLog(path).calls()] == ["acme", "globex", None]


CONVERSATION = {
    "documents": [
        {
            "source": "widget.md",
            "text": "# Widget\n\nTo install the widget, run the widget installer from the install "
            "folder. Installing the widget takes ten minutes.\n",
        },
        {
            "source": "gadget.md",
            "text": "# Gadget backups\n\nA gadget backup takes long: how long it takes depends "
            "on the disk, and a long backup can take hours.\n",
        },
        DOC["documents"][0],
    ]
}
Q1, FOLLOW_UP = "How do I install the widget?", "and how long does that take?"


def test_follow_ups_use_the_history_and_a_stream_retrieves_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The native ask's ``history`` and the facade's earlier messages make a follow-up find
    its source; a streamed ask retrieves once for its sources and its answer."""
    from rag.pipelines.hybrid import HybridRetriever

    calls: list[str] = []
    retrieve = HybridRetriever.retrieve

    def counted(self: HybridRetriever, question: str, **kwargs: Any) -> Any:
        calls.append(question)
        return retrieve(self, question, **kwargs)

    monkeypatch.setattr(HybridRetriever, "retrieve", counted)
    client = make_client(tmp_path)
    history = [{"role": "user", "content": Q1}, {"role": "assistant", "content": "Run it [1]."}]

    async def run() -> None:
        async with client:
            r = await client.post("/v1/collections/docs/documents", json=CONVERSATION)
            assert r.status_code == 200
            url = "/v1/collections/docs/ask"
            alone = (await client.post(url, json={"question": FOLLOW_UP, "k": 1})).json()
            assert alone["citations"][0]["source"] == "gadget.md"
            body = {"question": FOLLOW_UP, "k": 1, "history": history}
            followed = (await client.post(url, json=body)).json()
            assert followed["citations"][0]["source"] == "widget.md"
            bad = await client.post(
                url, json={**body, "history": [{"role": "system", "content": "x"}]}
            )
            assert bad.status_code == 422

            calls.clear()
            r = await client.post(f"{url}?stream=true", json=body)
            events = parse_events(r.text.splitlines())
            assert events[0][0] == "sources" and events[-1][0] == "final"
            assert calls == [FOLLOW_UP], "one retrieval for the sources and the answer"
            sources = [c["source"] for c in events[0][1]["citations"]]
            assert sources == [c["source"] for c in events[-1][1]["citations"]] == ["widget.md"]

            def chat(*messages: tuple[str, str]) -> dict[str, Any]:
                return {
                    "model": "docs",
                    "messages": [{"role": role, "content": text} for role, text in messages],
                }

            one = await client.post("/v1/chat/completions", json=chat(("user", FOLLOW_UP)))
            assert one.json()["citations"][0]["source"] == "gadget.md"
            two = await client.post(
                "/v1/chat/completions",
                json=chat(("system", "Be brief."), ("user", Q1), ("user", FOLLOW_UP)),
            )
            assert two.status_code == 200
            assert two.json()["citations"][0]["source"] == "widget.md"

    asyncio.run(run())
