"""The server's errors: one JSON shape for every 4xx/5xx, never a traceback.

``{"error": {"type": "<snake_case>", "message": "<what and the fix>", "field": "..."}}``
(``field`` only on 422). ``install`` puts the handlers on an app: ``ApiError`` raised by a
route, FastAPI's validation errors, Starlette's HTTP errors (unknown route, wrong method),
rag's own exceptions (mapped by ``from_rag_error``) and a catch-all that logs the traceback
on the server and answers ``internal`` without details.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    BudgetExceededError,
    CollectionNotFoundError,
    ConfigError,
    LLMError,
    RagError,
    StoreError,
)
from rag.redact import redact

if TYPE_CHECKING:
    from fastapi import FastAPI, Request


class _Redacting(logging.Filter):
    """Masks passwords and keys (``rag.redact``) in a record's message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        from rag.redact import redact

        record.msg, record.args = redact(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


log = logging.getLogger("rag.server")
log.addFilter(_Redacting())

_TYPES = {
    401: "unauthorized",
    404: "not_found",
    405: "invalid_request",
    413: "payload_too_large",
    422: "invalid_request",
    429: "rate_limited",
    503: "unavailable",
}


class ApiError(Exception):
    """An error answer: HTTP ``status``, a snake_case ``type``, a message that says the fix,
    the offending ``field`` (422) and ``retry_after`` seconds (429, 503)."""

    def __init__(
        self,
        status: int,
        type_: str,
        message: str,
        *,
        field: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type_
        self.message = message
        self.field = field
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON body (also the data of an SSE ``error`` event)."""
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}

    def response(self) -> JSONResponse:
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return JSONResponse(self.body(), status_code=self.status, headers=headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", what)


def invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_request", message, field=field)


def internal() -> ApiError:
    return ApiError(500, "internal", "the server failed on this request; its log has the details")


def from_rag_error(exc: RagError) -> ApiError:
    """The HTTP answer for one of rag's exceptions (their messages name the fix and hold no
    keys; a store or model failure is 503, the caller may retry)."""
    if isinstance(exc, CollectionNotFoundError):
        return ApiError(404, "not_found", redact(str(exc)))
    if isinstance(exc, BudgetExceededError):
        return ApiError(
            429, "budget_exceeded", redact(str(exc)), retry_after=seconds_to_utc_midnight()
        )
    if isinstance(exc, ConfigError):
        return ApiError(422, "invalid_request", redact(str(exc)))
    if isinstance(exc, StoreError | LLMError):
        log.warning("backend failure: %s", exc)
        return ApiError(503, "unavailable", redact(f"{type(exc).__name__}: {exc}"), retry_after=5)
    log.exception("rag error", exc_info=exc)
    return internal()


def seconds_to_utc_midnight() -> int:
    """When a daily budget refills (budgets count per UTC day, as routing's do)."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds()) + 1)


def _field_of(loc: Any) -> str:
    """``("body", "documents", 0, "source")`` -> ``documents.0.source``; ``query``/``path``
    parameters keep their own name."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    """Register the handlers that give every error the one JSON shape."""

    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return exc.response()

    async def validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field_of(first.get("loc", ()))
        msg = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        return ApiError(422, "invalid_request", f"{field}: {msg}", field=field).response()

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        kind = _TYPES.get(
            exc.status_code, "invalid_request" if exc.status_code < 500 else "internal"
        )
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404:
            detail = "no such endpoint; see /openapi.json for the API"
        return ApiError(exc.status_code, kind, detail).response()

    async def rag_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RagError)
        return from_rag_error(exc).response()

    async def anything(_: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return internal().response()

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RagError, rag_error)
    app.add_exception_handler(Exception, anything)
