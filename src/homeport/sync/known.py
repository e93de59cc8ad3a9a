"""The home's provider list, kept in the signed repository as well as in ``providers.json``.

``providers.json`` is this copy's working list (last publish, repairs, rules); it stays on the
device. A copy restored somewhere else from one provider would otherwise know only that one, and
could not hand the move (``core/handoff.py``) to the others, which would go on taking the old
copy's publishes. So each change of the list (enroll, leave, make first, a move) is also written
to the private system bucket, collection ``providers`` (one sealed record per provider: its
address, tenant and site, and its place in the list), and comes back with every restore.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from homeport.core.errors import ObjectNotFound
from homeport.services import writes
from homeport.services.context import OWNER, Context, run_blocking
from homeport.services.grants import SYSTEM_BUCKET
from homeport.services.resources import BUCKET, COLLECTION, RECORD, find_object, unit_of_work
from homeport.settings import Settings

log = logging.getLogger("homeport.sync")

COLLECTION_NAME = "providers"
PARENT = f"/buckets/{SYSTEM_BUCKET}/collections/{COLLECTION_NAME}"
FIELDS = ("url", "tenant", "site")


def record_id(url: str) -> str:
    return "p" + hashlib.sha256(url.encode()).hexdigest()[:24]


def _shape(entries: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """id → what the repository keeps of each entry (no working state, which changes on
    every publish and would make every publish a change)."""
    return {
        record_id(str(e["url"])): {
            **{k: e.get(k) for k in FIELDS},
            "position": n,
        }
        for n, e in enumerate(entries)
    }


async def read(ctx: Context) -> list[dict[str, Any]]:
    """The list as last recorded, in order; empty when none was."""
    if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
        return []
    try:
        rows = await ctx.store.list_all("record", PARENT)
    except ObjectNotFound:
        return []
    rows = [r for r in rows if isinstance(r.get("url"), str)]
    rows.sort(key=lambda r: (int(r.get("position") or 0), str(r["url"])))
    return [{k: r.get(k) for k in FIELDS} for r in rows]


async def record(ctx: Context, entries: Sequence[Mapping[str, Any]]) -> bool:
    """Make the recorded list ``entries``; whether anything had to change."""
    wanted = _shape(entries)
    async with unit_of_work(ctx):
        parent = f"/buckets/{SYSTEM_BUCKET}"
        if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
            if not wanted:
                return False
            await writes.save(ctx, OWNER, BUCKET, "", SYSTEM_BUCKET, {}, None,
                              existing=None, replace_permissions=False)
        if await find_object(ctx, COLLECTION, parent, COLLECTION_NAME) is None:
            if not wanted:
                return False
            await writes.save(ctx, OWNER, COLLECTION, parent, COLLECTION_NAME, {}, None,
                              existing=None, replace_permissions=False)
        held = {str(r["id"]): r for r in await ctx.store.list_all("record", PARENT)}
        changed = False
        for rid, body in wanted.items():
            existing = held.get(rid)
            if existing is not None and all(existing.get(k) == v for k, v in body.items()):
                continue
            await writes.save(ctx, OWNER, RECORD, PARENT, rid, {**body, "id": rid}, None,
                              existing=existing, replace_permissions=False)
            changed = True
        for rid in held.keys() - wanted.keys():
            await writes.delete(ctx, OWNER, RECORD, PARENT, rid)
            changed = True
    return changed


def remember(settings: Settings, entries: Sequence[Mapping[str, Any]]) -> None:
    """``record`` from code without a store at hand; a failure is logged, never raised: the
    list in ``providers.json`` is what this copy works with, and the next change retries."""

    async def work(ctx: Context) -> bool:
        return await record(ctx, entries)

    try:
        run_blocking(settings, work)
    except Exception as exc:
        log.warning("the provider list was not recorded in the repository: %s", exc)


def recall(settings: Settings) -> list[dict[str, Any]]:
    """The recorded list, read from the home's store (empty for a memory store)."""
    return run_blocking(settings, read) or []


__all__ = ["COLLECTION_NAME", "read", "recall", "record", "remember"]
