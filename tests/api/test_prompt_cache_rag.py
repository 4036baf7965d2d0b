"""Prompt caching through the whole stack: ``RAG.ask_many`` with ``prompt_cache = "sources"``
and the real Anthropic SDK against the loopback server (its cache simulated): the second
question over the same sources sends them marked with ``cache_control``, reads them back from
the cache, is priced at the read rate and logged with its reads and writes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from llm_server import FakeProvider, Reply

from rag import RAG, Answer, load_settings
from rag.costs.pricing import load_prices

pytestmark = pytest.mark.integration

EPHEMERAL = {"type": "ephemeral"}
MODEL = "claude-haiku-4-5"
FACT = (
    "The harbour of Lindqvist keeps its lighthouse lit from dusk to dawn, and the keeper logs "
    "every ship that passes the breakwater in a ledger kept at the harbour office. "
)

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
]
CARGO = ["salt", "timber", "wool", "tin", "coffee"]


@pytest.fixture()
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        server.simulate_prompt_cache()
        server.default = Reply(text="The keeper logs every ship [1].", output_tokens=8)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_url)
        yield server


def harbour_rag(tmp_path: Path, prompt_cache: str) -> RAG:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    # sources longer than Anthropic's 1024-token minimum
    ledger = " ".join(
        f"Ship {n} of the {month} convoy docked at berth {n % 7 + 1} with {n * 13 % 90 + 10} "
        f"crates of {cargo}."
        for n, (month, cargo) in enumerate(zip(MONTHS * 5, CARGO * 12, strict=False), 1)
    )
    (docs / "harbour.md").write_text(f"# Harbour\n\n{FACT}{ledger}\n", encoding="utf-8")
    r = RAG(
        load_settings(
            data_dir=tmp_path / "data",
            store="memory",
            collection="harbour",
            llm=f"anthropic:{MODEL}",
            prompt_cache=prompt_cache,
            answer_mode="generative",
            check_answers=False,
            sentence_selection=False,
            chunk_tokens=2000,
            chunk_overlap=0,
            max_context_tokens=3000,
            retrieval_mode="keyword",  # words not in the corpus leave the ranking as it is
            top_k=8,
        )
    )
    r.ingest(docs)
    return r


def test_a_batch_over_the_same_sources_reads_them_from_the_cache(
    tmp_path: Path, fake: FakeProvider
) -> None:
    # the same sources for both: the second question adds only words the corpus lacks
    questions = ["Which ships docked at berth 2?", "Which ships docked at berth 2? Be brief."]
    with harbour_rag(tmp_path, "sources") as r:
        first, second = r.ask_many(questions, concurrency=1)
        calls = r.call_log.calls()
    assert isinstance(first, Answer) and isinstance(second, Answer)
    assert [c.text for c in first.citations] == [c.text for c in second.citations]
    assert len(first.citations) > 3

    blocks = fake.requests[-1].body["messages"][-1]["content"]
    assert blocks[0]["cache_control"] == EPHEMERAL and FACT in blocks[0]["text"]
    assert "cache_control" not in blocks[1] and questions[1] in blocks[1]["text"]

    written, read = first.usage.cache_write_tokens, second.usage.cached_input_tokens
    assert written > 1000 and first.usage.cached_input_tokens == 0
    assert read == written, "the second question reads the sources the first one wrote"
    price = load_prices().lookup("anthropic", MODEL)
    assert price is not None and price.cached_input is not None
    wrote = second.usage.cache_write_tokens
    plain = second.usage.input_tokens - read - wrote
    write_price = price.cache_write_input or price.input
    expected = (
        plain * price.input
        + read * price.cached_input
        + wrote * write_price
        + second.usage.output_tokens * price.output
    ) / Decimal(10**6)
    assert second.usage.cost == expected
    assert second.usage.cost is not None and first.usage.cost is not None
    assert second.usage.cost < first.usage.cost

    logged = {c.question: c for c in calls}
    assert logged[questions[1]].cached_input_tokens == read
    assert logged[questions[0]].cache_write_tokens == written


def test_without_sources_caching_nothing_is_marked(tmp_path: Path, fake: FakeProvider) -> None:
    with harbour_rag(tmp_path, "auto") as r:
        answers = r.ask_many(["Who logs the ships?", "When is the lighthouse lit?"])
    assert all(isinstance(a, Answer) for a in answers)
    assert all("cache_control" not in str(req.body) for req in fake.requests)
    assert all(a.usage.cached_input_tokens == 0 for a in answers if isinstance(a, Answer))
