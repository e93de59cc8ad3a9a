"""Garbage collection at the home: the repository's unreachable objects (``repo.gc``) and the
attachment blobs no record names.

A blob is kept when any live object of the store (a record, a collection, a bucket…) holds its
digest anywhere in its data — attachments, media variants, whatever a plugin wrote — or when it
was written within ``gc_grace_seconds``: an upload whose record is not saved yet. A blob that
goes is not lost to history: every commit that had it keeps its bytes as repository objects,
and a checkout writes it back.

One collection at a time, and never during a snapshot or an import (``repo.gc.collector``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from homeport.core.errors import HomeportError
from homeport.repo import gc
from homeport.repo.gc import RepoCollection, Tally
from homeport.repo.repository import REPO_FILE, RepositoryError
from homeport.services.identity import IdentityStateError
from homeport.services.repository import open_repo
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.connection import DatabaseError
from homeport.store.open import open_record_store
from homeport.store.protocols import BlobStore, RecordStore

log = logging.getLogger("homeport.gc")
_DIGEST = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{64}(?![0-9a-fA-F])")
RESOURCES = ("bucket", "collection", "group", "record")


@dataclass
class HomeCollection:
    dry_run: bool
    repository: RepoCollection
    blobs: Tally = field(default_factory=Tally)
    blobs_kept: Tally = field(default_factory=Tally)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _digests(value: Any) -> Iterator[str]:
    """Every SHA-256 hex digest found in a JSON value's strings."""
    if isinstance(value, str):
        if len(value) >= 64:
            for found in _DIGEST.findall(value):
                yield found.lower()
    elif isinstance(value, dict):
        for item in value.values():
            yield from _digests(item)
    elif isinstance(value, list):
        for item in value:
            yield from _digests(item)


async def referenced_blobs(store: RecordStore) -> set[str]:
    """The digests the store's live objects name, read in one transaction."""
    names: set[str] = set()
    async with store.transaction():
        pairs = [p for p in await store.timestamps() if p[0] in RESOURCES]
        for resource, parent in pairs:
            for obj in await store.list_all(resource, parent):
                names.update(_digests(obj))
    return names


async def collect_home(
    settings: Settings,
    store: RecordStore | None = None,
    blobs: BlobStore | None = None,
    dry_run: bool = False,
    wait: float = 60.0,
) -> HomeCollection:
    """Collect the home's garbage (see the module's docstring). Raises ``gc.GcBusy`` when a
    snapshot, an import or another collection held the home for ``wait`` seconds. The
    blocking parts run in worker threads: a running home keeps serving."""
    started = time.perf_counter()
    holder = gc.collector(settings.data_dir, wait)
    await asyncio.to_thread(holder.__enter__)
    try:

        def sweep() -> RepoCollection:
            if not (settings.data_dir / REPO_FILE).exists():
                return RepoCollection()  # no snapshot yet: nothing to collect
            with open_repo(settings) as repo:
                return gc.collect(repo, dry_run=dry_run, pending_before=None)

        report = HomeCollection(dry_run, await asyncio.to_thread(sweep))
        blob_store = blobs or FsBlobStore(settings.blobs_dir)
        if isinstance(blob_store, FsBlobStore):
            if store is None:
                opened = open_record_store(settings.record_store_url)
                await opened.initialize()
                try:
                    await _blobs(settings, opened, blob_store, report)
                finally:
                    await opened.close()
            else:
                await _blobs(settings, store, blob_store, report)
    finally:
        holder.__exit__(None, None, None)
    report.seconds = time.perf_counter() - started
    return report


async def collect_forever(settings: Settings, store: RecordStore, blobs: BlobStore) -> None:
    """``serve``'s schedule: a collection every ``gc_interval_seconds`` (none when 0). A
    collection that finds the home busy (a snapshot, an import) waits for the next round; one
    that fails is logged, never fatal."""
    interval = settings.gc_interval_seconds
    if interval <= 0:
        return
    while True:
        await asyncio.sleep(interval)
        try:
            report = await collect_home(settings, store, blobs, wait=5.0)
        except gc.GcBusy:
            log.info("garbage collection skipped: the home was busy; next in %d s", interval)
            continue
        except (
            RepositoryError,
            IdentityStateError,
            DatabaseError,
            HomeportError,
            OSError,
        ) as exc:
            log.warning("garbage collection failed: %s", exc)
            continue
        repo = report.repository
        log.info(
            "garbage collection: %d objects (%d bytes) and %d blobs (%d bytes) removed in %.2f s",
            repo.unreachable.count + repo.pending.count,
            repo.unreachable.bytes + repo.pending.bytes,
            report.blobs.count,
            report.blobs.bytes,
            report.seconds,
        )


async def _blobs(
    settings: Settings, store: RecordStore, blobs: FsBlobStore, report: HomeCollection
) -> None:
    """Candidates are listed before the store is read: a blob written after the listing is
    not one, and a record saved after the read names a blob younger than the grace."""
    cutoff = time.time() - settings.gc_grace_seconds
    candidates = []
    for digest, size, mtime in await asyncio.to_thread(lambda: list(blobs.listing())):
        if mtime < cutoff:
            candidates.append((digest, size))
        else:
            report.blobs_kept.add(size)
    named = await referenced_blobs(store)
    doomed = []
    for digest, size in candidates:
        if digest in named:
            report.blobs_kept.add(size)
        else:
            doomed.append((digest, size))
    if report.dry_run:
        for _, size in doomed:
            report.blobs.add(size)
        return

    def remove() -> None:
        blobs.sweep_incoming()
        with blobs.collecting():
            for digest, size in doomed:
                if blobs.collect(digest, cutoff):
                    report.blobs.add(size)

    await asyncio.to_thread(remove)
