"""OpenAI and Anthropic backends: the real SDKs against tests/llm_server.py on 127.0.0.1."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from llm_server import MESSAGES, FakeProvider, Reply, rate_limited, server_error, track
from no_real_llm import no_real_llm  # noqa: F401  (the guard, until conftest enables it)

from rag.config import Settings
from rag.costs.pricing import PriceWarning
from rag.errors import BackendError, ConfigError, ContextWindowError, HostedBackendError
from rag.llms import make_llm
from rag.llms._hosted import parse_retry_after
from rag.llms.anthropic import AnthropicLLM, AnthropicProvider
from rag.llms.base import LLM, Message
from rag.llms.openai import OpenAILLM, OpenAIProvider

pytestmark = pytest.mark.integration


@pytest.fixture()
def fake() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


def openai_llm(fake: FakeProvider, model: str = "gpt-4o-mini", **kw: object) -> OpenAILLM:
    provider = OpenAIProvider.openai(api_key="sk-test-123", base_url=fake.openai_url)
    return track(OpenAILLM(model, provider=provider, **kw))  # type: ignore[arg-type]


def anthropic_llm(
    fake: FakeProvider, model: str = "claude-haiku-4-5-20251001", **kw: object
) -> AnthropicLLM:
    provider = AnthropicProvider.official(api_key="sk-ant-test", base_url=fake.anthropic_url)
    return track(AnthropicLLM(model, provider=provider, **kw))  # type: ignore[arg-type]


# --- OpenAI ---


def test_openai_complete_usage_cost_and_request(fake: FakeProvider) -> None:
    fake.push(Reply(text="Paris [1].", input_tokens=1200, output_tokens=30, cached_tokens=1024))
    llm = openai_llm(fake, temperature=0.2, max_tokens=64)
    assert isinstance(llm, LLM)
    done = llm.complete(MESSAGES)
    assert done.text == "Paris [1]."
    assert done.finish_reason == "stop"
    u = done.usage
    assert (u.backend, u.model) == ("openai", "gpt-4o-mini")
    assert (u.input_tokens, u.output_tokens, u.cached_input_tokens) == (1200, 30, 1024)
    # gpt-4o-mini: $0.15 input, $0.075 cached input, $0.60 output per 1M tokens
    expected = (176 * Decimal("0.15") + 1024 * Decimal("0.075") + 30 * Decimal("0.60")) / 10**6
    assert u.cost == expected == Decimal("0.0001212")
    assert u.request_id == "req_1"
    assert u.latency_s > 0

    [req] = fake.requests
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test-123"
    assert req.headers["x-stainless-retry-count"] == "0"
    assert req.body["model"] == "gpt-4o-mini"
    assert req.body["messages"][0] == {"role": "system", "content": "Answer from the sources only."}
    assert req.body["max_completion_tokens"] == 64
    assert req.body["temperature"] == 0.2
    assert "stream" not in req.body


def test_openai_stream_deltas_then_usage(fake: FakeProvider) -> None:
    fake.push(
        Reply(text="Paris is the capital [1].", input_tokens=50, output_tokens=7, cached_tokens=16)
    )
    llm = openai_llm(fake)
    events = list(llm.stream(MESSAGES, max_tokens=20, temperature=0.0))
    deltas = [e.text for e in events if e.completion is None]
    assert len(deltas) >= 4, "text must arrive in pieces"
    assert "".join(deltas) == "Paris is the capital [1]."
    final = events[-1].completion
    assert final is not None and final.text == "Paris is the capital [1]."
    u = final.usage
    assert (u.input_tokens, u.output_tokens, u.cached_input_tokens) == (50, 7, 16)
    assert u.cost == (34 * Decimal("0.15") + 16 * Decimal("0.075") + 7 * Decimal("0.60")) / 10**6
    assert u.time_to_first_token_s is not None and 0 < u.time_to_first_token_s <= u.latency_s
    assert u.request_id == "req_1"
    body = fake.requests[0].body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_completion_tokens"] == 20 and body["temperature"] == 0.0


def test_openai_reasoning_model_gets_no_temperature(fake: FakeProvider) -> None:
    llm = openai_llm(fake, model="o4-mini", temperature=0.3)
    llm.complete(MESSAGES)
    assert "temperature" not in fake.requests[0].body


def test_dated_model_name_is_priced_as_its_base_model(fake: FakeProvider) -> None:
    fake.push(Reply(model="gpt-4o-mini-2024-07-18", input_tokens=1000, output_tokens=0))
    u = openai_llm(fake).complete(MESSAGES).usage
    assert u.model == "gpt-4o-mini-2024-07-18"
    assert u.cost == Decimal("0.00015")


def test_unknown_model_costs_unknown_with_a_warning(fake: FakeProvider) -> None:
    llm = openai_llm(fake, model="gpt-unpriced-test-1")
    with pytest.warns(PriceWarning, match="gpt-unpriced-test-1"):
        u = llm.complete(MESSAGES).usage
    assert u.cost is None, "an unknown price must never be a silent 0"
    assert "unknown" in u.describe()


def test_missing_usage_is_approximated_with_a_warning(fake: FakeProvider) -> None:
    fake.push(Reply(include_usage=False, text="four words of text"))
    with pytest.warns(UserWarning, match="did not report token usage"):
        u = openai_llm(fake).complete(MESSAGES).usage
    assert u.input_tokens > 0 and u.output_tokens > 0


# --- OpenAI-compatible servers: a provider, not a backend ---


def test_openai_compatible_server_via_spec(fake: FakeProvider) -> None:
    fake.push(Reply(model="qwen2.5-7b", input_tokens=10, output_tokens=5))
    llm = track(
        make_llm(f"openai-compatible:{fake.openai_url}#qwen2.5-7b", Settings(max_tokens=33))
    )
    assert isinstance(llm, OpenAILLM)
    assert llm.backend == "openai-compatible"
    with pytest.warns(PriceWarning, match="openai-compatible:qwen2.5-7b"):
        u = llm.complete(MESSAGES).usage
    assert u.backend == "openai-compatible" and u.cost is None
    req = fake.requests[0]
    assert req.body["model"] == "qwen2.5-7b"
    assert req.body["max_tokens"] == 33, "compatible servers get the classic max_tokens field"
    assert req.headers["authorization"] == "Bearer no-key"


def test_openai_compatible_key_from_env(
    fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "vllm-secret")
    llm = track(make_llm(f"openai-compatible:{fake.openai_url}", Settings()))
    assert llm.model == "default"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PriceWarning)
        llm.complete(MESSAGES)
    assert fake.requests[0].headers["authorization"] == "Bearer vllm-secret"


# --- Anthropic ---


def test_anthropic_complete_system_param_cache_tokens_and_cost(fake: FakeProvider) -> None:
    fake.push(
        Reply(
            text="Paris [1].",
            input_tokens=100,
            output_tokens=20,
            cached_tokens=2000,
            cache_write_tokens=500,
            request_id="req_ant_42",
        )
    )
    llm = anthropic_llm(fake, temperature=0.5, max_tokens=77)
    done = llm.complete(MESSAGES)
    assert done.text == "Paris [1]." and done.finish_reason == "end_turn"
    u = done.usage
    assert (u.backend, u.model) == ("anthropic", "claude-haiku-4-5-20251001")
    assert u.input_tokens == 2600, "rag counts all input: plain + cache reads + cache writes"
    assert u.cached_input_tokens == 2000 and u.output_tokens == 20
    # haiku 4.5: $1.00 input, $0.10 cache read, $1.25 cache write, $5.00 output per 1M
    expected = (
        100 * Decimal("1.00") + 2000 * Decimal("0.10") + 500 * Decimal("1.25") + 20 * Decimal(5)
    ) / 10**6
    assert u.cost == expected == Decimal("0.001025")
    assert u.request_id == "req_ant_42"

    [req] = fake.requests
    assert req.path == "/v1/messages"
    assert req.body["system"] == "Answer from the sources only."
    assert req.body["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert req.body["max_tokens"] == 77 and req.body["temperature"] == 0.5


def test_anthropic_stream_deltas_then_usage(fake: FakeProvider) -> None:
    fake.push(
        Reply(text="Paris is in France [1].", input_tokens=80, output_tokens=12, cached_tokens=8)
    )
    llm = anthropic_llm(fake)
    events = list(llm.stream(MESSAGES))
    deltas = [e.text for e in events if e.completion is None]
    assert len(deltas) >= 4 and "".join(deltas) == "Paris is in France [1]."
    final = events[-1].completion
    assert final is not None and final.finish_reason == "end_turn"
    u = final.usage
    assert (u.input_tokens, u.output_tokens, u.cached_input_tokens) == (88, 12, 8)
    assert u.cost == (80 * Decimal(1) + 8 * Decimal("0.10") + 12 * Decimal(5)) / 10**6
    assert u.time_to_first_token_s is not None
    assert u.request_id == "req_1"
    assert fake.requests[0].body["stream"] is True


def test_anthropic_alias_is_priced(fake: FakeProvider) -> None:
    fake.push(Reply(model="claude-haiku-4-5-20251001", input_tokens=10**6, output_tokens=0))
    u = anthropic_llm(fake, model="claude-haiku-4-5").complete(MESSAGES).usage
    assert u.cost == Decimal("1.00")


def test_anthropic_temperature_out_of_range_is_a_config_error(fake: FakeProvider) -> None:
    with pytest.raises(ConfigError, match=r"0\.0-1\.0"):
        anthropic_llm(fake, temperature=1.5)


# --- configuration errors ---


def test_missing_api_keys_name_the_env_var() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        make_llm("openai:gpt-4o-mini", Settings())
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        make_llm("anthropic:claude-haiku-4-5", Settings())


def test_malformed_api_key_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc\nsk-def")
    with pytest.raises(ConfigError, match="malformed"):
        make_llm("openai:gpt-4o-mini", Settings())


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("gpt-4o", "unknown LLM backend"),
        ("mistral:large", "unknown LLM backend"),
        ("openai:", "name the model"),
        ("anthropic:  ", "name the model"),
        ("openai-compatible:localhost:8080", "base URL"),
        ("openai-compatible:", "base URL"),
        ("route", r"\[routing\]"),
    ],
)
def test_bad_specs_are_config_errors(
    spec: str, match: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-x")
    with pytest.raises(ConfigError, match=match):
        make_llm(spec, Settings())


def test_specs_build_with_keys_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-y")
    o = track(make_llm("openai:gpt-4o", Settings(max_tokens=99)))
    a = track(make_llm("anthropic:claude-sonnet-4-5", Settings()))
    assert (o.backend, o.model, o.context_window) == ("openai", "gpt-4o", 128000)
    assert (a.backend, a.model, a.context_window) == ("anthropic", "claude-sonnet-4-5", 200000)


# --- context window: refused before sending ---


def test_context_window_exceeded_before_sending(fake: FakeProvider) -> None:
    llm = openai_llm(fake, context_window=300)
    long = [Message(role="user", content="word " * 400)]
    with pytest.raises(ContextWindowError, match="context window of 300") as info:
        llm.complete(long, max_tokens=50)
    assert "nothing was sent" in str(info.value)
    with pytest.raises(ContextWindowError):
        list(llm.stream(long, max_tokens=50))
    a = anthropic_llm(fake, context_window=300)
    with pytest.raises(ContextWindowError):
        a.complete(long, max_tokens=50)
    assert fake.requests == [], "an oversized prompt must never reach the provider"


def test_provider_context_length_error_maps_to_context_window_error(fake: FakeProvider) -> None:
    fake.push(Reply(status=400, error_code="context_length_exceeded", error_message="too long"))
    with pytest.raises(ContextWindowError, match="too long"):
        openai_llm(fake).complete(MESSAGES)


# --- errors mapped for the router ---


@pytest.mark.parametrize("which", ["openai", "anthropic"])
def test_rate_limit_carries_retry_after(fake: FakeProvider, which: str) -> None:
    fake.push(rate_limited("7", request_id="req_429"))
    llm: LLM = openai_llm(fake) if which == "openai" else anthropic_llm(fake)
    with pytest.raises(HostedBackendError) as info:
        llm.complete(MESSAGES)
    err = info.value
    assert (err.kind, err.retryable, err.retry_after) == ("rate_limit", True, 7.0)
    assert err.status_code == 429 and err.request_id == "req_429"
    assert "HTTP 429" in str(err)
    assert len(fake.requests) == 1, "the SDK must not retry on its own (max_retries=0)"


@pytest.mark.parametrize("which", ["openai", "anthropic"])
def test_server_error_and_auth_error(fake: FakeProvider, which: str) -> None:
    llm: LLM = openai_llm(fake) if which == "openai" else anthropic_llm(fake)
    fake.push(server_error(503), Reply(status=401, error_message="invalid x-api-key"))
    with pytest.raises(HostedBackendError) as first:
        llm.complete(MESSAGES)
    assert (first.value.kind, first.value.retryable) == ("server", True)
    with pytest.raises(HostedBackendError) as second:
        llm.complete(MESSAGES)
    assert (second.value.kind, second.value.retryable) == ("auth", False)
    env = "OPENAI_API_KEY" if which == "openai" else "ANTHROPIC_API_KEY"
    assert env in str(second.value)


@pytest.mark.parametrize("which", ["openai", "anthropic"])
def test_slow_response_is_a_timeout(fake: FakeProvider, which: str) -> None:
    fake.push(Reply(delay_s=1.5))
    llm: LLM = (
        openai_llm(fake, timeout_s=0.3) if which == "openai" else anthropic_llm(fake, timeout_s=0.3)
    )
    with pytest.raises(BackendError) as info:
        llm.complete(MESSAGES)
    assert (info.value.kind, info.value.retryable) == ("timeout", True)


def test_stream_error_status_is_mapped(fake: FakeProvider) -> None:
    fake.push(rate_limited("1"))
    with pytest.raises(HostedBackendError) as info:
        list(openai_llm(fake).stream(MESSAGES))
    assert info.value.kind == "rate_limit"


def test_closed_port_is_a_connection_error() -> None:
    provider = OpenAIProvider.openai(api_key="sk-x", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(BackendError) as info:
        track(OpenAILLM("gpt-4o-mini", provider=provider)).complete(MESSAGES)
    assert (info.value.kind, info.value.retryable) == ("connection", True)


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after({"retry-after": "3"}) == 3.0
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    assert parse_retry_after({"retry-after": "soon"}) is None
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert parse_retry_after({}) is None


# --- the guard ---


def test_guard_blocks_real_providers(request: pytest.FixtureRequest) -> None:
    """Without a base_url the SDK would go to the env's (closed, local) URL; forcing the real
    host is blocked at the socket layer, and the guard remembers it to fail the test."""
    blocked: list[str] = request.getfixturevalue("no_real_llm")
    provider = OpenAIProvider.openai(api_key="sk-x", base_url="https://api.openai.com/v1")
    with pytest.raises(BackendError) as info:
        track(OpenAILLM("gpt-4o-mini", provider=provider)).complete(MESSAGES)
    assert info.value.kind == "connection"
    assert "api.openai.com" in blocked
    blocked.clear()  # expected here; anywhere else it fails the test at teardown

    default = OpenAIProvider.openai(api_key="sk-x")  # base_url from OPENAI_BASE_URL (closed port)
    with pytest.raises(BackendError, match="cannot connect"):
        track(OpenAILLM("gpt-4o-mini", provider=default)).complete(MESSAGES)
    assert blocked == []


def test_sdks_are_not_imported_with_rag(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import sys, rag, rag.llms, rag.costs.pricing, rag.costs.calllog, rag.llms.routing;"
        "print('openai' in sys.modules, 'anthropic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    assert out.stdout.split() == ["False", "False"]
