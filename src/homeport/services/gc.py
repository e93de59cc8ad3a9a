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

import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from homeport.repo import gc
from homeport.repo.gc import RepoCollection, Tally
from homeport.services.repository import open_repo
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.store.protocols import BlobStore, RecordStore

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
    snapshot, an import or another collection held the home for ``wait`` seconds."""
    started = time.perf_counter()
    with gc.collector(settings.data_dir, wait):
        with open_repo(settings) as repo:
            found = gc.collect(repo, dry_run=dry_run, pending_before=None)
        report = HomeCollection(dry_run, found)
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
    report.seconds = time.perf_counter() - started
    return report


async def _blobs(
    settings: Settings, store: RecordStore, blobs: FsBlobStore, report: HomeCollection
) -> None:
    """Candidates are listed before the store is read: a blob written after the listing is
    not one, and a record saved after the read names a blob younger than the grace."""
    cutoff = time.time() - settings.gc_grace_seconds
    candidates = []
    for digest, size, mtime in blobs.listing():
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
    blobs.sweep_incoming()
    with blobs.collecting():
        for digest, size in doomed:
            if blobs.collect(digest, cutoff):
                report.blobs.add(size)
