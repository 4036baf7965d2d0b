"""The routing policy as data: the pydantic models behind ``[routing]`` in rag.toml.

Core-level so ``rag.config`` can hold a policy without importing the LLM layer;
``rag.llms.routing.RoutedLLM`` runs it. Example::

    [routing]
    default = "main"                  # tried first
    fallback = ["backup", "local"]    # then these, in order
    backends = { main = "openai:gpt-4o-mini", backup = "anthropic:claude-3-5-haiku-latest",
                 local = "local" }
    retry = { attempts = 2, backoff_s = 0.5 }
    budget = { per_call_usd = "0.01", per_day_usd = "2", on_exceed = "downgrade" }
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rag.errors import ConfigError

__all__ = ["BackendConfig", "Budget", "RetryPolicy", "RoutingPolicy", "parse_policy"]


class BackendConfig(BaseModel):
    """One named backend of a routing policy. A bare string in rag.toml means ``llm = ...``."""

    model_config = ConfigDict(extra="forbid")

    llm: str = Field(min_length=1)
    """A backend spec as for --llm: ``openai:MODEL``, ``anthropic:MODEL``,
    ``openai-compatible:URL#MODEL``, ``local``, ``local:/path.gguf``."""
    timeout_s: float | None = Field(default=None, gt=0)
    context_window: int | None = Field(default=None, ge=1)


class RetryPolicy(BaseModel):
    """How often to retry one backend before falling back, and how long to wait in between."""

    model_config = ConfigDict(extra="forbid")

    attempts: int = Field(default=2, ge=1, le=10)
    """Tries per backend (1 = no retry)."""
    backoff_s: float = Field(default=0.5, ge=0)
    """First wait; doubles after each failed try."""
    backoff_max_s: float = Field(default=8.0, ge=0)
    max_retry_after_s: float = Field(default=30.0, ge=0)
    """A provider asking to wait longer than this makes rag fall back at once instead."""

    def wait(self, attempt: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after failed try ``attempt`` (0-based) before the next one, or None
        to give up (tries used up, or the provider's ``retry_after`` is longer than allowed).
        The router and the hosted embedder both ask this."""
        if attempt + 1 >= self.attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after_s else None
        return min(self.backoff_s * 2.0**attempt, self.backoff_max_s)


class Budget(BaseModel):
    """Spending limits in USD, checked against the estimated worst-case cost before each call."""

    model_config = ConfigDict(extra="forbid")

    per_call_usd: Decimal | None = Field(default=None, ge=0)
    per_day_usd: Decimal | None = Field(default=None, ge=0)
    """Per UTC day, counting the known costs in the call log."""
    on_exceed: Literal["refuse", "downgrade"] = "refuse"

    @property
    def active(self) -> bool:
        return self.per_call_usd is not None or self.per_day_usd is not None


class RoutingPolicy(BaseModel):
    """Named backends, which to try first (``default``), the fallback order, retries, budget."""

    model_config = ConfigDict(extra="forbid")

    backends: dict[str, BackendConfig] = Field(min_length=1)
    default: str | None = None
    """The primary backend; may be omitted when only one backend is defined."""
    fallback: list[str] = Field(default_factory=list)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    budget: Budget = Field(default_factory=Budget)

    @field_validator("backends", mode="before")
    @classmethod
    def _strings_are_specs(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: ({"llm": v} if isinstance(v, str) else v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _names_defined(self) -> RoutingPolicy:
        defined = ", ".join(sorted(self.backends))
        if self.default is None:
            if len(self.backends) != 1:
                raise ValueError(
                    f"routing.default is missing: name the primary backend, one of: {defined}"
                )
            self.default = next(iter(self.backends))
        for where, name in [("routing.default", self.default)] + [
            (f"routing.fallback[{i}]", n) for i, n in enumerate(self.fallback)
        ]:
            if name not in self.backends:
                raise ValueError(
                    f"{where} names backend '{name}', which is not defined in routing.backends "
                    f"(defined: {defined}); add [routing.backends.{name}] or fix the name"
                )
        order = self.order
        if len(set(order)) != len(order):
            raise ValueError(
                "routing.fallback repeats a backend or lists the default again: "
                f"{' -> '.join(order)}; list each backend once"
            )
        return self

    @property
    def order(self) -> list[str]:
        """Primary first, then the fallbacks."""
        return [self.default or next(iter(self.backends)), *self.fallback]


def parse_policy(data: Mapping[str, Any], origin: str = "rag.toml [routing]") -> RoutingPolicy:
    """Validate a ``[routing]`` table into a RoutingPolicy; errors become one ConfigError."""
    try:
        return RoutingPolicy.model_validate(dict(data))
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{origin}: {'routing.' + path if path else 'routing'}: {msg}")
        raise ConfigError("invalid routing policy:\n  " + "\n  ".join(lines)) from None
