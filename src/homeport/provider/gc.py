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
from homeport.provider.tenants import TENANTS_DIR, valid_name
from homeport.repo import gc
from homeport.repo.gc import RepoCollection
from homeport.repo.repository import RepositoryError
from homeport.store import filelock
from homeport.store.connection import DatabaseError
from homeport.store.protocols import ObjectStoreError

log = logging.getLogger("homeport.provider.gc")


@dataclass
class ProviderCollection:
    dry_run: bool
    tenants: dict[str, RepoCollection] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    """Packs left in the shared object store by each deleted tenant, swept (``sweep_deleted``)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "tenants": {name: found.as_dict() for name, found in self.tenants.items()},
            "failed": self.failed,
            "deleted_tenants_packs": self.deleted,
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
    try:
        report.deleted = await sweep_deleted(provider, dry_run)
    except (ObjectStoreError, DatabaseError, OSError) as exc:
        report.failed["(deleted tenants)"] = str(exc)
        log.warning("sweeping deleted tenants' packs failed: %s", exc)
    return report


async def sweep_deleted(provider: Provider, dry_run: bool = False) -> dict[str, int]:
    """Packs in the provider's shared object store under tenants the database names as
    deleted, or not at all: a tenant's deletion removes its repository first and its packs
    last, so an object store that failed then (``DELETE /tenant`` answered 503) left only
    packs, which nothing reads and which no tenant's own sweep sees. Each tenant is checked
    again under its lock before its packs go: one enrolled again meanwhile keeps them (the
    names listed are older than that check, and a new enrolment's packs are not among them).
    How many packs each such tenant had (gone, or that would go on a ``dry_run``)."""
    store = provider.db.objects
    if store is None:
        return {}
    prefix = f"{TENANTS_DIR}/"

    def listing() -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for key, _, _ in store.names(prefix):
            name, _, _ = key[len(prefix) :].partition("/")
            if valid_name(name):  # only what this provider could have written
                found.setdefault(name, []).append(key)
        return found

    found = await in_thread(listing)
    live = {t.name for t in await provider.query(provider.db.tenants) if t.state != DELETED}
    swept: dict[str, int] = {}
    for name, keys in sorted(found.items()):
        if name in live:
            continue
        async with provider.lock(name):
            now = await provider.query(provider.db.tenant, name)
            if now is not None and now.state != DELETED:
                continue
            if not dry_run:

                def delete(keys: list[str] = keys) -> None:
                    for key in keys:
                        store.delete(key)

                await in_thread(delete)
            swept[name] = len(keys)
            log.info("%d packs of deleted tenant %s swept", len(keys), name)
    return swept


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
