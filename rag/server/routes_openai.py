"""The OpenAI-compatible facade: ``GET /v1/models`` (the tenant's collections) and
``POST /v1/chat/completions`` (``model`` = collection; the last user message is the question).

The user and assistant messages before it are the conversation (rag's ``history``: the
question is retrieved as their follow-up). System and developer messages are ignored: rag
answers from the sources with its own system prompt, which a client cannot replace. Tool
messages, assistant messages without text and anything after the last user message are
ignored too.

The answer's citations travel in an extra ``citations`` field of the response, and of the last
chunk of a stream, so chat front-ends built on an OpenAI client keep rag's sources; token
counts are in the standard ``usage`` field.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from rag.server import service
from rag.server.errors import ApiError, invalid
from rag.server.schemas import ChatCompletionIn, ChatMessage
from rag.server.sse import event
from rag.server.state import StateDep, TenantDep
from rag.types import Answer, Usage

router = APIRouter(prefix="/v1", tags=["openai"])


@router.get("/models")
async def models(state: StateDep, tenant: TenantDep) -> dict[str, Any]:
    names = await state.runner.run(state.catalog.names, tenant.name)
    data = [{"id": n, "object": "model", "created": 0, "owned_by": tenant.name} for n in names]
    return {"object": "list", "data": data}


def _text(message: ChatMessage) -> str:
    """A message's text (string content, or the text parts of a content list)."""
    if isinstance(message.content, str):
        return message.content
    parts = message.content or []
    return "".join(str(p.get("text", "")) for p in parts if p.get("type") == "text")


def _usage(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionIn, state: StateDep, tenant: TenantDep
) -> dict[str, Any] | StreamingResponse:
    """Answer the last user message from the collection named by ``model``."""
    users = [i for i, m in enumerate(body.messages) if m.role == "user"]
    if not users:
        raise invalid("messages", "send at least one message with role 'user': the question")
    question = _text(body.messages[users[-1]])
    history = [
        (m.role, text)
        for m in body.messages[: users[-1]]
        if m.role in ("user", "assistant") and (text := _text(m)).strip()
    ]
    stack = AsyncExitStack()
    await stack.enter_async_context(tenant.slot())
    try:
        job = await service.prepare_ask(state, tenant, body.model, question, history=history)
        created = int(time.time())
        ident = f"chatcmpl-{uuid.uuid4().hex}"
        if not body.stream:
            answer = await service.ask(state, job)
            return {
                "id": ident,
                "object": "chat.completion",
                "created": created,
                "model": body.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": answer.text},
                        "finish_reason": "stop",
                    }
                ],
                "usage": _usage(answer.usage),
                "citations": job.collection.cite(answer.citations),
            }
    except BaseException:
        await stack.aclose()
        raise

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        data = {
            "id": ident,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
            "choices": [choice],
            **extra,
        }
        return event(None, data)

    async def events() -> AsyncIterator[bytes]:
        async with stack:
            yield chunk({"role": "assistant", "content": ""})
            async for kind, value in service.ask_events(state, job):
                if kind == "delta":
                    yield chunk({"content": value})
                elif kind == "final":
                    assert isinstance(value, Answer)
                    yield chunk(
                        {},
                        "stop",
                        usage=_usage(value.usage),
                        citations=job.collection.cite(value.citations),
                    )
                elif kind == "error":
                    assert isinstance(value, ApiError)
                    yield event(None, value.body())
            yield event(None, "[DONE]")

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
