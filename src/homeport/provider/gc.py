"""Garbage collection at the provider: each tenant's repository (``repo.gc``), with the tenant's
lock held as a publish holds it, so an upload's adoption and a collection never interleave.

What goes: uploads no publish adopted within ``receive.PENDING_MS`` (a push that was cut and
never resumed), and objects no commit reaches. The history a tenant was sent is kept whole (a
restore imports all of it); the sites beyond ``keep_commits`` are pruned by each publish. The
tenant's usage is counted afresh afterwards, so what went stops counting against its quota.

``provider serve`` runs ``collect_forever`` in every worker process; one at a time does the work
(``<data>/gc.lock``, taken without waiting), and several nodes sharing a database only repeat
each other's work under the same tenant locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from homeport.provider import receive
from homeport.provider.api.context import Provider, in_thread
from homeport.provider.db import DELETED, Tenant
from homeport.repo import gc
from homeport.repo.gc import RepoCollection
from homeport.repo.repository import RepositoryError
from homeport.store import filelock
from homeport.store.connection import DatabaseError

log = logging.getLogger("homeport.provider.gc")


@dataclass
class ProviderCollection:
    dry_run: bool
    tenants: dict[str, RepoCollection] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "tenants": {name: found.as_dict() for name, found in self.tenants.items()},
            "failed": self.failed,
        }


async def collect_tenant(
    provider: Provider, tenant: Tenant, dry_run: bool = False
) -> RepoCollection:
    """One tenant's collection, under its lock; its usage recounted after a real one."""
    async with provider.lock(tenant.name):
        tdir = provider.tdir(tenant)
        pending_before = provider.clock() - receive.PENDING_MS

        def run() -> tuple[RepoCollection, int]:
            with tdir.opened() as repo:
                found = gc.collect(repo, dry_run=dry_run, pending_before=pending_before)
                return found, repo.stored_bytes() + provider.sites.usage(tenant.name)

        found, usage = await in_thread(run)
        if not dry_run:
            await provider.query(provider.db.set_usage, tenant.name, usage)
    return found


async def collect_all(provider: Provider, dry_run: bool = False) -> ProviderCollection:
    """Every tenant that is not deleted, one after the other; a tenant whose collection fails
    is named in ``failed`` and the others go on."""
    report = ProviderCollection(dry_run)
    for tenant in await provider.query(provider.db.tenants):
        if tenant.state == DELETED:
            continue
        try:
            report.tenants[tenant.name] = await collect_tenant(provider, tenant, dry_run)
        except (RepositoryError, DatabaseError, OSError) as exc:
            report.failed[tenant.name] = str(exc)
            log.warning("garbage collection of tenant %s failed: %s", tenant.name, exc)
    return report


def _one_process(provider: Provider) -> contextlib.AbstractContextManager[bool]:
    """True while this process holds the provider's gc lock, False when another one does."""
    return filelock.held_if_free(provider.settings.data_dir / gc.GC_LOCK_FILE)


async def collect_forever(provider: Provider) -> None:
    """A collection of every tenant each ``gc_interval_seconds`` (none when 0)."""
    interval = provider.settings.gc_interval_seconds
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        with _one_process(provider) as mine:
            if not mine:
                continue
            try:
                report = await collect_all(provider)
            except DatabaseError as exc:
                log.warning("garbage collection skipped: %s", exc)
                continue
            gone = sum(f.unreachable.bytes + f.pending.bytes for f in report.tenants.values())
            log.info("garbage collection: %d tenants, %d bytes removed", len(report.tenants), gone)


@contextlib.asynccontextmanager
async def lifespan(state: Any) -> AsyncIterator[None]:
    """The schedule, for as long as this process serves."""
    task = asyncio.create_task(collect_forever(state.provider), name="garbage collection")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
