"""What the native routes and the OpenAI facade both do: check a question, pick the LLM,
answer (whole or streamed) and turn rag's values into the API's JSON.

An ask carries the conversation so far (``history``: the native body's field, the facade's
earlier user and assistant messages) as ``(role, content)`` pairs; rag retrieves the question
as a follow-up and a generative prompt carries the recent turns (``rag.pipelines.conversation``).
A streamed ask, and a budgeted one, retrieve and pack once: the prompt whose ``sources`` event
is sent, or whose cost is held against the budget, is the prompt the answer is generated from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rag.errors import RagError
from rag.server.errors import ApiError, from_rag_error, internal, invalid, log
from rag.types import Answer

if TYPE_CHECKING:
    from rag.api import RAG
    from rag.pipelines.query import PreparedPrompt
    from rag.server.catalog import Collection
    from rag.server.state import ServerState
    from rag.server.tenants import Tenant
    from rag.stores.base import Filters

_SCALARS = (str, int, float, bool)


def check_text(state: ServerState, field: str, text: str) -> str:
    """A question or query: not blank and at most ``server.max_question_chars``."""
    limit = state.settings.server.max_question_chars
    if not text.strip():
        raise invalid(field, f"{field} is empty; send the text to answer")
    if len(text) > limit:
        raise invalid(
            field,
            f"{field} has {len(text)} characters, more than {limit} (server.max_question_chars); "
            "shorten it",
        )
    return text


def check_where(where: Mapping[str, Any] | None) -> None:
    """Filters in rag's grammar (field -> scalar, non-empty list of scalars of one type, or
    operator dict), so no malformed filter reaches a store (422 ``where`` otherwise)."""
    if not where:
        return
    from rag.errors import ConfigError
    from rag.stores.base import FILTER_OPERATORS, validate_filters

    def scalar_list(v: Any) -> bool:
        return (
            isinstance(v, list)
            and bool(v)
            and all(isinstance(x, _SCALARS) for x in v)
            and len({type(x) for x in v}) == 1
        )

    try:
        validate_filters(where)
    except ConfigError as exc:
        raise invalid("where", str(exc)) from None
    for name, cond in where.items():
        ok = isinstance(cond, _SCALARS) or scalar_list(cond)
        if isinstance(cond, dict):
            ok = bool(cond) and all(
                op in FILTER_OPERATORS
                and (scalar_list(v) if op == "$in" else isinstance(v, _SCALARS))
                for op, v in cond.items()
            )
        if not ok:
            raise invalid(
                "where",
                f"filter on {name!r} must be a value, a non-empty list of values of one type, or "
                'an operator dict like {"$gte": 3} ($in takes a list)',
            )


def pick_llm(state: ServerState, tenant: Tenant, requested: str | None) -> str:
    """The backend spec an ask uses: the requested one if the server allows it (the tenant's,
    the default ``llm`` setting, or ``route`` with a routing policy), else the tenant's."""
    default = tenant.config.llm or state.settings.llm
    if requested is None:
        return default
    allowed = {default, state.settings.llm}
    if state.settings.routing is not None:
        allowed |= {"route", *state.settings.routing.backends}
    if requested not in allowed:
        raise invalid(
            "llm",
            f"llm {requested[:60]!r} is not offered by this server; use one of "
            f"{', '.join(sorted(allowed))} or leave it out",
        )
    return requested


async def open_collection(
    state: ServerState, tenant: Tenant, name: str, *, create: bool = False
) -> Collection:
    from rag.server.catalog import check_name

    check_name(name)
    return await state.runner.run(state.catalog.get, tenant, name, create=create)


def answer_json(collection: Collection, answer: Answer) -> dict[str, Any]:
    """The native ask response."""
    return {
        "answer": answer.text,
        "citations": collection.cite(answer.citations),
        "usage": answer.usage.model_dump(mode="json"),
        "mode": answer.mode,
        "grounded": answer.grounded,
        "abstained": answer.abstained,
        "abstain_reason": answer.abstain_reason,
        "sentences": [s.model_dump(mode="json") for s in answer.sentences],
    }


@dataclass(frozen=True)
class AskJob:
    """One checked ask: the collection, the RAG view that answers it, and its arguments."""

    collection: Collection
    rag: RAG
    question: str
    k: int | None
    filters: Filters | None
    history: tuple[tuple[str, str], ...] = ()
    """Earlier turns, oldest first: ``(role, content)``, role user or assistant."""
    tenant: Tenant | None = None
    """Whose budget the answer's generation is held against (None: no hold)."""


