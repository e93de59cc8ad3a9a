"""The one publish path: take the lock, call the before-snapshot callbacks, build the site for
each provider, snapshot, push to every provider at once, record what is live, then call the
after-publish callbacks.

``homeport publish``, the GUI's Publish button and the auto-publisher all call ``publish``, so
the lock and the callbacks hold whoever publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeport.publish import unchanged
from homeport.publish.hooks import ProviderResult, Published, call_all, call_before
from homeport.publish.lock import publish_lock
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.sync import providers

if TYPE_CHECKING:
    from homeport.repo.snapshot import SnapshotResult
    from homeport.sync.engine import Progress

PUBLISHED_FILE = "published.json"
"""The commit the last publish with callbacks made live (``previous`` of the next one)."""
LOCK_WAIT = 15 * 60.0
"""How long ``homeport publish`` waits for a publish already running (a first publish of a
large library can take minutes)."""

Cursor = dict[tuple[str, str], int]


@dataclass
class Report:
    outcomes: list[providers.Outcome]
    snapshot: SnapshotResult | None = None
    event: Published | None = None
    cursor: Cursor | None = None
    """The store timestamps the snapshot covered (None without a snapshot)."""
    hook_errors: list[str] = field(default_factory=list)
    unchanged: bool = False
    """Nothing changed since the last full publish: no build, no snapshot (``unchanged.py``)."""


@contextlib.asynccontextmanager
async def locked(data_dir: Path, wait: float) -> AsyncIterator[None]:
    """The publish lock, waited for in a worker thread (the event loop keeps serving)."""
    holder = publish_lock(data_dir, wait)
    await asyncio.to_thread(holder.__enter__)
    try:
        yield
    finally:
        holder.__exit__(None, None, None)


@contextlib.asynccontextmanager
async def _context(settings: Settings, ctx: Context | None) -> AsyncIterator[Context]:
    if ctx is not None:
        yield ctx
        return
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    try:
        yield Context(settings=settings, store=store, blobs=FsBlobStore(settings.blobs_dir))
    finally:
        await store.close()


async def publish(
    settings: Settings,
    ctx: Context | None = None,
    *,
    site: str | None = None,
    only: str | None = None,
    snapshot: bool = True,
    http: providers.HttpFactory = providers.default_http,
    progress: Callable[[str], Progress] | None = None,
    trigger: str = "cli",
    wait: float = LOCK_WAIT,
    prepare: Callable[[Context], Awaitable[object]] | None = None,
) -> Report:
    """Publish the home to every provider (or ``only`` one); raises ``lock.PublishBusy`` when
    another publish holds the lock longer than ``wait``, ``providers.ProvidersError`` when
    there is nothing to publish to. A running server passes its context; a process that has
    not loaded the home's plugins passes ``prepare``, which loads them, awaited only when a
    build or a callback needs them. With nothing changed since the last full publish
    (``unchanged.py``), no callback, build or snapshot runs: straight to the push."""
    data_dir = settings.data_dir
    async with locked(data_dir, wait):
        before = await asyncio.to_thread(providers.load, data_dir)
        targets = [providers.find(data_dir, only)] if only else before
        if not targets:
            raise providers.ProvidersError("no provider yet: homeport providers add URL CODE")
        report = Report(outcomes=[])
        environ: Any = None  # what the build read, when this publish built
        last = await asyncio.to_thread(unchanged.recorded, data_dir)
        if snapshot:
            async with _context(settings, ctx) as context:
                now = await context.store.timestamps()
                env = await asyncio.to_thread(unchanged.environment, settings, targets, site)
                digest = await asyncio.to_thread(unchanged.digest, settings, env, now)
                if unchanged.unchanged(last, digest, targets, _now()):
                    report.cursor = dict(now)
                    report.unchanged = True
                else:
                    environ = env
                    await asyncio.to_thread(unchanged.forget, data_dir)
                    if prepare is not None:
                        await prepare(context)
                    report.hook_errors = await call_before(context)
                    from homeport.render.variants import build_for_providers
                    from homeport.services import repository

                    await build_for_providers(context, targets, site)
                    report.snapshot = await repository.snapshot(
                        settings, context.store, context.blobs
                    )
            if environ is not None:
                report.cursor = await asyncio.to_thread(_cursor, settings)
        report.outcomes = await asyncio.to_thread(
            providers.publish, settings, site, only, http, progress
        )
        # every publish, changed or not: the providers answer with the tokens they issued
        granted = await asyncio.to_thread(providers.sync_grants, settings, only, http)
        if environ is not None:
            await asyncio.to_thread(_settle, settings, report, environ, granted)
        report.event = await asyncio.to_thread(
            _after, settings, before, report.outcomes, trigger
        )
        if report.event is not None:
            if prepare is not None and environ is None:  # the callbacks are the plugins' too
                async with _context(settings, ctx) as context:
                    await prepare(context)
            report.hook_errors += await asyncio.to_thread(call_all, report.event)
            await asyncio.to_thread(_remember, data_dir, report.event)
    return report


def _now() -> int:
    return int(time.time() * 1000)


def _settle(settings: Settings, report: Report, environ: Any, granted: bool) -> None:
    """Record the digest of what this publish built and snapshotted when every provider it
    published to took the snapshot's head: the store part is the cursor the snapshot covered,
    so a write that landed after the snapshot is a change the next publish sees."""
    heads = {o.result.head if o.result else None for o in report.outcomes}
    if len(heads) != 1 or None in heads or report.cursor is None:
        return
    (head,) = heads
    assert head is not None
    digest = unchanged.digest(settings, environ, report.cursor)
    unchanged.remember(settings.data_dir, head, digest, granted, _now())


def _cursor(settings: Settings) -> Cursor:
    from homeport.services import repository

    with repository.open_repo(settings) as repo:
        return repo.cursor()


def last_published(data_dir: Path) -> dict[str, Any]:
    """``{"seq", "head", "at"}`` of the last publish with callbacks, or ``{}``."""
    try:
        doc = json.loads((data_dir / PUBLISHED_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _remember(data_dir: Path, event: Published) -> None:
    path = data_dir / PUBLISHED_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    doc = {"seq": event.seq, "head": event.head, "at": int(time.time() * 1000)}
    tmp.write_text(json.dumps(doc) + "\n", "utf-8")
    os.replace(tmp, path)


def _after(
    settings: Settings,
    before: list[dict[str, Any]],
    outcomes: list[providers.Outcome],
    trigger: str,
) -> Published | None:
    """The event of this publish, or None when it made nothing new live anywhere."""
    was = {entry["url"]: entry for entry in before}
    results = []
    for outcome in outcomes:
        old = was.get(outcome.url, {})
        r = outcome.result
        results.append(
            ProviderResult(
                url=outcome.url,
                previous_seq=old.get("seq"),
                previous_head=old.get("head"),
                seq=r.seq if r else None,
                head=r.head if r else None,
                up_to_date=bool(r and r.up_to_date),
                error=outcome.error,
            )
        )
    live = [r for r in results if r.head is not None]
    if not live:
        return None
    state = last_published(settings.data_dir)
    head, seq = live[0].head, live[0].seq
    assert head is not None and seq is not None
    if state.get("head") == head and all(r.up_to_date for r in live):
        return None
    return Published(
        settings=settings,
        previous_seq=state.get("seq"),
        previous_head=state.get("head"),
        seq=seq,
        head=head,
        providers=tuple(results),
        trigger=trigger,
    )
