"""``Provider``: what every endpoint of the sync protocol needs (settings, the database, the
domain checks, a clock, the tenants' locks), and the two ways to run blocking work from the event
loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from starlette.requests import Request

from homeport.provider import audience, domains, receive, sitestore
from homeport.provider.db import ProviderDB, Tenant
from homeport.provider.locks import PgTenantLock, TenantLock, tenant_lock
from homeport.provider.tenants import TenantDir
from homeport.settings import Settings

T = TypeVar("T")


@dataclass
class Provider:
    """What every endpoint needs: settings, the database, the checks, a clock."""

    settings: Settings
    db: ProviderDB
    verifiers: domains.Verifiers = domains.DEFAULT
    clock: Callable[[], int] = receive.now_ms
    locks: dict[str, TenantLock | PgTenantLock] = field(default_factory=dict)
    public: tuple[str, ...] = ()
    """The configured public addresses (``provider_public_url``) as origins."""
    sites: sitestore.SiteStore = field(init=False)
    """Where published sites are kept (``provider_sites``: ``sitestore.py``)."""
    lock_slots: asyncio.Semaphore = field(init=False)
    """How many tenant locks (PostgreSQL connections) this process holds at once."""

    def __post_init__(self) -> None:
        self.public = audience.configured(self.settings)
        self.sites = sitestore.for_provider(self.settings, self.db)
        self.lock_slots = asyncio.Semaphore(max(1, self.settings.provider_lock_connections))

    def audiences(self, request: Request) -> set[str]:
        """What a signature must name to be for this provider (``audience.py``)."""
        return audience.accepted(self.settings, self.public, request.scope)

    def lock(self, tenant: str) -> TenantLock | PgTenantLock:
        """This tenant's jobs, one at a time across all worker processes (and nodes)."""
        found = self.locks.get(tenant)
        if found is None:
            data, database = self.settings.data_dir, self.settings.provider_database
            found = self.locks[tenant] = tenant_lock(data, database, tenant, self.lock_slots)
        return found

    async def query(self, func: Callable[..., T], *args: Any) -> T:
        """A ``db`` call from the event loop: made in place on SQLite (microseconds; a thread
        hop costs more), in a worker thread on PostgreSQL (a round trip, and an outage must not
        stall every other request)."""
        if self.db.engine == "sqlite":
            return func(*args)
        return await in_thread(func, *args)

    def tdir(self, tenant: Tenant) -> TenantDir:
        return TenantDir.of(
            self.settings.data_dir, tenant.name, self.db.repositories, self.db.objects
        )

    def site_url(self, name: str) -> str:
        return f"https://{name}.{self.settings.base_domain}/"


def provider_of(request: Request) -> Provider:
    found: Provider = request.app.state.provider
    return found


async def in_thread(func: Callable[..., T], *args: Any) -> T:
    return await anyio.to_thread.run_sync(func, *args)
