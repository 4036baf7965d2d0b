"""The native API of a real ``rag serve`` process (httpx), two tenants with same-named
collections, and the OpenAI SDK against its facade."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from conftest import Server, auth
from sse import parse_events

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ACME_DOC = (
    "# Orchard\n\nHoneycrisp apples ripen in September in the north orchard.\n\n"
    "The orchard cider press runs every Saturday.\n"
)
GLOBEX_DOC = (
    "# Plantation\n\nCavendish bananas are harvested green in Ecuador.\n\n"
    "Ripening rooms use ethylene gas for five days.\n"
)


@pytest.fixture(scope="module")
def docs(server: Server) -> Server:
    """Both tenants' ``docs``: acme's by multipart upload, globex's by JSON."""
    r = httpx.post(
        f"{server.url}/v1/collections/docs/documents",
        headers=auth("acme"),
        files={"file": ("orchard.md", ACME_DOC.encode(), "text/markdown")},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.json()["files_new"] == 1 and r.json()["chunks_written"] >= 1
    r = httpx.post(
        f"{server.url}/v1/collections/docs/documents",
        headers=auth("globex"),
        json={"documents": [{"source": "farm/bananas.md", "text": GLOBEX_DOC}]},
        timeout=120,
    )
    assert r.status_code == 200, r.text
    assert r.json()["files_new"] == 1
    return server


def client(server: Server, tenant: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers=auth(tenant), timeout=60)


def test_health_and_keys(server: Server) -> None:
    assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
    missing = httpx.get(f"{server.url}/v1/collections")
    assert missing.status_code == 401
    assert missing.json()["error"]["type"] == "unauthorized"
    wrong = httpx.get(f"{server.url}/v1/collections", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "nope" not in server.log()  # keys never reach the log


def test_each_tenant_sees_only_its_own(docs: Server) -> None:
    with client(docs, "acme") as acme, client(docs, "globex") as globex:
        listed = acme.get("/v1/collections").json()["collections"]
        assert [(c["name"], c["documents"]) for c in listed] == [("docs", 1)]
        assert listed[0]["chunks"] >= 1
        assert [
            d["source"] for d in acme.get("/v1/collections/docs/documents").json()["documents"]
        ] == ["orchard.md"]
        assert [
            d["source"] for d in globex.get("/v1/collections/docs/documents").json()["documents"]
        ] == ["farm/bananas.md"]
        hits = acme.post("/v1/collections/docs/search", json={"query": "bananas Ecuador"}).json()[
            "hits"
        ]
        assert hits and all(h["source"] == h["rel_path"] == "orchard.md" for h in hits)
        assert all("banana" not in h["text"].lower() for h in hits)
        hit = hits[0]
        assert hit["rank"] == 1 and set(hit["ranks"]) == {"dense", "keyword"}
        assert hit["location"]["start_line"] >= 1
        answer = globex.post(
            "/v1/collections/docs/ask", json={"question": "When are apples ripe?"}
        ).json()
        assert all(c["source"] == "farm/bananas.md" for c in answer["citations"])
        # the path relative to the collection folder; the server's own directories never shown
        assert all(c["rel_path"] == "farm/bananas.md" for c in answer["citations"])
        assert not any("root" in c for c in answer["citations"])
        assert "Honeycrisp" not in answer["answer"]
        if answer["abstained"]:  # and says why, for the product to show
            assert answer["abstain_reason"]
        assert globex.get("/v1/models").json()["data"][0]["id"] == "docs"


def test_ask_and_stream(docs: Server) -> None:
    with client(docs, "acme") as acme:
        body = acme.post(
            "/v1/collections/docs/ask", json={"question": "When do Honeycrisp apples ripen?"}
        ).json()
        assert "September" in body["answer"] and body["mode"] == "extractive"
        assert not body["abstained"] and body["abstain_reason"] is None
        assert body["citations"][0]["source"] == "orchard.md"
        assert any(c["cited"] for c in body["citations"])
        assert body["usage"]["input_tokens"] >= 0 and "latency_s" in body["usage"]
        with acme.stream(
            "POST",
            "/v1/collections/docs/ask",
            params={"stream": "true"},
            json={"question": "When do Honeycrisp apples ripen?"},
        ) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            events = parse_events(r.iter_lines())
    names = [name for name, _ in events]
    assert names[0] == "sources" and names[-1] == "final"
    assert set(names[1:-1]) <= {"delta"} and len(names) >= 3
    assert events[0][1]["citations"][0]["source"] == "orchard.md"
    final = events[-1][1]
    assert "".join(d["text"] for n, d in events if n == "delta") == final["answer"]
    assert any(c["cited"] for c in final["citations"])


def test_reupload_is_unchanged_and_documents_delete(docs: Server) -> None:
    with client(docs, "acme") as acme:
        again = acme.post(
            "/v1/collections/docs/documents",
            files={"file": ("orchard.md", ACME_DOC.encode(), "text/markdown")},
        ).json()
        assert again["files_unchanged"] == 1 and again["chunks_written"] == 0
        up = acme.post(
            "/v1/collections/scratch/documents",
            json={"documents": [{"source": "notes/a.md", "text": "Zebras sleep standing up."}]},
        )
        assert up.status_code == 200, up.text
        gone = acme.delete("/v1/collections/scratch/documents/notes/a.md")
        assert gone.json()["deleted"] == "notes/a.md" and gone.json()["chunks"] >= 1
        assert acme.get("/v1/collections/scratch/documents").json() == {"documents": []}
        assert acme.delete("/v1/collections/scratch/documents/notes/a.md").status_code == 404
        dropped = acme.delete("/v1/collections/scratch")
        assert dropped.json() == {"deleted": "scratch", "chunks": 0}
        assert acme.get("/v1/collections/scratch/documents").status_code == 404
    with client(docs, "globex") as globex:  # acme's delete never touches globex's docs
        assert globex.delete("/v1/collections/scratch").status_code == 404
        assert len(globex.get("/v1/collections/docs/documents").json()["documents"]) == 1


def test_errors(docs: Server) -> None:
    with client(docs, "acme") as acme:
        missing = acme.post("/v1/collections/nothing/ask", json={"question": "x?"})
        assert missing.status_code == 404 and missing.json()["error"]["type"] == "not_found"
        big = acme.post(
            "/v1/collections/docs/documents",
            files={"file": ("big.txt", b"a " * 600_000, "text/plain")},
        )
        assert big.status_code == 413 and big.json()["error"]["type"] == "payload_too_large"
        bad = acme.post("/v1/collections/docs/search", json={"query": "x", "k": 0})
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "k"
        long = acme.post("/v1/collections/docs/ask", json={"question": "x" * 5000})
        assert long.status_code == 422 and long.json()["error"]["field"] == "question"
        for source in ("../escape.md", "/etc/passwd", "a/../../b.md", "nul\x00.md"):
            r = acme.post(
                "/v1/collections/docs/documents",
                json={"documents": [{"source": source, "text": "x"}]},
            )
            assert r.status_code == 422 and r.json()["error"]["field"] == "source", source
        assert not (docs.root / "escape.md").exists()
        name = acme.get("/v1/collections/bad__name/documents")
        assert name.status_code == 422 and name.json()["error"]["field"] == "name"
        assert "Traceback" not in big.text + bad.text + missing.text


def test_costs_are_the_tenants_own(docs: Server) -> None:
    with client(docs, "acme") as acme, client(docs, "globex") as globex:
        acme.post("/v1/collections/docs/ask", json={"question": "cider press day?"})
        mine = acme.get("/v1/costs", params={"since": "1d"}).json()
        theirs = globex.get("/v1/costs").json()
        assert mine["total"]["calls"] >= 1
        assert theirs["total"]["calls"] < mine["total"]["calls"]
        assert acme.get("/v1/costs", params={"since": "soon"}).json()["error"]["field"] == "since"


def test_isolation_under_32_concurrent_requests(docs: Server) -> None:
    async def run() -> None:
        clients = {
            t: httpx.AsyncClient(base_url=docs.url, headers=auth(t), timeout=120)
            for t in ("acme", "globex")
        }
        own = {"acme": ("orchard.md", "banana"), "globex": ("farm/bananas.md", "honeycrisp")}

        async def one(i: int) -> None:
            tenant = ("acme", "globex")[i % 2]
            c = clients[tenant]
            source, foreign = own[tenant]
            kind = i % 4
            if kind < 2:
                r = await c.post(
                    "/v1/collections/docs/search", json={"query": "bananas apples ripen"}
                )
                assert r.status_code == 200, r.text
                assert all(h["source"] == source for h in r.json()["hits"])
                assert all(foreign not in h["text"].lower() for h in r.json()["hits"])
            elif kind == 2:
                r = await c.post("/v1/collections/docs/ask", json={"question": "What ripens?"})
                assert r.status_code == 200, r.text
                assert all(x["source"] == source for x in r.json()["citations"])
            else:
                r = await c.get("/v1/collections/docs/documents")
                assert [d["source"] for d in r.json()["documents"]] == [source]

        try:
            await asyncio.gather(*(one(i) for i in range(32)))
        finally:
            for c in clients.values():
                await c.aclose()

    asyncio.run(run())


def test_openai_sdk(docs: Server) -> None:
    from conftest import KEYS
    from openai import OpenAI

    sdk = OpenAI(base_url=f"{docs.url}/v1", api_key=KEYS["acme"], max_retries=0)
    assert [m.id for m in sdk.models.list()] == ["docs"]
    question = [{"role": "user", "content": "When do Honeycrisp apples ripen?"}]
    r = sdk.chat.completions.create(model="docs", messages=question)  # type: ignore[arg-type]
    assert "September" in (r.choices[0].message.content or "")
    citations = (r.model_extra or {})["citations"]
    assert citations[0]["source"] == "orchard.md"
    assert (
        r.usage is not None
        and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    )
    chunks = list(sdk.chat.completions.create(model="docs", messages=question, stream=True))  # type: ignore[arg-type]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == r.choices[0].message.content
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"][0]["source"] == "orchard.md"
    other = OpenAI(base_url=f"{docs.url}/v1", api_key="wrong", max_retries=0)
    import openai

    with pytest.raises(openai.AuthenticationError):
        other.models.list()
