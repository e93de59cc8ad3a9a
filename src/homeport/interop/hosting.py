"""For a protocol's provider routes: the ports, and the tenant the request's ``Host`` names."""

from __future__ import annotations

import anyio
from starlette.requests import Request

from homeport.interop.ports import ProviderPorts, TenantRef


def ports_of(request: Request) -> ProviderPorts:
    """What ``provider/app.py`` put on ``app.state.ports``."""
    found: ProviderPorts = request.app.state.ports
    return found


async def tenant_of(request: Request) -> TenantRef | None:
    """The active tenant whose site this request's ``Host`` names, or None (answer 404). Looked
    up in a worker thread: on PostgreSQL it is a round trip."""
    host = request.headers.get("host", "")
    return await anyio.to_thread.run_sync(ports_of(request).sites.tenant_for_host, host)


__all__ = ["ports_of", "tenant_of"]
