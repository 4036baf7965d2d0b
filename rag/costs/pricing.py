"""Model prices and context windows: a versioned TOML file in the package, overridable by the user.

``rag/costs/prices.toml`` lists, per backend and model, USD per million input / output /
cached-input tokens, the context window and the date the numbers were checked. A user file of
the same shape (setting ``price_file``) replaces or adds entries model by model. Arithmetic is exact
``Decimal``; a model with no price costs ``None`` ("unknown") and warns once, never a silent 0.
Local backends (llama.cpp) cost ``Decimal(0)``. Nothing here touches the network.
"""

from __future__ import annotations

import functools
import re
import tomllib
import warnings
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rag.errors import ConfigError

__all__ = [
    "FREE_BACKENDS",
    "ModelPrice",
    "PriceTable",
    "PriceWarning",
    "load_prices",
]

FREE_BACKENDS = frozenset({"local", "llamacpp", "llama.cpp", "scripted"})
"""Backends that run on this machine: their calls cost ``Decimal(0)``."""

_MILLION = Decimal(1_000_000)
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")


class PriceWarning(UserWarning):
    """A model has no price: its cost is recorded as unknown."""


class ModelPrice(BaseModel):
    """One model's prices (USD per million tokens) and limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)
    cached_input: Decimal | None = Field(default=None, ge=0)
    """Per million input tokens read from the prompt cache; ``None`` = same as ``input``."""
    cache_write_input: Decimal | None = Field(default=None, ge=0)
    """Per million tokens written to the prompt cache (Anthropic); ``None`` = same as ``input``."""
    context_window: int | None = Field(default=None, ge=1)
    max_output: int | None = Field(default=None, ge=1)
    temperature: bool = True
    """False for models that reject a temperature (OpenAI reasoning models)."""
    aliases: tuple[str, ...] = ()
    checked: date | None = None

    def cost(
        self,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> Decimal:
        """Exact cost of one call. ``input_tokens`` counts all input, cached and written included."""
        plain = max(input_tokens - cached_input_tokens - cache_write_tokens, 0)
        cached = self.input if self.cached_input is None else self.cached_input
        write = self.input if self.cache_write_input is None else self.cache_write_input
        total = (
            plain * self.input
            + cached_input_tokens * cached
            + cache_write_tokens * write
            + output_tokens * self.output
        )
        return total / _MILLION


class PriceTable:
    """Prices per ``(backend, model)``; built by ``load_prices``."""

    def __init__(
        self,
        entries: dict[str, dict[str, ModelPrice]],
        *,
        version: str = "unversioned",
        sources: tuple[str, ...] = (),
    ) -> None:
        self.entries = entries
        self.version = version
        self.sources = sources
        self._index: dict[tuple[str, str], ModelPrice] = {}
        for backend, models in entries.items():
            for price in models.values():
                for alias in price.aliases:
                    self._index.setdefault((backend, alias), price)
            for name, price in models.items():  # real names win over aliases
                self._index[(backend, name)] = price
        self._warned: set[tuple[str, str]] = set()

    def lookup(self, backend: str, model: str) -> ModelPrice | None:
        """The price of ``model``: exact name, alias, or the name without a date suffix
        (``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``)."""
        found = self._index.get((backend, model))
        if found is None:
            base = _DATE_SUFFIX.sub("", model)
            if base != model:
                found = self._index.get((backend, base))
        return found

    def cost(
        self,
        backend: str,
        model: str,
        *,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
        also: str | None = None,
    ) -> Decimal | None:
        """Cost of a finished call, or ``None`` (with a one-time PriceWarning) when unpriced.

        ``also`` is a second name to try (the requested model when the provider reported a
        dated variant).
        """
        if backend in FREE_BACKENDS:
            return Decimal(0)
        price = self.lookup(backend, model) or (self.lookup(backend, also) if also else None)
        if price is None:
            self._warn_unknown(backend, model)
            return None
        return price.cost(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens)

    def estimate(
        self, backend: str, model: str, *, input_tokens: int, max_output_tokens: int
    ) -> Decimal | None:
        """Worst-case cost before sending: all input uncached, every allowed output token used."""
        if backend in FREE_BACKENDS:
            return Decimal(0)
        price = self.lookup(backend, model)
        return None if price is None else price.cost(input_tokens, max_output_tokens)

    def _warn_unknown(self, backend: str, model: str) -> None:
        key = (backend, model)
        if key in self._warned:
            return
        self._warned.add(key)
        warnings.warn(
            f"no price for {backend}:{model} in rag's price list (version {self.version})"
            + (f" or {', '.join(self.sources[1:])}" if len(self.sources) > 1 else "")
            + "; its cost is recorded as unknown. Add it to a price file "
            f'([{backend}."{model}"] input = ... output = ...) and set price_file',
            PriceWarning,
            stacklevel=3,
        )


def _parse(text: str, origin: str) -> tuple[str | None, dict[str, dict[str, ModelPrice]]]:
    """Read one price file into (version, entries); errors name the file and the entry."""
    try:
        raw: dict[str, Any] = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"price file {origin} is not valid TOML: {exc}") from None
    version = raw.pop("version", None)
    entries: dict[str, dict[str, ModelPrice]] = {}
    for backend, models in raw.items():
        if not isinstance(models, dict):
            raise ConfigError(
                f"price file {origin}: '{backend}' must be a table of models "
                f'([{backend}."MODEL"] input = ... output = ...)'
            )
        for model, fields in models.items():
            try:
                entries.setdefault(backend, {})[model] = ModelPrice.model_validate(fields)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc']) or 'entry'}: {e['msg']}"
                    for e in exc.errors()
                )
                raise ConfigError(
                    f'price file {origin}: [{backend}."{model}"] is invalid ({problems}). '
                    "Prices are USD per million tokens, 0 or more"
                ) from None
    return (None if version is None else str(version)), entries


def _packaged_text() -> str:
    return resources.files("rag.costs").joinpath("prices.toml").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=8)
def _load_cached(user_file: str | None, mtime: float | None) -> PriceTable:
    version, entries = _parse(_packaged_text(), "rag/costs/prices.toml (packaged)")
    sources: tuple[str, ...] = ("rag/costs/prices.toml",)
    if user_file is not None:
        path = Path(user_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"price file {path} (setting 'price_file') cannot be read: {exc.strerror}. "
                "Fix the path or unset price_file to use the packaged prices"
            ) from None
        user_version, overrides = _parse(text, str(path))
        for backend, models in overrides.items():
            entries.setdefault(backend, {}).update(models)
        if user_version:
            version = f"{version}+{user_version}"
        sources = (*sources, str(path))
    return PriceTable(entries, version=version or "unversioned", sources=sources)


def load_prices(user_file: Path | None = None) -> PriceTable:
    """The packaged prices, with ``user_file``'s entries replacing or adding models.

    Cached per file and modification time, so repeated calls are free and edits are seen.
    """
    if user_file is None:
        return _load_cached(None, None)
    try:
        mtime: float | None = Path(user_file).stat().st_mtime
    except OSError:
        mtime = None  # _load_cached reports the unreadable file
    return _load_cached(str(user_file), mtime)
