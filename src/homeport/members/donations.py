"""One-off donations as records in the home's private bucket (collection ``donations``): one
record per payment, sealed in the signed repository like the members, so the creator's
donation revenue moves with the site and comes back from the phrase. The home writes them
once the processor confirms the payment; a refund marks the record, which then leaves the
revenue."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from homeport.core.errors import ObjectNotFound
from homeport.members.model import MemberError
from homeport.services import writes
from homeport.services.context import OWNER, Context
from homeport.services.grants import SYSTEM_BUCKET, ensure_private
from homeport.services.resources import BUCKET, RECORD, find_object, unit_of_work
from homeport.store.protocols import JSONObject

DONATIONS = f"/buckets/{SYSTEM_BUCKET}/collections/donations"
PAYMENT_ID = re.compile(r"^[A-Za-z0-9_]{3,200}$")


async def _ensure(ctx: Context) -> None:
    async with unit_of_work(ctx):
        await ensure_private(ctx, "tiers", "members", "donations")


def record_id(payment: str) -> str:
    """The record's id: the processor's payment id (``pi_…``), which makes recording twice
    find the same record."""
    if not PAYMENT_ID.match(payment):
        raise MemberError(f"{payment!r} is not a payment id")
    return "d-" + payment


async def find(ctx: Context, payment: str) -> JSONObject | None:
    try:
        if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
            return None
        return await find_object(ctx, RECORD, DONATIONS, record_id(payment))
    except ObjectNotFound:
        return None


async def record(ctx: Context, fields: Mapping[str, Any]) -> tuple[JSONObject, bool]:
    """Keep a donation (``payment``, ``processor``, ``amount`` in minor units, ``currency``,
    ``email``, ``customer``, ``provider``, ``created`` ms); one already recorded is left as it
    is (Stripe retries, and the same event can come through several providers).
    The record and whether it is new."""
    payment = str(fields.get("payment") or "")
    amount, currency = fields.get("amount"), str(fields.get("currency") or "").upper()
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise MemberError("a donation has an amount above 0")
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise MemberError("a donation's currency is a three-letter code")
    found = await find(ctx, payment)
    if found is not None:
        return found, False
    await _ensure(ctx)
    body: dict[str, Any] = {
        "payment": payment, "processor": str(fields.get("processor") or ""),
        "amount": amount, "currency": currency, "email": str(fields.get("email") or ""),
        "customer": str(fields.get("customer") or ""),
        "provider": fields.get("provider") or None,
        "created": int(fields.get("created") or ctx.clock()), "refunded": None,
        "refunded_amount": 0}
    async with unit_of_work(ctx):
        written = await writes.save(ctx, OWNER, RECORD, DONATIONS, record_id(payment), body,
                                    None, existing=None, replace_permissions=False)
    return written.obj, True


async def mark_refunded(ctx: Context, payment: str, refunded: int, when: int
                        ) -> JSONObject | None:
    """``refunded`` (minor units, in all) of the donation given back, at ``when`` (ms): what
    counts in the revenue is the amount less that. None when no such donation was recorded."""
    found = await find(ctx, payment)
    refunded = min(refunded, int((found or {}).get("amount") or 0))
    if found is None or int(found.get("refunded_amount") or 0) >= refunded:
        return found
    body = {k: v for k, v in found.items() if k != "last_modified"}
    body.update(refunded=when, refunded_amount=refunded)
    async with unit_of_work(ctx):
        written = await writes.save(ctx, OWNER, RECORD, DONATIONS, str(found["id"]), body,
                                    None, existing=found, replace_permissions=False)
    return written.obj


async def list_donations(ctx: Context) -> list[JSONObject]:
    """Every donation, newest first."""
    try:
        if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
            return []
        rows = list(await ctx.store.list_all("record", DONATIONS))
    except ObjectNotFound:
        return []
    return sorted(rows, key=lambda d: -int(d.get("created") or 0))


__all__ = ["DONATIONS", "find", "list_donations", "mark_refunded", "record", "record_id"]
