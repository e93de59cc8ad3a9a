"""Each site's ActivityPub key, made and kept at home.

The key is a record of the private system bucket ``homeport`` (collection ``activitypub``, one
record per site, id = the site's name), so it is sealed in the signed repository and comes back
with a restore or a move: the actor keeps its key, and followers' servers keep trusting it. A
provider never reads it from there; it gets the private half only through a delegation that the
home makes for the one provider that delivers (``docs/format.md``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from homeport.core.errors import ObjectNotFound
from homeport.crypto import rsa
from homeport.services import writes
from homeport.services.context import OWNER, Context
from homeport.services.grants import SYSTEM_BUCKET, ensure_private
from homeport.services.resources import RECORD, find_object, unit_of_work

KEYS_COLLECTION = "activitypub"
PARENT = f"/buckets/{SYSTEM_BUCKET}/collections/{KEYS_COLLECTION}"


@dataclass(frozen=True)
class SiteKey:
    site: str
    private_pem: str
    public_pem: str
    created: int
    """Milliseconds since the epoch."""


def _of(site: str, record: dict[str, object]) -> SiteKey:
    private = str(record["private_pem"])
    return SiteKey(site, private, str(record.get("public_pem") or rsa.public_pem(private)),
                   int(str(record.get("created") or 0)))


async def find_key(ctx: Context, site: str) -> SiteKey | None:
    """The site's key, None when it has none yet."""
    try:
        record = await ctx.store.get("record", PARENT, site)
    except ObjectNotFound:
        return None
    return _of(site, record)


async def site_key(ctx: Context, site: str) -> SiteKey:
    """The site's key, made on first use (a provider's build needs its public half)."""
    found = await find_key(ctx, site)
    if found is not None:
        return found
    private = await asyncio.to_thread(rsa.new_private_pem)  # ~0.1 s of CPU, off the loop
    record = {"private_pem": private, "public_pem": rsa.public_pem(private),
              "created": ctx.clock()}
    async with unit_of_work(ctx):
        await ensure_private(ctx, KEYS_COLLECTION)
        existing = await find_object(ctx, RECORD, PARENT, site)
        if existing is not None:  # made meanwhile by another task: that one stands
            return _of(site, existing)
        written = await writes.save(ctx, OWNER, RECORD, PARENT, site, record, None,
                                    existing=None, replace_permissions=False)
    return _of(site, written.obj)