async def prepare_ask(
    state: ServerState,
    tenant: Tenant,
    name: str,
    question: str,
    *,
    k: int | None = None,
    where: Mapping[str, Any] | None = None,
    llm: str | None = None,
    history: Sequence[tuple[str, str]] = (),
) -> AskJob:
    """Check an ask (question, filters, LLM, budget) and open what answers it."""
    check_text(state, "question", question)
    check_where(where)
    spec = pick_llm(state, tenant, llm)
    tenant.check_budget()
    collection = await open_collection(state, tenant, name)
    rag = await state.runner.run(collection.view, llm=spec)
    filters = collection.filters(where)
    return AskJob(collection, rag, question, k, filters, tuple(history), tenant)


def _budgeted(job: AskJob) -> Tenant | None:
    tenant = job.tenant
    return tenant if tenant is not None and tenant.config.daily_budget_usd is not None else None


def estimate(rag: RAG, prepared: PreparedPrompt) -> Decimal | None:
    """(Blocking) The worst-case cost of generating for ``prepared``: its prompt tokens plus
    ``max_tokens`` at the model's price (0 for an extractive answer, None when unpriced)."""
    if rag.answer_mode == "extractive":
        return Decimal(0)
    from rag.llms._hosted import prompt_tokens

    llm = rag.llm
    prices = getattr(llm, "prices", None)
    if prices is None:
        from rag.costs.pricing import load_prices

        prices = load_prices(rag.settings.price_file)
    estimated: Decimal | None = prices.estimate(
        llm.backend,
        llm.model,
        input_tokens=prompt_tokens(prepared.messages),
        max_output_tokens=rag.settings.max_tokens,
    )
    return estimated


def _reserve(tenant: Tenant, rag: RAG, prepared: PreparedPrompt) -> int | None:
    return tenant.reserve(estimate(rag, prepared))


async def _settle(
    state: ServerState, tenant: Tenant, hold: int | None, answer: Answer | None
) -> None:
    """Settle a hold even when the request is cancelled meanwhile."""
    if hold is None:
        return
    cost = answer.usage.cost if answer is not None else None
    await asyncio.shield(state.runner.run(tenant.settle, hold, cost))


async def ask(state: ServerState, job: AskJob) -> Answer:
    tenant = _budgeted(job)
    if tenant is None:
        return await state.runner.ask(
            job.rag, job.question, filters=job.filters, k=job.k, history=job.history
        )
    found = await state.runner.run(
        job.rag.retrieve, job.question, k=job.k, filters=job.filters, history=job.history
    )
    prepared = await state.runner.run(
        job.rag.prepare, job.question, retrieval=found, history=job.history
    )
    hold = await state.runner.run(_reserve, tenant, job.rag, prepared)
    answer: Answer | None = None
    try:
        answer = await state.runner.ask(job.rag, job.question, prepared=prepared)
        return answer
    finally:
        await _settle(state, tenant, hold, answer)


async def ask_events(state: ServerState, job: AskJob) -> AsyncIterator[tuple[str, Any]]:
    """A streamed answer as ``("sources", citations)``, ``("delta", text)``...,
    ``("final", Answer)``, or ``("error", ApiError)`` when it fails midway or the server
    drains (the stream is then closed). Retrieves and packs once: the sources shown are
    those of the prompt the answer is generated from."""
    tenant: Tenant | None = None
    hold: int | None = None
    answer: Answer | None = None
    try:
        found = await state.runner.run(
            job.rag.retrieve, job.question, k=job.k, filters=job.filters, history=job.history
        )
        prepared = await state.runner.run(
            job.rag.prepare, job.question, retrieval=found, history=job.history
        )
        tenant = _budgeted(job)
        if tenant is not None:
            hold = await state.runner.run(_reserve, tenant, job.rag, prepared)
        yield "sources", list(prepared.citations)
        async for item in state.runner.ask_stream(job.rag, job.question, prepared=prepared):
            if isinstance(item, Answer):
                answer = item
                yield "final", item
            else:
                yield "delta", item
    except ApiError as exc:
        yield "error", exc
    except RagError as exc:
        yield "error", from_rag_error(exc)
    except Exception as exc:
        log.error("streamed answer failed", exc_info=exc)
        yield "error", internal()
    finally:
        if tenant is not None:
            await _settle(state, tenant, hold, answer)
