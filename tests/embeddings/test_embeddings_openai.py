"""Hosted embeddings: the real ``openai`` SDK against the loopback wire-format server
(``tests/llm_server.py``, ``/v1/embeddings``): batching, usage and exact cost in the call log,
a 429 retried, a partial-batch failure that writes nothing of its batch, and the mismatch error
when a collection is queried with another embedder."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from llm_server import FakeProvider, Reply, rate_limited

from rag import RAG
from rag.config import load_settings
from rag.costs.calllog import CallLog
from rag.embeddings import make_embedder
from rag.embeddings.openai import ApproxTokenizer, OpenAIEmbedder
from rag.errors import ConfigError, EmbedderMismatchError, HostedBackendError
from rag.llms.openai import OpenAIProvider
from rag.routing_config import RetryPolicy
from rag.testing import FakeEmbedder

MODEL = "text-embedding-3-small"


@pytest.fixture()
def server() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


def embedder(server: FakeProvider, tmp_path: Path, **kw: object) -> OpenAIEmbedder:
    provider = OpenAIProvider.openai("sk-test", server.openai_url)
    kw.setdefault("retry", RetryPolicy(attempts=2, backoff_s=0))
    return OpenAIEmbedder(
        MODEL,
        provider=provider,
        call_log=CallLog(tmp_path / "calls.db"),
        sleep=lambda s: None,
        **kw,  # type: ignore[arg-type]
    )


def test_batches_by_estimated_tokens_and_keeps_order(server: FakeProvider, tmp_path: Path) -> None:
    texts = [f"text number {i} " + "word " * (i % 7) for i in range(40)]
    e = embedder(server, tmp_path, batch_tokens=30, dimensions=12)
    vectors = e.embed(texts)
    e.close()
    assert vectors.shape == (40, 12)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    bodies = [r.body for r in server.requests]
    assert len(bodies) > 1, "30 estimated tokens per request must split 40 texts"
    assert [t for b in bodies for t in b["input"]] == texts, "every text once, in order"
    assert all(b["dimensions"] == 12 and b["model"] == MODEL for b in bodies)
    for b in bodies[:-1]:  # each request within the budget (a single text may exceed it)
        assert len(b["input"]) == 1 or sum(ApproxTokenizer().count(b["input"])) <= 30
    # the same text gets the same vector whichever batch it was in
    again = embedder(server, tmp_path, dimensions=12)
    assert np.allclose(again.embed([texts[5]])[0], vectors[5], atol=1e-6)
    again.close()


def test_usage_and_exact_cost_in_the_call_log(server: FakeProvider, tmp_path: Path) -> None:
    server.push(Reply(embed_tokens=1234, request_id="req_emb"))
    e = embedder(server, tmp_path)
    e.embed(["one text", "two texts"])
    e.close()
    (row,) = CallLog(tmp_path / "calls.db").calls()
    assert (row.kind, row.backend, row.model) == ("embedding", "openai", MODEL)
    assert row.input_tokens == 1234 and row.output_tokens == 0
    assert row.cost == Decimal("0.02") * 1234 / 1_000_000
    assert row.request_id == "req_emb" and row.outcome == "ok"


def test_a_429_is_retried_and_each_try_logged(server: FakeProvider, tmp_path: Path) -> None:
    waits: list[float] = []
    server.push(rate_limited(retry_after="0.25"), Reply())
    e = embedder(server, tmp_path)
    e._sleep = waits.append
    assert len(e.embed(["hello there"])) == 1
    e.close()
    assert waits == [0.25], "the provider's retry-after is honoured"
    rows = CallLog(tmp_path / "calls.db").calls()
    assert [r.outcome for r in rows] == ["error:rate_limit", "ok"]
    assert all(r.kind == "embedding" for r in rows)


def test_errors_are_mapped_and_not_retried_when_permanent(
    server: FakeProvider, tmp_path: Path
) -> None:
    server.push(Reply(status=401, error_message="bad key"))
    e = embedder(server, tmp_path)
    with pytest.raises(HostedBackendError) as caught:
        e.embed(["x"])
    e.close()
    assert caught.value.kind == "auth" and "OPENAI_API_KEY" in str(caught.value)
    assert len(server.requests) == 1


def write_docs(folder: Path) -> Path:
    folder.mkdir()
    for name, words in (("a.md", "alpha beta gamma"), ("b.md", "delta epsilon zeta")):
        (folder / name).write_text(f"# {name}\n\n" + (words + ". ") * 20, encoding="utf-8")
    return folder


def hosted_rag(server: FakeProvider, monkeypatch: pytest.MonkeyPatch, **kw: object) -> RAG:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_url)
    settings = load_settings(store="memory", embed=f"openai:{MODEL}", embed_dimensions=16, **kw)
    return RAG(settings)


def test_a_failed_request_writes_nothing_of_its_batch(
    server: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_docs(tmp_path / "docs")
    r = hosted_rag(server, monkeypatch, embed_batch_tokens=40)
    server.push(Reply(), Reply(status=400, error_message="input too long"))
    report = r.ingest(docs)
    assert len(server.requests) >= 2, "the batch needed several requests"
    assert report.files_failed == 2 and report.chunks_written == 0
    failed = sorted(Path(f.path).name for f in report.failures)
    assert failed == ["a.md", "b.md"], "each file of the batch is named"
    assert all("embedding failed" in f.error for f in report.failures)
    assert r.store.count() == 0 and r.store.sources() == {}
    assert report.chunks_embedded == 0
    outcomes = [c.outcome for c in r.call_log.calls()]
    assert outcomes[:2] == ["ok", "error:bad_request"]
    again = r.ingest(docs)  # the server answers again: everything is ingested
    assert again.ok and again.files_new == 2 and r.store.count() == again.chunks_written > 0
    r.close()


def test_costs_show_embedding_calls_and_query_with_another_embedder_is_refused(
    server: FakeProvider, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_docs(tmp_path / "docs")
    r = hosted_rag(server, monkeypatch)
    report = r.ingest(docs)
    assert report.ok and report.chunks_written > 0
    summary = r.costs()
    kinds = {row.kind for row in summary.rows}
    assert "embedding" in kinds and summary.total.input_tokens > 0
    hits = r.retrieve("alpha beta")
    assert hits and Path(hits[0].chunk.source).name == "a.md"
    other = RAG(r.settings, store=r.store, embedder=FakeEmbedder(dimension=16))
    with pytest.raises(EmbedderMismatchError, match=MODEL):
        other.retrieve("alpha beta")
    from typer.testing import CliRunner

    from rag.cli import app

    out = CliRunner().invoke(app, ["costs", "--log", str(r.settings.call_log_path)])
    assert out.exit_code == 0 and "embedding" in out.output and MODEL in out.output
    r.close()


def test_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    e = make_embedder(load_settings(embed="openai-compatible:http://127.0.0.1:9/v1#nomic"))
    assert isinstance(e, OpenAIEmbedder) and e.backend == "openai-compatible"
    assert e.model == "nomic" and e.identity.model == "nomic"
    e.close()
    for bad in ("openai:", "cohere:embed", "openai-compatible:nourl#m", "openai:two words"):
        with pytest.raises(ConfigError, match="embed"):
            make_embedder(load_settings(embed=bad))


def test_approx_tokenizer_splits_within_the_limit() -> None:
    tok = ApproxTokenizer()
    text = "word " * 500 + "한국어 문장입니다 " * 50
    pieces = tok.split(text, 40, overlap=5)
    assert len(pieces) > 1 and all(n <= 40 for n in tok.count(pieces))
    assert "".join(tok.split(text, 40)) == text
