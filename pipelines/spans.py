"""The attributes of the ask spans (``rag.tracing``), shared by the sync query pipeline and
``AsyncRAG`` so both paths trace alike: OpenTelemetry's ``gen_ai`` names where they exist,
``rag.*`` for the rest; user text only through ``Span.content`` (``trace_content``)."""

from __future__ import annotations

from rag import tracing
from rag.llms.base import LLM
from rag.types import Answer, Usage

__all__ = ["ask_span", "finish_ask_span", "generate_span", "usage_attributes"]


def ask_span(collection: str, question: str) -> tracing.Span:
    """The root span of one ask (sync or async): the collection; the question only when the
    scope lets content in."""
    sp = tracing.span("ask", collection=collection)
    sp.content("rag.question", question)
    return sp


def usage_attributes(usage: Usage) -> dict[str, object]:
    """A call's usage as span attributes (OpenTelemetry's ``gen_ai`` names where they exist;
    the call log stays the record of cost)."""
    return {
        "gen_ai.provider.name": usage.backend,
        "gen_ai.response.model": usage.model,
        "gen_ai.usage.input_tokens": usage.input_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "rag.cached_input_tokens": usage.cached_input_tokens or None,
        "rag.cost_usd": usage.cost,
        "rag.cost_known": usage.cost is not None,
        "rag.route": usage.route,
        "rag.outcome": usage.outcome,
    }


def generate_span(llm: LLM, max_tokens: int | None) -> tracing.Span:
    """The span of one generation (its usage is added when it ends: ``usage_attributes``)."""
    return tracing.span(
        "generate",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": llm.backend,
            "gen_ai.request.model": llm.model,
            "gen_ai.request.max_tokens": max_tokens,
        },
        answer_mode="generative",
    )


def finish_ask_span(sp: tracing.Span, answer: Answer) -> None:
    """What an ask found and spent, on its root span (the answer only with content)."""
    usage = answer.usage
    sp.set(
        {
            "gen_ai.usage.input_tokens": usage.input_tokens,
            "gen_ai.usage.output_tokens": usage.output_tokens,
        },
        answer_mode=answer.mode,
        citations=len(answer.citations),
        cited=sum(1 for c in answer.citations if c.cited),
        abstained=answer.abstained,
        grounded=answer.grounded,
        cost_usd=usage.cost,
        model=f"{usage.backend}:{usage.model}",
    )
    sp.content("rag.answer", answer.text)
    sp.content("rag.abstain_reason", answer.abstain_reason)  # may quote the question
