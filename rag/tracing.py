"""Tracing seam: OpenTelemetry spans for the stages of ask and ingest, and nothing when off.

The pipelines call ``span(name, ...)`` around each stage; they never import OpenTelemetry.
When tracing is off (the default) ``span`` returns one shared no-op object after a single
check, and ``opentelemetry`` is never imported (``import rag``, ``rag --help`` and a RAG with
tracing off load none of it).

Who turns it on. ``RAG`` (``rag.api``) calls ``configure(settings.tracing)``: tracing is on for
that RAG when the setting is true or ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set. The first RAG that turns it on loads the SDK:
when the process has no tracer provider yet, it installs one exporting OTLP/HTTP to that
endpoint (``service.name`` from ``OTEL_SERVICE_NAME``, default ``rag``); a provider the
application set before (``trace.set_tracer_provider``) is used as it is. The facade then runs
each call inside ``scope(on, content)``: spans are made only inside a scope that is on, so
one process can hold RAGs with tracing on and off, and ``content`` (setting
``trace_content``) decides whether the question, the answer and error messages may appear
in attributes (passed through ``rag.redact`` even then). Without it no attribute carries
user text, document text, DSNs or keys.

Context follows the work: ``bind(fn)`` carries the current span and scope into a thread
pool (the keyword leg, the ingest embedding thread, ``AsyncRAG``'s executor), and
``iterate`` runs each step of a sync stream in one context of its own.

Attributes: keyword arguments get the ``rag.`` prefix (``span("retrieve", k=4)`` sets
``rag.k``); a mapping passed first is used as named (``{"gen_ai.request.model": ...}``).
``None`` values are left out, ``Decimal`` becomes ``float``. The call log stays the source
of truth for cost; the spans carry a copy for reading traces.
"""

from __future__ import annotations

import contextvars
import functools
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from rag.redact import redact

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = [
    "ENDPOINT_VARIABLES",
    "Span",
    "bind",
    "configure",
    "disable",
    "emit",
    "enable",
    "enabled",
    "iterate",
    "now_ns",
    "scope",
    "span",
    "tracing_on",
]

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
"""Either one set turns tracing on for every RAG of the process."""

_P = ParamSpec("_P")
_R = TypeVar("_R")
_T = TypeVar("_T")

Attrs = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class _Scope:
    content: bool
    """Whether user text (question, answer, error messages) may go into attributes."""


_tracer: Tracer | None = None
"""Set by ``enable``; None: tracing is off in this process (``span`` returns the no-op)."""
_SCOPE: contextvars.ContextVar[_Scope | None] = contextvars.ContextVar("rag_trace", default=None)
"""Set inside a traced call of a RAG with tracing on (``scope``)."""


def tracing_on(setting: bool) -> bool:
    """Whether a RAG with ``tracing = setting`` traces: the setting, or an OTLP endpoint set
    in the environment."""
    return setting or any(os.environ.get(v) for v in ENDPOINT_VARIABLES)


def configure(setting: bool) -> bool:
    """Turn tracing on for the process if a RAG with ``tracing = setting`` wants it (see
    ``tracing_on``); returns whether that RAG traces."""
    on = tracing_on(setting)
    if on:
        enable()
    return on


def enable(provider: TracerProvider | None = None) -> None:
    """Make spans from now on, with ``provider``'s tracer (default: the process's provider,
    after installing an OTLP/HTTP exporting one if there is none). Idempotent without a
    ``provider``; with one, replaces the tracer (tests, applications with their own)."""
    global _tracer
    if _tracer is not None and provider is None:
        return
    from rag._lazy import require

    trace = require("opentelemetry.trace", "otel", "tracing (setting 'tracing')")
    if provider is None:
        provider = trace.get_tracer_provider()
        if isinstance(provider, trace.ProxyTracerProvider):
            provider = _install_provider()
    _tracer = provider.get_tracer("rag")


def _install_provider() -> TracerProvider:
    """An SDK provider exporting OTLP/HTTP in batches to the endpoint of the environment
    (the exporter reads the ``OTEL_EXPORTER_OTLP_*`` variables; default localhost:4318),
    set as the process's provider. The SDK flushes it at exit."""
    from rag._lazy import require

    require("opentelemetry.sdk", "otel", "tracing (setting 'tracing')")
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    name = os.environ.get("OTEL_SERVICE_NAME") or "rag"
    provider = SdkProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return trace.get_tracer_provider()


def disable() -> None:
    """Stop making spans (the provider is left as it is). For tests."""
    global _tracer
    _tracer = None


def enabled() -> bool:
    """Whether a span made here would be recorded (tracing on, inside a scope that is on)."""
    return _tracer is not None and _SCOPE.get() is not None


def scope(on: bool, content: bool = False) -> AbstractContextManager[object]:
    """The context of one traced call of a RAG: spans are made inside it when ``on`` (and
    tracing is enabled); ``content`` lets user text into attributes."""
    if not on or _tracer is None:
        return _NULL
    return _scoped(_Scope(content))


_NULL: AbstractContextManager[object] = nullcontext()


@contextmanager
def _scoped(value: _Scope) -> Iterator[object]:
    token = _SCOPE.set(value)
    try:
        yield value
    finally:
        _SCOPE.reset(token)


def iterate(stream: Iterator[_T], on: bool, content: bool = False) -> Iterator[_T]:
    """``stream``'s items, each step run inside one context of its own with ``scope(on,
    content)``: the spans a generator holds open across its yields then attach and detach in
    the same context, and the consumer's context is left alone."""
    if not on or _tracer is None:
        yield from stream
        return
    ctx = contextvars.copy_context()
    ctx.run(_SCOPE.set, _Scope(content))
    try:
        while True:
            try:
                item = ctx.run(next, stream)
            except StopIteration:
                return
            yield item
    finally:
        close = getattr(stream, "close", None)
        if close is not None:  # as ``yield from`` would: at once, and in the stream's context
            ctx.run(close)


