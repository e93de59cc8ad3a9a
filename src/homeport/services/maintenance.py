"""Housekeeping that keeps a long-lived home small: tombstone compaction."""

from __future__ import annotations

from homeport.services.context import Context

RESOURCES = ("record", "collection", "group", "bucket", "account")


async def compact_tombstones(ctx: Context) -> int:
    """Drop tombstones older than ``tombstone_retention_seconds``; return how many.

    A client that last synced before the cut-off can no longer learn of those deletions from
    ``_since``: the store moves each list's deletion horizon with the purge, and the API answers
    a ``_since`` older than it with 410 so the client resyncs from scratch.
    """
    before = ctx.clock() - ctx.settings.tombstone_retention_seconds * 1000
    purged = 0
    for resource in RESOURCES:
        purged += await ctx.store.purge_deleted(resource, "*", before=before)
    return purged
