"""What each publish carries for members: the entitlements document (who may read which
tier, hashed) and the tiers' content keys (what seals their members-only parts). The renderer
puts the document in every site a provider serves (``render/build.py``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from homeport.core.errors import ObjectNotFound
from homeport.members import entitlements, store
from homeport.members.sealing import ANY_MEMBER, members_key
from homeport.services import identity
from homeport.services.context import Context
from homeport.services.grants import SYSTEM_BUCKET
from homeport.services.resources import RECORD, find_object


@dataclass(frozen=True)
class MembersBuild:
    entitlements: bytes
    """The document as published (canonical JSON)."""
    digest: str
    keys: dict[str, bytes] = field(default_factory=dict)
    """Tier id → its 32-byte content key."""
    offers: dict[str, str] = field(default_factory=dict)
    """Paid tier id → what its teaser's *Join* button says (``Gold, 5.00 EUR a month``), when
    a payment account is connected (``interop/payments_home.py``)."""


async def for_build(ctx: Context) -> MembersBuild | None:
    """The members' part of a build for a provider; None for a home without an identity yet
    (a preview: nothing is published)."""
    if not identity.exists(ctx.settings.data_dir):
        return None
    did = identity.load(ctx.settings.data_dir).did
    doc = entitlements.document(did, await store.list_members(ctx), ctx.clock())
    data = entitlements.canonical_bytes(doc)
    return MembersBuild(data, hashlib.sha256(data).hexdigest(), await content_keys(ctx),
                        await offers(ctx))


PAYMENTS = f"/buckets/{SYSTEM_BUCKET}/collections/payments"


async def offers(ctx: Context) -> dict[str, str]:
    """The paid tiers members can join by paying, when an account is connected."""
    try:
        if await find_object(ctx, RECORD, PAYMENTS, "stripe") is None:
            return {}
    except ObjectNotFound:
        return {}
    found = {}
    for tier in await store.list_tiers(ctx):
        amount = int(tier.get("amount") or 0)
        if amount:
            found[str(tier["id"])] = (f"{tier.get('name')}, {amount / 100:.2f} "
                                      f"{tier.get('currency')} a {tier.get('interval')}")
    return found


async def content_keys(ctx: Context) -> dict[str, bytes]:
    """Tier id → its content key, and ``members`` → the key of entries for any member; empty
    for a home without an identity."""
    if not identity.exists(ctx.settings.data_dir):
        return {}
    keys = {str(t["id"]): bytes.fromhex(str(t["key"])) for t in await store.list_tiers(ctx)}
    keys[ANY_MEMBER] = members_key(identity.secret(ctx.settings.data_dir, "data.key"))
    return keys
