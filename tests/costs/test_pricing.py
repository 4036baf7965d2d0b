"""The price list: packaged data, user overrides, exact Decimal cost, unknown never zero."""

from __future__ import annotations

import tomllib
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path

import pytest

from rag.costs.pricing import ModelPrice, PriceTable, PriceWarning, load_prices
from rag.errors import ConfigError


def test_packaged_list_is_complete_and_versioned() -> None:
    table = load_prices()
    assert table.version and table.version != "unversioned"
    raw = tomllib.loads(resources.files("rag.costs").joinpath("prices.toml").read_text())
    models = [(b, m) for b, ms in raw.items() if isinstance(ms, dict) for m in ms]
    assert len(models) >= 10
    for backend, model in models:
        price = table.lookup(backend, model)
        assert price is not None
        assert price.checked is not None and price.checked >= date(2024, 1, 1), model
        assert price.context_window and price.context_window >= 8192, model
        assert price.input > 0 and price.output >= price.input, model


def test_cost_is_exact_decimal() -> None:
    price = ModelPrice(input=Decimal("0.15"), output=Decimal("0.60"), cached_input=Decimal("0.075"))
    assert price.cost(10**6, 0) == Decimal("0.15")
    assert price.cost(3, 7) == Decimal("0.00000465")  # 0.45e-6 + 4.2e-6, no float drift
    assert price.cost(1000, 0, cached_input_tokens=1000) == Decimal("0.000075")
    total = sum((price.cost(1, 1) for _ in range(10)), Decimal(0))
    assert total == Decimal("0.0000075")


def test_cache_write_and_missing_cached_price_default_to_input() -> None:
    price = ModelPrice(input=Decimal(3), output=Decimal(15))
    assert price.cost(100, 0, cached_input_tokens=50, cache_write_tokens=50) == Decimal("0.0003")
    with_write = ModelPrice(input=Decimal(3), output=Decimal(15), cache_write_input=Decimal("3.75"))
    assert with_write.cost(100, 0, cache_write_tokens=100) == Decimal("0.000375")


def test_lookup_by_alias_and_dated_name() -> None:
    table = load_prices()
    assert table.lookup("anthropic", "claude-haiku-4-5") is table.lookup(
        "anthropic", "claude-haiku-4-5-20251001"
    )
    assert table.lookup("openai", "gpt-4o-2024-08-06") is table.lookup("openai", "gpt-4o")
    assert table.lookup("openai", "gpt-4o-mini") is not table.lookup("openai", "gpt-4o")
    assert table.lookup("anthropic", "gpt-4o") is None


def test_unknown_model_is_none_and_warns_once() -> None:
    table = PriceTable({}, version="t")
    with pytest.warns(PriceWarning, match="no price for openai:mystery"):
        assert table.cost("openai", "mystery", input_tokens=5, output_tokens=5) is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert table.cost("openai", "mystery", input_tokens=5, output_tokens=5) is None
    assert table.estimate("openai", "mystery", input_tokens=5, max_output_tokens=5) is None


def test_local_backends_cost_zero() -> None:
    table = PriceTable({})
    for backend in ("local", "llamacpp"):
        assert table.cost(backend, "smollm2", input_tokens=100, output_tokens=100) == Decimal(0)
        assert table.estimate(backend, "smollm2", input_tokens=9, max_output_tokens=9) == 0


def test_estimate_is_worst_case() -> None:
    table = load_prices()
    est = table.estimate("openai", "gpt-4o", input_tokens=1000, max_output_tokens=500)
    assert est == (1000 * Decimal("2.50") + 500 * Decimal(10)) / 10**6


def test_user_file_overrides_and_adds(tmp_path: Path) -> None:
    user = tmp_path / "prices.toml"
    user.write_text(
        'version = "mine-1"\n'
        '[openai."gpt-4o-mini"]\ninput = 0.10\noutput = 0.40\ncontext_window = 1000\n'
        '[openai-compatible."qwen"]\ninput = 0\noutput = 0\ncontext_window = 32768\n'
    )
    table = load_prices(user)
    mini = table.lookup("openai", "gpt-4o-mini")
    assert mini is not None and mini.input == Decimal("0.10") and mini.context_window == 1000
    assert table.cost("openai-compatible", "qwen", input_tokens=9, output_tokens=9) == 0
    assert table.lookup("anthropic", "claude-haiku-4-5") is not None, "others are kept"
    assert "mine-1" in table.version
    assert str(user) in table.sources
    # edits are picked up (cache keyed by mtime)
    import os

    user.write_text('[openai."gpt-4o-mini"]\ninput = 9\noutput = 9\n')
    os.utime(user, (1, 1))
    assert load_prices(user).lookup("openai", "gpt-4o-mini").input == 9  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[openai."x"]\ninput = -1\noutput = 1\n', r'\[openai."x"\] is invalid.*input'),
        ('[openai."x"]\ninput = 1\n', "output"),
        ('[openai."x"]\ninput = 1\noutput = 1\nbogus = 2\n', "bogus"),
        ("openai = 3\n", "must be a table of models"),
        ("this is not toml", "not valid TOML"),
    ],
)
def test_bad_user_file_is_a_config_error(tmp_path: Path, text: str, match: str) -> None:
    user = tmp_path / "bad.toml"
    user.write_text(text)
    with pytest.raises(ConfigError, match=match) as info:
        load_prices(user)
    assert str(user) in str(info.value)


def test_missing_user_file_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="price_file"):
        load_prices(tmp_path / "nope.toml")
