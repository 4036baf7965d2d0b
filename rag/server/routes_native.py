"""The native API under ``/v1``: collections, documents, search, ask (whole or streamed), costs.

Every route takes its tenant from the API key (``TenantDep``), holds one of the tenant's
concurrency slots while it runs, and does its blocking work through the state's ``Runner``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from rag.server import service
from rag.server.errors import ApiError, invalid
from rag.server.schemas import AskIn, DocumentsIn, SearchIn
from rag.server.sse import event
from rag.server.state import StateDep, TenantDep

router = APIRouter(prefix="/v1", tags=["native"])

_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                        }
                    },
                    "required": ["file"],
                }
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/DocumentsIn"}},
        },
    }
}


@router.get("/collections")
async def list_collections(state: StateDep, tenant: TenantDep) -> dict[str, Any]:
    """This tenant's collections with their document and chunk counts."""
    async with tenant.slot():

        def counts() -> list[dict[str, Any]]:
            names = state.catalog.names(tenant.name)
            return [state.catalog.get(tenant, n).counts() for n in names]

        return {"collections": await state.runner.run(counts)}


@router.delete("/collections/{name}")
async def delete_collection(name: str, state: StateDep, tenant: TenantDep) -> dict[str, Any]:
    """Delete the collection, its chunks and its uploaded files."""
    async with tenant.slot():
        await service.open_collection(state, tenant, name)
        chunks = await state.runner.run(state.catalog.drop, tenant, name)
        return {"deleted": name, "chunks": chunks}


@router.get("/collections/{name}/documents")
async def list_documents(name: str, state: StateDep, tenant: TenantDep) -> dict[str, Any]:
    async with tenant.slot():
        collection = await service.open_collection(state, tenant, name)
        return {"documents": await state.runner.run(collection.documents)}


async def _files_of(request: Request) -> list[tuple[str, bytes]]:
    """``(source, content)`` pairs from a multipart upload (``file`` fields) or a JSON body."""
    kind = request.headers.get("content-type", "")
    if kind.startswith("multipart/form-data"):
        form = await request.form(max_files=1000, max_fields=1000)
        files: list[tuple[str, bytes]] = []
        for value in form.getlist("file"):
            if isinstance(value, str) or not value.filename:
                raise invalid("file", "each 'file' field must be a file with a file name")
            files.append((value.filename, await value.read()))
        await form.close()
        if not files:
            raise invalid("file", "send one or more files in 'file' fields")
        return files
    if kind.startswith("application/json"):
        try:
            body = DocumentsIn.model_validate_json(await request.body())
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "documents"
            raise invalid(field, f"{field}: {err['msg']}") from None
        return [(d.source, d.text.encode("utf-8")) for d in body.documents]
    raise invalid(
        "content-type",
        "send multipart/form-data with 'file' fields, or application/json "
        '{"documents": [{"source": "a.md", "text": "..."}]}',
    )


@router.post("/collections/{name}/documents", openapi_extra=_UPLOAD_BODY)
async def upload_documents(
    name: str, request: Request, state: StateDep, tenant: TenantDep
) -> dict[str, Any]:
    """Add or update documents (multipart files or JSON); the first upload creates the
    collection. Idempotent by content: a re-upload reports the file unchanged."""
    async with tenant.slot():
        from rag.server.catalog import check_name, check_source

        check_name(name)
        files = await _files_of(request)
        for source, _ in files:
            check_source(source)
        collection = await service.open_collection(state, tenant, name, create=True)
        report = await state.runner.run(collection.upload, files)
        body = report.model_dump(mode="json")
        body["collection"] = name
        body["errors"] = [{"source": f.path, "error": f.error} for f in report.failures]
        return body


@router.delete("/collections/{name}/documents/{source:path}")
async def delete_document(
    name: str, source: str, state: StateDep, tenant: TenantDep
) -> dict[str, Any]:
    async with tenant.slot():
        collection = await service.open_collection(state, tenant, name)
        chunks = await state.runner.run(collection.delete_document, source)
        return {"deleted": source, "chunks": chunks}


@router.post("/collections/{name}/search")
async def search(name: str, body: SearchIn, state: StateDep, tenant: TenantDep) -> dict[str, Any]:
    """Retrieval only: the best chunks with their score and rank in each leg."""
    async with tenant.slot():
        service.check_text(state, "query", body.query)
        service.check_where(body.where)
        collection = await service.open_collection(state, tenant, name)
        rag = await state.runner.run(collection.searcher, body.mode)
        found = await state.runner.run(
            rag.retrieve, body.query, k=body.k, filters=collection.filters(body.where)
        )
        hits = []
        for rank, hit in enumerate(found, start=1):
            legs = found.rank_of(hit.chunk.id)
            hits.append(
                {
                    "rank": rank,
                    "chunk_id": hit.chunk.id,
                    "text": hit.chunk.text,
                    "source": collection.relative(hit.chunk.source),
                    "rel_path": collection.relative(hit.chunk.source),
                    "location": hit.chunk.location.model_dump(mode="json"),
                    "score": hit.score,
                    "ranks": {
                        "dense": legs.dense_rank if legs else None,
                        "keyword": legs.keyword_rank if legs else None,
                    },
                }
            )
        return {"hits": hits}


@router.post("/collections/{name}/ask", response_model=None)
async def ask(
    name: str,
    body: AskIn,
    state: StateDep,
    tenant: TenantDep,
    stream: Annotated[bool, Query(description="Answer as Server-Sent Events.")] = False,
) -> dict[str, Any] | StreamingResponse:
    """Answer from the collection with citations and usage; ``?stream=true`` streams
    ``sources``, ``delta``..., then ``final`` (or ``error``)."""
    stack = AsyncExitStack()
    await stack.enter_async_context(tenant.slot())
    try:
        job = await service.prepare_ask(
            state,
            tenant,
            name,
            body.question,
            k=body.k,
            where=body.where,
            llm=body.llm,
            history=[(t.role, t.content) for t in body.history],
        )
        if not stream:
            answer = await service.ask(state, job)
            return service.answer_json(job.collection, answer)
    except BaseException:
        await stack.aclose()
        raise
    finally:
        if not stream:  # a streamed answer's generator holds the slot until it ends
            await stack.aclose()

    async def events() -> AsyncIterator[bytes]:
        async with stack:
            async for kind, value in service.ask_events(state, job):
                if kind == "sources":
                    yield event("sources", {"citations": job.collection.cite(value)})
                elif kind == "delta":
                    yield event("delta", {"text": value})
                elif kind == "final":
                    yield event("final", service.answer_json(job.collection, value))
                else:
                    assert isinstance(value, ApiError)
                    yield event("error", value.body())

    return StreamingResponse(events(), media_type="text/event-stream", headers=_NO_BUFFER)


_NO_BUFFER = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("/costs")
async def costs(
    state: StateDep,
    tenant: TenantDep,
    since: Annotated[str | None, Query(description="7d, 24h, 30m, 2w or an ISO date.")] = None,
) -> Any:
    """This tenant's spend per day, backend and model (the shape of ``rag costs --json``)."""
    from rag.costs.calllog import parse_since

    start = None
    if since is not None:
        try:
            start = parse_since(since)
        except (ValueError, OverflowError) as exc:
            raise invalid("since", str(exc)) from None
    async with tenant.slot():
        summary = await state.runner.run(tenant.call_log.summary, start)
        return json.loads(summary.model_dump_json())
