"""``create_app(settings)``: the FastAPI app of ``rag serve``.

It owns one ``ServerState`` (tenants, catalog, the ``Runner``: AsyncRAG on one bounded
executor), installs the error handlers and the limits middleware, and mounts the native routes,
the OpenAI facade, the health checks and the web page. ``app_from_env`` builds it in a uvicorn
worker process (``--workers`` > 1), from the config file named by ``RAG_CONFIG``.

Draining: when the app starts under uvicorn (its lifespan, in the process's main thread), it
wraps the SIGINT/SIGTERM handlers uvicorn installed so that a signal first marks the state
draining (new requests: 503 ``draining``), then lets uvicorn stop gracefully; a drained stop
exits 0. So every worker process drains on its own, however many there are.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib import resources
from types import FrameType
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, JSONResponse

from rag.config import Settings, load_settings
from rag.server import errors
from rag.server.catalog import Catalog
from rag.server.limits import LimitsMiddleware
from rag.server.runner import Runner
from rag.server.state import ServerState, StateDep
from rag.server.tenants import Tenants

__all__ = ["app_from_env", "create_app"]


def create_app(settings: Settings, *, catalog: Catalog | None = None) -> FastAPI:
    """The app for ``settings``. ``catalog`` replaces the one built from settings (tests give
    one whose parts are fakes)."""
    server = settings.server
    state = ServerState(
        settings=settings,
        tenants=Tenants(settings),
        catalog=catalog or Catalog(settings),
        runner=Runner(server.executor_threads, server.request_timeout_s),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        restore = drain_on_signals(state)
        try:
            yield
        finally:
            restore()
            await state.aclose()

    app = FastAPI(
        title="rag serve",
        summary="Retrieval-augmented answers with citations, per tenant.",
        version="1",
        lifespan=lifespan,
    )
    app.state.rag = state
    errors.install(app)
    app.add_middleware(
        LimitsMiddleware,
        max_body_bytes=int(server.max_upload_mb * 1_000_000),
        draining=lambda: state.draining,
    )

    from rag.server import routes_native, routes_openai

    app.include_router(routes_native.router)
    app.include_router(routes_openai.router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], response_model=None)
    async def readyz(state: StateDep) -> dict[str, str] | JSONResponse:
        """Ready when the store answers a look-up and the embedding model loads; else 503
        ``unavailable`` saying what failed and the fix."""
        try:
            problems = await state.runner.run(state.catalog.ready)
        except errors.ApiError as exc:  # the check itself outlasted the request timeout
            problems = [exc.message]
        if problems:
            errors.log.warning("not ready: %s", "; ".join(problems))
            message = "not ready: " + "; ".join(problems)
            return errors.ApiError(503, "unavailable", message, retry_after=5).response()
        return {"status": "ready"}

    @app.get("/", include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(_page())

    return app


def _page() -> str:
    """The web page (``rag/server/static/index.html``), or a pointer to the API without it."""
    page = resources.files("rag.server") / "static" / "index.html"
    if page.is_file():
        return page.read_text(encoding="utf-8")
    return "<!doctype html><title>rag serve</title><p>rag serve: see <a href='/docs'>/docs</a>."


def drain_on_signals(state: ServerState) -> Callable[[], None]:
    """Make SIGINT/SIGTERM mark ``state`` draining before the handler uvicorn installed runs
    (module docstring); returns what puts the previous handlers back. Does nothing outside the
    main thread (signals are only delivered there), e.g. under a test client."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handler(sig: int, frame: FrameType | None) -> None:
        state.draining = True
        before = previous[signal.Signals(sig)]
        if callable(before):
            before(sig, frame)
            server = getattr(before, "__self__", None)
            captured = getattr(server, "_captured_signals", None)
            if isinstance(captured, list):
                # uvicorn re-raises a captured signal once it stopped; a drained stop is a
                # clean exit (0), not a death by that signal
                captured.clear()
        elif before == signal.SIG_DFL:  # no server handles it: what the signal did before
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, before in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, before)

    return restore


def app_from_env() -> Any:
    """The app for a uvicorn worker process: settings from ``RAG_CONFIG`` / ./rag.toml."""
    return create_app(load_settings())
