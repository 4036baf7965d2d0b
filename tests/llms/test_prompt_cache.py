"""Prompt caching: Anthropic requests mark the stable prefix with ``cache_control``; the loopback
server (tests/llm_server.py, its cache simulated) reads it back on the next call, and rag prices
that call at the cache-read rate and logs the reads and writes."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from llm_server import FakeProvider, Reply, track
from no_real_llm import no_real_llm  # noqa: F401  (the guard, until conftest enables it)

from rag.costs.calllog import CallLog
from rag.llms.anthropic import AnthropicLLM, AnthropicProvider
from rag.llms.base import Message

pytestmark = pytest.mark.integration

EPHEMERAL = {"type": "ephemeral"}
LONG_SYSTEM = "Answer from the numbered sources only and cite them. " * 90  # ~1200 tokens
# haiku 4.5 per 1M tokens: $1.00 input, $0.10 cache read, $1.25 cache write, $5.00 output
PRICES = {"input": Decimal("1.00"), "read": Decimal("0.10"), "write": Decimal("1.25")}


@pytest.fixture()
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        server.simulate_prompt_cache()
        yield server


def anthropic_llm(fake: FakeProvider, prompt_cache: str = "auto") -> AnthropicLLM:
    provider = AnthropicProvider.official(api_key="sk-ant-test", base_url=fake.anthropic_url)
    return track(
        AnthropicLLM(
            "claude-haiku-4-5-20251001",
            provider=provider,
            prompt_cache=prompt_cache,  # type: ignore[arg-type]
        )
    )


def expected_cost(plain: int, read: int, write: int, output: int) -> Decimal:
    total = (
        plain * PRICES["input"]
        + read * PRICES["read"]
        + write * PRICES["write"]
        + output * Decimal(5)
    )
    return total / 10**6


@pytest.mark.parametrize("stream", [False, True])
def test_second_turn_marks_the_prefix_reads_the_cache_and_is_priced_at_the_read_rate(
    fake: FakeProvider, tmp_path: Path, stream: bool
) -> None:
    llm = anthropic_llm(fake)
    fake.default = Reply(text="Paris [1].", output_tokens=9)
    system = Message(role="system", content=LONG_SYSTEM)
    first = llm.complete([system, Message(role="user", content="Capital of France?")])
    assert first.usage.cached_input_tokens == 0
    assert first.usage.cache_write_tokens > 1000, "turn 1 writes the system prompt to the cache"

    turn2 = [
        system,
        Message(role="user", content="Capital of France?"),
        Message(role="assistant", content=first.text),
        Message(role="user", content="And its population?"),
    ]
    if stream:
        final = [e for e in llm.stream(turn2) if e.completion is not None][-1]
        assert final.completion is not None
        u = final.completion.usage
    else:
        u = llm.complete(turn2).usage

    body = fake.requests[-1].body
    assert body["system"] == [{"type": "text", "text": LONG_SYSTEM, "cache_control": EPHEMERAL}]
    assert body["messages"][0] == {"role": "user", "content": "Capital of France?"}
    assert body["messages"][1]["content"] == [
        {"type": "text", "text": "Paris [1].", "cache_control": EPHEMERAL}
    ], "the conversation so far ends a cached prefix too"
    assert body["messages"][2] == {"role": "user", "content": "And its population?"}

    read, write = u.cached_input_tokens, u.cache_write_tokens
    assert read == first.usage.cache_write_tokens, "the system prompt is read back"
    assert write > 0, "the prefix up to the last answer is written for the next turn"
    plain = u.input_tokens - read - write
    assert plain > 0
    assert u.cost == expected_cost(plain, read, write, u.output_tokens)
    assert u.cost < expected_cost(u.input_tokens, 0, 0, u.output_tokens), "reads are cheaper"
    assert "cache read" in u.describe()

    log = CallLog(tmp_path / "calls.db")
    log.record(u, question="And its population?")
    [rec] = log.calls()
    assert (rec.cached_input_tokens, rec.cache_write_tokens, rec.cost) == (read, write, u.cost)
    total = log.summary().total
    assert (total.cached_input_tokens, total.cache_write_tokens) == (read, write)


def test_sources_shared_by_a_batch_are_cached_only_when_asked(fake: FakeProvider) -> None:
    sources = "Sources:\n\n[1] france.md\n" + "Paris is the capital of France. " * 160
    system = Message(role="system", content="Answer from the sources.")

    def prompt(question: str) -> list[Message]:
        content = f"{sources}\n\nQuestion: {question}\nAnswer:"
        return [system, Message(role="user", content=content, stable_chars=len(sources))]

    auto = anthropic_llm(fake)
    auto.complete(prompt("What is the capital?"))
    assert fake.requests[-1].body["system"] == "Answer from the sources.", "short: unmarked"
    assert isinstance(fake.requests[-1].body["messages"][0]["content"], str)

    batch = anthropic_llm(fake, prompt_cache="sources")
    first = batch.complete(prompt("What is the capital?")).usage
    second = batch.complete(prompt("Which country is Paris in?")).usage
    blocks = fake.requests[-1].body["messages"][0]["content"]
    assert blocks[0] == {"type": "text", "text": sources, "cache_control": EPHEMERAL}
    assert blocks[1] == {
        "type": "text",
        "text": "\n\nQuestion: Which country is Paris in?\nAnswer:",
    }
    assert first.cache_write_tokens > 1000 and first.cached_input_tokens == 0
    assert second.cached_input_tokens == first.cache_write_tokens
    assert second.cache_write_tokens == 0

    off = anthropic_llm(fake, prompt_cache="off")
    off.complete(prompt("What is the capital?"))
    assert "cache_control" not in str(fake.requests[-1].body)