def bind(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """``fn`` running in a copy of the current context (span and scope) wherever it is called,
    so work handed to a thread pool stays in the trace; ``fn`` itself outside a scope."""
    if _tracer is None or _SCOPE.get() is None:
        return fn
    ctx = contextvars.copy_context()
    return functools.partial(ctx.run, fn)  # type: ignore[return-value]


def now_ns() -> int:
    """The wall clock in ns since the epoch, as span times are given (``emit``)."""
    return time.time_ns()


def _value(v: object) -> Any:
    if isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    return str(v)


def _attributes(attrs: Attrs | None, rag_attrs: Mapping[str, object]) -> dict[str, Any]:
    out = {k: _value(v) for k, v in (attrs or {}).items() if v is not None}
    out.update({f"rag.{k}": _value(v) for k, v in rag_attrs.items() if v is not None})
    return out


class Span:
    """A span of the no-op kind: what ``span`` returns when nothing is traced. The live one
    (``_LiveSpan``) has the same methods.

    ``with span(...) as s`` makes it current for the block and ends it after (an exception
    sets the error status and ``error.type``); ``s.active()`` makes it current for a block
    without ending it, ``s.end()`` ends it (a span held across the yields of a stream)."""

    __slots__ = ()

    def __enter__(self) -> Span:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        return None

    def active(self) -> AbstractContextManager[object]:
        """Make this span the current one (and its scope) for a block."""
        return _NULL

    def set(self, attrs: Attrs | None = None, /, **rag_attrs: object) -> None:
        """Add attributes (as ``span`` takes them)."""

    def content(self, key: str, value: str | None) -> None:
        """Set attribute ``key`` to user text, only when the scope allows content."""

    def end(self, error: BaseException | None = None) -> None:
        """End the span; ``error``: what ended it, if it failed."""

    def child(self, name: str, attrs: Attrs | None = None, /, **rag_attrs: object) -> Span:
        """A span under this one (started now, not made current)."""
        return self


_NOOP = Span()


class _LiveSpan(Span):
    __slots__ = ("_content", "_ended", "_scope", "_span", "_tokens")

    def __init__(
        self,
        name: str,
        attributes: dict[str, Any],
        scope: _Scope,
        *,
        parent: Any = None,
        start_time: int | None = None,
    ) -> None:
        assert _tracer is not None
        self._scope = scope
        self._span = _tracer.start_span(
            name,
            context=parent,
            attributes=attributes,
            start_time=start_time,
            record_exception=False,
            set_status_on_exception=False,
        )
        self._tokens: list[tuple[object, contextvars.Token[_Scope | None]]] = []
        self._ended = False

    def __enter__(self) -> Span:
        self._attach()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: object
    ) -> None:
        self._detach()
        self.end(error)

    def _attach(self) -> None:
        from opentelemetry import context, trace

        token = context.attach(trace.set_span_in_context(self._span))
        self._tokens.append((token, _SCOPE.set(self._scope)))

    def _detach(self) -> None:
        from opentelemetry import context

        token, scope_token = self._tokens.pop()
        _SCOPE.reset(scope_token)
        context.detach(token)  # type: ignore[arg-type]

    @contextmanager
    def _active(self) -> Iterator[object]:
        self._attach()
        try:
            yield self
        finally:
            self._detach()

    def active(self) -> AbstractContextManager[object]:
        return self._active()

    def set(self, attrs: Attrs | None = None, /, **rag_attrs: object) -> None:
        self._span.set_attributes(_attributes(attrs, rag_attrs))

    def content(self, key: str, value: str | None) -> None:
        if self._scope.content and value is not None:
            self._span.set_attribute(key, redact(value))

    def end(self, error: BaseException | None = None) -> None:
        if self._ended:
            return
        self._ended = True
        if error is not None and not isinstance(error, GeneratorExit):
            from opentelemetry.trace import Status, StatusCode

            kind = type(error).__name__
            self._span.set_attribute("error.type", kind)
            if self._scope.content:  # the message, with any key or password masked
                message = redact(str(error))
                self._span.set_status(Status(StatusCode.ERROR, f"{kind}: {message}"))
                event = {"exception.type": kind, "exception.message": message}
                self._span.add_event("exception", event)
            else:
                self._span.set_status(Status(StatusCode.ERROR, kind))
        self._span.end()

    def child(self, name: str, attrs: Attrs | None = None, /, **rag_attrs: object) -> Span:
        from opentelemetry import trace

        parent = trace.set_span_in_context(self._span)
        return _LiveSpan(name, _attributes(attrs, rag_attrs), self._scope, parent=parent)


def span(name: str, attrs: Attrs | None = None, /, **rag_attrs: object) -> Span:
    """A span named ``name`` under the current one, started now: use it as ``with span(...)``
    (current for the block, ended after). The shared no-op when nothing is traced."""
    if _tracer is None:
        return _NOOP
    current = _SCOPE.get()
    if current is None:
        return _NOOP
    return _LiveSpan(name, _attributes(attrs, rag_attrs), current)


def emit(
    name: str, start_ns: int, end_ns: int, attrs: Attrs | None = None, /, **rag_attrs: object
) -> None:
    """A finished span under the current one, from ``start_ns`` to ``end_ns`` (``now_ns``
    times): a stage whose time is added up over many short pieces (ingest's load and chunk)."""
    if _tracer is None:
        return
    current = _SCOPE.get()
    if current is None:
        return
    _LiveSpan(name, _attributes(attrs, rag_attrs), current, start_time=start_ns)._span.end(
        end_time=max(end_ns, start_ns)
    )
