"""Routing policy: retries with backoff, fallback, budget refusal and downgrade, policy errors.

Backends are the real SDK backends against tests/llm_server.py; the router's ``sleep`` is
injected so waits are asserted instead of slept.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from llm_server import MESSAGES, FakeProvider, Reply, rate_limited, server_error, track
from no_real_llm import no_real_llm  # noqa: F401  (the guard, until conftest enables it)

from rag.config import Settings
from rag.costs.calllog import CallLog
from rag.costs.pricing import PriceTable, load_prices
from rag.errors import BackendError, BudgetExceededError, ConfigError
from rag.llms import make_llm
from rag.llms.anthropic import AnthropicLLM, AnthropicProvider
from rag.llms.base import LLM
from rag.llms.openai import OpenAILLM, OpenAIProvider
from rag.llms.routing import (
    Budget,
    RetryPolicy,
    RoutedLLM,
    RoutingPolicy,
    parse_policy,
)
from rag.types import Usage

pytestmark = pytest.mark.integration


class RoutingSettings(Settings):
    """Settings with the fields this issue asks the lead to add (routing, price_file)."""

    routing: RoutingPolicy | None = None
    price_file: Path | None = None


@pytest.fixture()
def primary() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture()
def backup() -> Iterator[FakeProvider]:
    with FakeProvider() as server:
        yield server


@pytest.fixture()
def prices() -> PriceTable:
    return load_prices()


def oai(fake: FakeProvider, model: str = "gpt-4o-mini", **kw: object) -> OpenAILLM:
    provider = OpenAIProvider.openai(api_key="sk-test", base_url=fake.openai_url)
    return track(OpenAILLM(model, provider=provider, **kw))  # type: ignore[arg-type]


def ant(fake: FakeProvider, model: str = "claude-haiku-4-5", **kw: object) -> AnthropicLLM:
    provider = AnthropicProvider.official(api_key="sk-ant", base_url=fake.anthropic_url)
    return track(AnthropicLLM(model, provider=provider, **kw))  # type: ignore[arg-type]


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def router(
    routes: list[LLM],
    prices: PriceTable,
    *,
    attempts: int = 2,
    budget: Budget | None = None,
    log: CallLog | None = None,
    sleeps: Sleeps | None = None,
    **retry: float,
) -> RoutedLLM:
    return RoutedLLM(
        [(f"b{i}", llm) for i, llm in enumerate(routes)],
        retry=RetryPolicy(attempts=attempts, **retry),  # type: ignore[arg-type]
        budget=budget,
        prices=prices,
        max_tokens=64,
        call_log=log,
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


# --- retries ---


def test_retry_after_429_then_success(
    primary: FakeProvider, prices: PriceTable, tmp_path: Path
) -> None:
    primary.push(rate_limited("1.5"), Reply(text="ok [1]", input_tokens=10, output_tokens=2))
    log, sleeps = CallLog(tmp_path / "calls.db"), Sleeps()
    r = router([oai(primary)], prices, log=log, sleeps=sleeps)
    assert isinstance(r, LLM)
    done = r.complete(MESSAGES)
    assert done.text == "ok [1]"
    assert done.usage.route == "primary"
    assert done.usage.request_id == "req_2"
    assert sleeps == [1.5], "the provider's retry-after is honoured"
    assert len(primary.requests) == 2
    [failed] = log.calls()
    assert failed.outcome == "error:rate_limit" and failed.request_id == "req_1"
    assert failed.cost == Decimal(0) and "HTTP 429" in (failed.error or "")


def test_exponential_backoff_without_retry_after(primary: FakeProvider, prices: PriceTable) -> None:
    primary.push(server_error(500), server_error(502), Reply())
    sleeps = Sleeps()
    r = router([oai(primary)], prices, attempts=3, sleeps=sleeps, backoff_s=0.1, backoff_max_s=0.15)
    assert r.complete(MESSAGES).usage.route == "primary"
    assert sleeps == [0.1, 0.15], "doubling, capped at backoff_max_s"


def test_real_sleep_between_retries(primary: FakeProvider, prices: PriceTable) -> None:
    primary.push(rate_limited("0.2"), Reply())
    r = RoutedLLM([("main", oai(primary))], prices=prices, retry=RetryPolicy(attempts=2))
    import time

    started = time.perf_counter()
    r.complete(MESSAGES)
    assert time.perf_counter() - started >= 0.2


# --- fallback ---


def test_fallback_after_repeated_rate_limits(
    primary: FakeProvider, backup: FakeProvider, prices: PriceTable, tmp_path: Path
) -> None:
    primary.push(rate_limited("0"), rate_limited("0"))
    backup.push(Reply(text="from anthropic", input_tokens=20, output_tokens=4))
    log = CallLog(tmp_path / "calls.db")
    r = router([oai(primary), ant(backup)], prices, log=log)
    done = r.complete(MESSAGES)
    assert done.text == "from anthropic"
    assert done.usage.backend == "anthropic"
    assert done.usage.route == "fallback after rate_limit from openai:gpt-4o-mini"
    assert done.usage.cost == (20 * Decimal(1) + 4 * Decimal(5)) / 10**6
    assert len(primary.requests) == 2 and len(backup.requests) == 1
    assert [c.outcome for c in log.calls()] == ["error:rate_limit", "error:rate_limit"]


def test_long_retry_after_falls_back_at_once(
    primary: FakeProvider, backup: FakeProvider, prices: PriceTable
) -> None:
    primary.push(rate_limited("3600"))
    sleeps = Sleeps()
    r = router([oai(primary), ant(backup)], prices, attempts=3, sleeps=sleeps)
    assert r.complete(MESSAGES).usage.backend == "anthropic"
    assert sleeps == [] and len(primary.requests) == 1


def test_timeout_then_fallback(
    primary: FakeProvider, backup: FakeProvider, prices: PriceTable
) -> None:
    primary.push(Reply(delay_s=1.0))
    r = router([oai(primary, timeout_s=0.2), ant(backup)], prices, attempts=1)
    done = r.complete(MESSAGES)
    assert done.usage.route == "fallback after timeout from openai:gpt-4o-mini"


def test_connection_error_then_fallback(backup: FakeProvider, prices: PriceTable) -> None:
    dead = track(
        OpenAILLM(
            "gpt-4o-mini",
            provider=OpenAIProvider.openai(api_key="sk", base_url="http://127.0.0.1:9/v1"),
        )
    )
    r = router([dead, ant(backup)], prices, attempts=1)
    assert r.complete(MESSAGES).usage.route == "fallback after connection from openai:gpt-4o-mini"


def test_every_backend_failing_names_each_failure(
    primary: FakeProvider, backup: FakeProvider, prices: PriceTable, tmp_path: Path
) -> None:
    primary.push(server_error(500))
    backup.push(server_error(529))
    log = CallLog(tmp_path / "calls.db")
    r = router([oai(primary), ant(backup)], prices, attempts=1, log=log)
    with pytest.raises(BackendError) as info:
        r.complete(MESSAGES)
    text = str(info.value)
    assert "every backend" in text and "openai:gpt-4o-mini" in text and "HTTP 529" in text
    assert info.value.kind == "server"
    assert info.value.logged, "callers must not log it a second time"
    assert [(c.backend, c.outcome) for c in log.calls()] == [
        ("openai", "error:server"),
        ("anthropic", "error:server"),
    ]


def test_auth_error_is_not_hidden_by_fallback(
    primary: FakeProvider, backup: FakeProvider, prices: PriceTable
) -> None:
    primary.push(Reply(status=401, error_message="bad key"))
    r = router([oai(primary), ant(backup)], prices)
    with pytest.raises(BackendError, match="OPENAI_API_KEY") as info:
        r.complete(MESSAGES)
    assert info.value.kind == "auth"
    assert len(primary.requests) == 1 and backup.requests == []


def test_stream_falls_back_before_the_first_token(
    primary: FakeProvider, backup: FakeProvider, prices: PriceTable
) -> None:
    primary.push(server_error(503))
    backup.push(Reply(text="streamed from the backup", output_tokens=4))
    r = router([oai(primary), ant(backup)], prices, attempts=1)
    events = list(r.stream(MESSAGES))
    assert "".join(e.text for e in events) == "streamed from the backup"
    final = events[-1].completion
    assert final is not None
    assert final.usage.route == "fallback after server from openai:gpt-4o-mini"
    assert final.usage.time_to_first_token_s is not None
    assert backup.requests[0].body["stream"] is True


# --- budget ---


def test_budget_refuses_before_sending(primary: FakeProvider, prices: PriceTable) -> None:
    budget = Budget(per_call_usd=Decimal("0.0001"))
    r = router([oai(primary, model="gpt-4o")], prices, budget=budget)
    with pytest.raises(BudgetExceededError) as info:
        r.complete(MESSAGES, max_tokens=1000)
    text = str(info.value)
    assert "per-call budget $0.0001" in text and "openai:gpt-4o" in text
    assert "on_exceed = 'downgrade'" in text
    assert primary.requests == []


def test_budget_downgrades_to_the_next_cheaper_backend(
    primary: FakeProvider, backup: FakeProvider, prices: PriceTable
) -> None:
    expensive = oai(primary, model="gpt-4o")  # 1000 out tokens: ~$0.01
    cheap = oai(backup, model="gpt-4o-mini")  # ~$0.0006
    cheapest = oai(backup, model="gpt-4.1-nano")  # ~$0.0004
    budget = Budget(per_call_usd=Decimal("0.001"), on_exceed="downgrade")
    r = router([expensive, cheapest, cheap], prices, budget=budget)
    done = r.complete(MESSAGES, max_tokens=1000)
    assert done.usage.model == "gpt-4o-mini", "the most capable backend that fits comes first"
    assert done.usage.route.startswith("budget downgrade from openai:gpt-4o: estimated $")
    assert primary.requests == []


def test_downgrade_with_nothing_cheap_enough_is_refused(
    primary: FakeProvider, prices: PriceTable
) -> None:
    budget = Budget(per_call_usd=Decimal("0.0000001"), on_exceed="downgrade")
    r = router([oai(primary, model="gpt-4o"), oai(primary)], prices, budget=budget)
    with pytest.raises(BudgetExceededError, match="no backend fits"):
        r.complete(MESSAGES)


def test_per_day_budget_counts_todays_logged_spend(
    primary: FakeProvider, prices: PriceTable, tmp_path: Path
) -> None:
    log = CallLog(tmp_path / "calls.db")
    spent = Usage(backend="openai", model="gpt-4o-mini", cost=Decimal("0.99999"))
    log.record(spent)
    log.record(spent, time=datetime(2020, 1, 1, tzinfo=UTC))  # another day: not counted
    r = router([oai(primary)], prices, budget=Budget(per_day_usd=Decimal(1)), log=log)
    with pytest.raises(BudgetExceededError, match=r"\$0.99999 spent today"):
        r.complete(MESSAGES)
    r2 = router([oai(primary)], prices, budget=Budget(per_day_usd=Decimal(2)), log=log)
    assert r2.complete(MESSAGES).usage.route == "primary"


def test_per_day_budget_without_a_log_counts_this_process(
    primary: FakeProvider, prices: PriceTable
) -> None:
    primary.default = Reply(input_tokens=1000, output_tokens=2000)  # $0.00135 per call
    r = router([oai(primary)], prices, budget=Budget(per_day_usd=Decimal("0.0013")))
    r.complete(MESSAGES, max_tokens=10)
    with pytest.raises(BudgetExceededError):
        r.complete(MESSAGES, max_tokens=10)


def test_unknown_price_cannot_pass_a_budget(primary: FakeProvider, prices: PriceTable) -> None:
    r = router(
        [oai(primary, model="gpt-unpriced-x")], prices, budget=Budget(per_call_usd=Decimal(1))
    )
    with pytest.raises(BudgetExceededError, match="price unknown"):
        r.complete(MESSAGES)


# --- policy validation (config time) ---


def test_policy_from_toml_shape() -> None:
    policy = parse_policy(
        {
            "default": "main",
            "fallback": ["backup"],
            "backends": {"main": "openai:gpt-4o-mini", "backup": {"llm": "local", "timeout_s": 5}},
            "retry": {"attempts": 3},
            "budget": {"per_call_usd": "0.01", "on_exceed": "downgrade"},
        }
    )
    assert policy.order == ["main", "backup"]
    assert policy.backends["main"].llm == "openai:gpt-4o-mini"
    assert policy.budget.per_call_usd == Decimal("0.01")
    assert RoutingPolicy.model_validate(policy.model_dump()) == policy


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"backends": {"a": "local"}, "default": "b"}, "routing.default names backend 'b'"),
        (
            {"backends": {"a": "local"}, "fallback": ["ghost"]},
            r"routing.fallback\[0\] names backend 'ghost'",
        ),
        ({"backends": {"a": "local", "b": "local"}}, "routing.default is missing"),
        ({"backends": {"a": "local"}, "fallback": ["a"]}, "list each backend once"),
        (
            {"backends": {"a": "local"}, "budget": {"per_call_usd": "-1"}},
            "routing.budget.per_call_usd",
        ),
        (
            {"backends": {"a": "local"}, "budget": {"per_day_usd": -5}},
            "greater than or equal to 0",
        ),
        ({"backends": {"a": "local"}, "budget": {"on_exceed": "pray"}}, "on_exceed"),
        ({"backends": {}}, "routing.backends"),
        ({"backends": {"a": "local"}, "retry": {"attempts": 0}}, "routing.retry.attempts"),
    ],
)
def test_bad_policies_are_config_errors(data: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_policy(data)


def test_settings_with_bad_routing_fail_at_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """Once Settings has ``routing: RoutingPolicy | None``, rag.toml errors surface as
    ConfigError from load_settings (exit 2 in the CLI)."""
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="ghost"):
        RoutingSettings(routing={"backends": {"a": "local"}, "default": "ghost"})  # type: ignore[arg-type]


# --- make_llm builds the router ---


def test_make_llm_route_end_to_end(
    primary: FakeProvider,
    backup: FakeProvider,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "k")
    policy = parse_policy(
        {
            "default": "main",
            "fallback": ["vllm"],
            "backends": {
                "main": "openai:gpt-4o-mini",
                "vllm": {
                    "llm": f"openai-compatible:{backup.openai_url}#qwen",
                    "context_window": 32768,
                },
            },
            "retry": {"attempts": 1},
        }
    )
    monkeypatch.setenv("OPENAI_BASE_URL", primary.openai_url)
    settings = RoutingSettings(routing=policy, data_dir=tmp_path, max_tokens=40)
    llm = track(make_llm("route", settings))
    assert isinstance(llm, RoutedLLM)
    assert llm.context_window == 32768, "the smallest window of the chain"
    primary.push(server_error(500))
    with pytest.warns(UserWarning, match="no price for openai-compatible:qwen"):
        done = llm.complete(MESSAGES)
    assert done.usage.backend == "openai-compatible" and done.usage.cost is None
    assert done.usage.route == "fallback after server from openai:gpt-4o-mini"
    assert backup.requests[0].body["max_tokens"] == 40
    [failed] = CallLog(settings.call_log_path).calls()
    assert failed.outcome == "error:server" and failed.backend == "openai"

    single = track(make_llm("vllm", settings))
    assert isinstance(single, OpenAILLM) and single.context_window == 32768


def test_make_llm_route_fails_at_config_time_on_a_missing_key(tmp_path: Path) -> None:
    policy = parse_policy({"backends": {"claude": "anthropic:claude-haiku-4-5"}})
    settings = RoutingSettings(routing=policy, data_dir=tmp_path)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        make_llm("route", settings)


def test_make_llm_rejects_a_policy_backend_with_a_bad_spec(tmp_path: Path) -> None:
    policy = parse_policy({"backends": {"x": "route"}})
    with pytest.raises(ConfigError, match=r"routing\.backends\.x\.llm"):
        make_llm("route", RoutingSettings(routing=policy, data_dir=tmp_path))
    with pytest.raises(ConfigError, match=r"defined: x"):
        make_llm("nope", RoutingSettings(routing=policy, data_dir=tmp_path))
