"""``RoutingBudget``: the router's budget (plan, per-day holds, spend), kept apart from retries."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from rag.costs.pricing import PriceTable
from rag.errors import BudgetExceededError
from rag.llms._hosted import prompt_tokens
from rag.llms.base import LLM, Message
from rag.routing_config import Budget
from rag.types import Usage

if TYPE_CHECKING:
    from rag.costs.calllog import CallLogLike as CallLog

__all__ = ["BUDGET_SCOPE", "RoutingBudget", "label"]

BUDGET_SCOPE = "routing:day"
"""The call log's hold scope of the routing per-day budget."""


def label(llm: LLM) -> str:
    """How errors and routes name a backend: ``backend:model``."""
    return f"{llm.backend}:{llm.model}"


class RoutingBudget:
    """Base of ``RoutedLLM``: which backends a call may use under the budget (``plan``), the
    per-day hold it takes in the call log (``admit``/``settle``) and today's spend."""

    routes: list[tuple[str, LLM]]
    budget: Budget
    prices: PriceTable
    call_log: CallLog | None
    _spent_day: tuple[str, Decimal]
    _spent_lock: threading.Lock

    def _spent_today(self) -> Decimal:
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        if self.call_log is not None:  # the calls logged, or the holds if more (in flight)
            log = self.call_log
            return max(log.spent(since=midnight), log.held(BUDGET_SCOPE, since=midnight))
        with self._spent_lock:
            day, spent = self._spent_day
        return spent if day == midnight.date().isoformat() else Decimal(0)

    def _add_spent(self, usage: Usage) -> None:
        today = datetime.now(UTC).date().isoformat()
        with self._spent_lock:
            day, spent = self._spent_day
            self._spent_day = (today, (spent if day == today else Decimal(0)) + (usage.cost or 0))

    def admit(
        self, messages: Sequence[Message], max_tokens: int
    ) -> tuple[list[tuple[LLM, str]], int | None]:
        """``plan``, and with a per-day budget and a call log, a hold of the first backend's
        estimated cost taken atomically in the call log (shared by every process that uses
        it: ``call_log_dsn``), so concurrent calls cannot together overspend the day. The
        hold is settled to the real cost when the call ends (``settle``)."""
        plan = self.plan(messages, max_tokens)
        per_day, log = self.budget.per_day_usd, self.call_log
        if per_day is None or log is None:
            return plan, None
        first = plan[0][0]
        est = self.prices.estimate(
            first.backend,
            first.model,
            input_tokens=prompt_tokens(messages),
            max_output_tokens=max_tokens,
        )
        if est is None:
            return plan, None
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        hold = log.reserve(BUDGET_SCOPE, est, Decimal(per_day), midnight)
        if hold is None:
            held = log.held(BUDGET_SCOPE, midnight)
            raise BudgetExceededError(
                f"call refused by the routing budget: estimated ${est} on top of ${held} spent "
                f"or held today (by every process sharing the call log) exceeds the per-day "
                f"budget ${per_day}. Raise routing.budget.per_day_usd or lower max_tokens"
            )
        return plan, hold

    def settle(self, hold: int | None, usage: Usage | None) -> None:
        """Turn a hold into the call's real cost (0 when no backend answered)."""
        if hold is None or self.call_log is None:
            return
        cost = Decimal(0) if usage is None or usage.cost is None else usage.cost
        self.call_log.settle(hold, cost)

    def plan(self, messages: Sequence[Message], max_tokens: int) -> list[tuple[LLM, str]]:
        """The backends to try, in order, each with the route it would report when it serves.
        Raises BudgetExceededError when the budget refuses the call."""
        if not self.budget.active:
            return [(llm, "primary" if i == 0 else "") for i, (_, llm) in enumerate(self.routes)]
        tokens = prompt_tokens(messages)
        spent = self._spent_today() if self.budget.per_day_usd is not None else Decimal(0)
        fitting: list[tuple[LLM, Decimal]] = []
        problems: list[str] = []
        for _, llm in self.routes:
            est = self.prices.estimate(
                llm.backend, llm.model, input_tokens=tokens, max_output_tokens=max_tokens
            )
            problem = self._over_budget(est, spent)
            if problem is None and est is not None:
                fitting.append((llm, est))
            else:
                problems.append(f"{label(llm)}: {problem}")
        primary = self.routes[0][1]
        if fitting and fitting[0][0] is primary:
            return [(llm, "primary" if i == 0 else "") for i, (llm, _) in enumerate(fitting)]
        why = problems[0]
        if self.budget.on_exceed == "refuse" or not fitting:
            action = "refused" if self.budget.on_exceed == "refuse" else "no backend fits"
            raise BudgetExceededError(
                f"call {action} by the routing budget ({self._budget_text(spent)}): "
                + "; ".join(problems)
                + ". Raise routing.budget.per_call_usd / per_day_usd, lower max_tokens, "
                + (
                    "or set routing.budget.on_exceed = 'downgrade'"
                    if self.budget.on_exceed == "refuse"
                    else "or add a cheaper backend (e.g. local) to routing.fallback"
                )
            )
        # downgrade: the next cheaper backends first (most expensive that still fits)
        ladder = sorted(fitting, key=lambda pair: pair[1], reverse=True)
        reason = f"budget downgrade from {why}"
        return [(llm, reason if i == 0 else "") for i, (llm, _) in enumerate(ladder)]

    def _over_budget(self, est: Decimal | None, spent: Decimal) -> str | None:
        if est is None:
            return "price unknown, so the budget cannot be checked (add it to a price file)"
        per_call, per_day = self.budget.per_call_usd, self.budget.per_day_usd
        if per_call is not None and est > per_call:
            return f"estimated ${est} exceeds the per-call budget ${per_call}"
        if per_day is not None and spent + est > per_day:
            return (
                f"estimated ${est} on top of ${spent} spent today exceeds the per-day "
                f"budget ${per_day}"
            )
        return None

    def _budget_text(self, spent: Decimal) -> str:
        parts = []
        if self.budget.per_call_usd is not None:
            parts.append(f"per call ${self.budget.per_call_usd}")
        if self.budget.per_day_usd is not None:
            parts.append(f"per day ${self.budget.per_day_usd}, ${spent} spent today")
        return ", ".join(parts)
