"""What one running server holds: settings, tenants, the collection catalog, the executor,
and whether it is draining. FastAPI dependencies that read it live here too."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rag.config import Settings
from rag.server.catalog import Catalog
from rag.server.runner import Runner
from rag.server.tenants import Tenant, Tenants


@dataclass
class ServerState:
    settings: Settings
    tenants: Tenants
    catalog: Catalog
    runner: Runner
    draining: bool = field(default=False)
    """Set when the server is asked to stop: new requests get 503 ``draining``."""

    async def aclose(self) -> None:
        """Close the LLMs' async clients on this loop, then everything else."""
        try:
            await self.catalog.shared.aclose_async_clients(self.runner.executor)
        finally:
            self.close()

    def close(self) -> None:
        self.runner.close()
        self.catalog.close()
        self.tenants.close()


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.rag
    return state


_bearer = HTTPBearer(auto_error=False, description="An API key: `rag serve keys add NAME`.")


def get_tenant(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Tenant:
    """The calling tenant, from the API key alone (401 without a valid one)."""
    header = f"Bearer {credentials.credentials}" if credentials is not None else None
    return get_state(request).tenants.authenticate(header)


StateDep = Annotated[ServerState, Depends(get_state)]
TenantDep = Annotated[Tenant, Depends(get_tenant)]
