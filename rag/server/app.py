"""``create_app(settings)``: the FastAPI app of ``rag serve``.

It owns one ``ServerState`` (tenants, catalog, the bounded executor), installs the error
handlers and the limits middleware, and mounts the native routes, the OpenAI facade, the
health checks and the web page. ``app_from_env`` builds it in a uvicorn worker process
(``--workers`` > 1), from the config file named by ``RAG_CONFIG``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
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
        try:
            yield
        finally:
            state.close()

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
        """Ready when the embedding model loads (the store opens with each collection)."""
        try:
            await state.runner.run(state.catalog.ready)
        except Exception as exc:
            errors.log.warning("not ready: %s", exc)
            return errors.ApiError(
                503, "unavailable", "not ready: the model did not load"
            ).response()
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


def app_from_env() -> Any:
    """The app for a uvicorn worker process: settings from ``RAG_CONFIG`` / ./rag.toml."""
    return create_app(load_settings())
