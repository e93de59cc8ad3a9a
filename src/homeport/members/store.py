"""Tiers and members as records in the home's private bucket ``homeport`` (collections
``tiers`` and ``members``): sealed in the signed repository, so they move with the site and
come back from the phrase; written through ``services.writes`` like every other record."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from homeport.core.errors import ObjectNotFound
from homeport.members.model import (
    MemberError,
    MemberFields,
    member_id,
    new_member,
    new_tier,
    repriced,
)
from homeport.services import writes
from homeport.services.context import OWNER, Context
from homeport.services.grants import SYSTEM_BUCKET, ensure_private
from homeport.services.resources import BUCKET, RECORD, find_object, unit_of_work
from homeport.store.protocols import JSONObject

TIERS = f"/buckets/{SYSTEM_BUCKET}/collections/tiers"
MEMBERS = f"/buckets/{SYSTEM_BUCKET}/collections/members"
MAX_TIERS = 100
MAX_MEMBERS = 500_000


async def ensure(ctx: Context) -> None:
    """The system bucket and both collections, created once."""
    async with unit_of_work(ctx):
        await ensure_private(ctx, "tiers", "members")


async def _all(ctx: Context, parent: str) -> list[JSONObject]:
    if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
        return []
    try:
        return list(await ctx.store.list_all("record", parent))
    except ObjectNotFound:
        return []


async def list_tiers(ctx: Context) -> list[JSONObject]:
    """Every tier, cheapest first, then by name."""
    rows = await _all(ctx, TIERS)
    return sorted(rows, key=lambda t: (int(t.get("amount") or 0), str(t.get("name"))))


async def tiers_by_id(ctx: Context) -> dict[str, JSONObject]:
    return {str(t["id"]): t for t in await list_tiers(ctx)}


async def list_members(ctx: Context) -> list[JSONObject]:
    """Every member, oldest first."""
    rows = await _all(ctx, MEMBERS)
    return sorted(rows, key=lambda m: (int(m.get("created") or 0), str(m.get("email"))))


async def add_tier(
    ctx: Context,
    name: str,
    *,
    price: str | float | int | None = None,
    currency: str | None = None,
    interval: str | None = None,
    benefits: Iterable[str] = (),
) -> JSONObject:
    """A new tier with a fresh content key; MemberError when its id is taken."""
    record = new_tier(name, price=price, currency=currency, interval=interval,
                      benefits=benefits, key=secrets.token_hex(32), now=ctx.clock())
    await ensure(ctx)
    async with unit_of_work(ctx):
        if await find_object(ctx, RECORD, TIERS, record["id"]) is not None:
            raise MemberError(f"there is already a tier {record['id']!r}")
        if len(await list_tiers(ctx)) >= MAX_TIERS:
            raise MemberError(f"a home holds at most {MAX_TIERS} tiers")
        written = await writes.save(ctx, OWNER, RECORD, TIERS, record["id"], record, None,
                                    existing=None, replace_permissions=False)
    return written.obj


async def reprice_tier(
    ctx: Context,
    tier_id: str,
    *,
    price: str | float | int | None,
    currency: str | None = None,
    interval: str | None = None,
    move_subscribers: bool = False,
) -> JSONObject:
    """A tier's new price. The payment processor gets a new price for it at the next set-up
    (after the next publish, or at once from the GUI and CLI); the old one is archived."""
    await ensure(ctx)
    async with unit_of_work(ctx):
        existing = await find_object(ctx, RECORD, TIERS, tier_id)
        if existing is None:
            raise MemberError(f"there is no tier {tier_id!r}")
        record = repriced(existing, price=price, currency=currency, interval=interval,
                          move_subscribers=move_subscribers)
        body = {k: v for k, v in record.items() if k != "last_modified"}
        written = await writes.save(ctx, OWNER, RECORD, TIERS, tier_id, body, None,
                                    existing=existing, replace_permissions=False)
    return written.obj


async def find_member(ctx: Context, email: str) -> JSONObject | None:
    if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
        return None
    try:
        return await find_object(ctx, RECORD, MEMBERS, member_id(email))
    except ObjectNotFound:
        return None


async def add_member(ctx: Context, email: str, fields: MemberFields) -> JSONObject:
    """A new member; MemberError when the address is already one."""
    written = await save_members(ctx, [(email, fields)], replace=False)
    return written[0]


async def save_members(
    ctx: Context,
    rows: Iterable[tuple[str, MemberFields]],
    *,
    replace: bool,
) -> list[JSONObject]:
    """Add members in one transaction (an import: all or nothing). ``replace`` updates an
    existing member's fields (keeping its passkeys, payments and creation time); otherwise an
    address already there is an error."""
    await ensure(ctx)
    tiers = await tiers_by_id(ctx)
    saved: list[JSONObject] = []
    async with unit_of_work(ctx):
        count = len(await _all(ctx, MEMBERS))
        for email, fields in rows:
            record = new_member(email, fields, tiers, ctx.clock())
            existing = await find_object(ctx, RECORD, MEMBERS, record["id"])
            if existing is not None and not replace:
                raise MemberError(f"{record['email']} is already a member")
            if existing is not None:
                record["passkeys"] = existing.get("passkeys") or []
                record["payments"] = record["payments"] or existing.get("payments") or []
                record["created"] = existing.get("created", record["created"])
                record["provider"] = record["provider"] or existing.get("provider")
            else:
                count += 1
                if count > MAX_MEMBERS:
                    raise MemberError(f"a home holds at most {MAX_MEMBERS} members")
            written = await writes.save(ctx, OWNER, RECORD, MEMBERS, record["id"], record,
                                        None, existing=existing, replace_permissions=False)
            saved.append(written.obj)
    return saved


async def update_member(ctx: Context, email: str, changes: Mapping[str, Any]) -> JSONObject:
    """Change some fields of a member (a payment's status and ``paid_until``, say); the
    result is checked as a whole like a new member."""
    existing = await find_member(ctx, email)
    if existing is None:
        raise MemberError(f"{email} is not a member")
    merged = {**existing, **changes}
    fields = MemberFields(
        name=str(merged.get("name") or ""), tier=merged.get("tier"),
        status=str(merged.get("status") or "free"), paid_until=merged.get("paid_until"),
        labels=tuple(merged.get("labels") or ()), note=str(merged.get("note") or ""),
        subscribed=bool(merged.get("subscribed", True)), provider=merged.get("provider"),
        payments=tuple(merged.get("payments") or ()), created=merged.get("created"))
    record = new_member(str(existing["email"]), fields, await tiers_by_id(ctx), ctx.clock())
    record["passkeys"] = merged.get("passkeys") or []
    async with unit_of_work(ctx):
        written = await writes.save(ctx, OWNER, RECORD, MEMBERS, record["id"], record, None,
                                    existing=existing, replace_permissions=False)
    return written.obj


async def remove_member(ctx: Context, email: str) -> JSONObject:
    existing = await find_member(ctx, email)
    if existing is None:
        raise MemberError(f"{email} is not a member")
    async with unit_of_work(ctx):
        return await writes.delete(ctx, OWNER, RECORD, MEMBERS, str(existing["id"]))
