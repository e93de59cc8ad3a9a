"""Tiers and members: their fields and the rules that make one valid. Pure: no I/O.

A tier is what a member can be: free, or paid monthly / yearly at a price. A member is one
person (an email and/or passkeys) with at most one tier, a status (``free``, ``paid`` until a
date, or ``comped``: given the tier for nothing), where they signed up, labels and a note.
Both are records in the home's private bucket (``store.py``), so they move with the site.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from homeport.core.errors import InvalidParameters

TIER_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
"""A tier's id: also what an entry's ``visibility`` names and what a delegation's params
carry (lower-case, digits, dashes)."""
RESERVED = frozenset({"public", "private", "members", "free", "draft"})
"""Names an entry's visibility already gives a meaning to: no tier may take them."""
INTERVALS = ("month", "year")
CURRENCY = re.compile(r"^[A-Z]{3}$")
EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[^@\s<>\"',;]{1,253}\.[^@\s<>\"',;.]{1,63}$")
STATUSES = ("free", "paid", "comped")
MAX_PRICE_MINOR = 100_000_000
MAX_LABELS = 50
MAX_TEXT = 2000
MAX_BENEFITS = 20


class MemberError(InvalidParameters):
    """A tier or member that cannot be saved as given; the message says why."""


def slug(name: str) -> str:
    """A tier id from its name: ``Gold supporters`` → ``gold-supporters``."""
    text = re.sub(r"[^a-z0-9]+", "-", name.strip().lower()).strip("-")[:40].strip("-")
    if not text:
        raise MemberError(f"{name!r} gives no tier id: use letters or digits")
    return text


def check_tier_id(tier: str) -> str:
    if not TIER_ID.match(tier) or tier in RESERVED:
        raise MemberError(f"{tier!r} is not a tier id (lower-case letters, digits and dashes; "
                          f"not {', '.join(sorted(RESERVED))})")
    return tier


def price_minor(price: str | float | int | None) -> int:
    """``5`` or ``4.99`` (in the currency's main unit) → minor units (500, 499)."""
    if price is None:
        return 0
    try:
        value = Decimal(str(price))
    except InvalidOperation:
        raise MemberError(f"{price!r} is not a price (like 5 or 4.99)") from None
    minor = value * 100
    if not value.is_finite() or value < 0 or minor != minor.to_integral_value():
        raise MemberError(f"{price!r} is not a price (at most two decimals, not negative)")
    if minor > MAX_PRICE_MINOR:
        raise MemberError("that price is more than a tier may ask")
    return int(minor)


def new_tier(
    name: str,
    *,
    price: str | float | int | None = None,
    currency: str | None = None,
    interval: str | None = None,
    benefits: Iterable[str] = (),
    tier_id: str | None = None,
    key: str,
    now: int,
) -> dict[str, Any]:
    """A tier record. A price makes it paid (currency and interval then required, interval
    ``month`` by default); no price, a free tier. ``key`` is the tier's content key (hex of
    32 random bytes): what seals its members-only parts in the snapshot."""
    name = name.strip()
    if not 0 < len(name) <= 100:
        raise MemberError("a tier needs a name of 1 to 100 characters")
    amount = price_minor(price)
    if amount:
        currency = (currency or "").strip().upper()
        if not CURRENCY.match(currency):
            raise MemberError("a paid tier needs --currency, a three-letter code like EUR")
        interval = interval or "month"
        if interval not in INTERVALS:
            raise MemberError("--interval is month or year")
    elif interval is not None or currency is not None:
        raise MemberError("--currency and --interval go with a --price above 0")
    items = [b.strip() for b in benefits if b.strip()]
    if len(items) > MAX_BENEFITS or any(len(b) > 200 for b in items):
        raise MemberError(f"at most {MAX_BENEFITS} benefits of 200 characters")
    return {
        "id": check_tier_id(tier_id or slug(name)),
        "name": name,
        "amount": amount,
        "currency": currency if amount else None,
        "interval": interval if amount else None,
        "benefits": items,
        "key": key,
        "created": now,
    }


def normal_email(email: str) -> str:
    """The form emails are compared and hashed in: trimmed, lower-case."""
    text = email.strip().lower()
    if len(text) > 320 or not EMAIL.match(text):
        raise MemberError(f"{email!r} is not an email address")
    return text


def repriced(tier: Mapping[str, Any], *, price: str | float | int | None,
             currency: str | None, interval: str | None, move_subscribers: bool
             ) -> dict[str, Any]:
    """``tier`` at a new price (checked like a new tier; its id, content key and benefits
    kept). ``subscribers`` records the owner's choice for those paying the old price:
    ``keep`` it (the default) or ``move`` to the new one at their next renewal."""
    if not tier.get("amount") or not price_minor(price):
        raise MemberError("only a paid tier's price changes, to another price above 0 (a free "
                          "tier stays free and a paid one paid: add a tier instead)")
    fresh = new_tier(str(tier["name"]), price=price,
                     currency=currency or tier.get("currency"),
                     interval=interval or tier.get("interval"),
                     benefits=tier.get("benefits") or (), tier_id=str(tier["id"]),
                     key=str(tier["key"]), now=int(tier.get("created") or 0))
    return {**tier, **{k: fresh[k] for k in ("amount", "currency", "interval")},
            "subscribers": "move" if move_subscribers else "keep"}


def member_id(email: str) -> str:
    """A member's record id, from their address: adding the same address twice finds the
    same record (the record is sealed, so the id tells the provider nothing it could use)."""
    return "m-" + hashlib.sha256(normal_email(email).encode()).hexdigest()[:40]


@dataclass(frozen=True)
class MemberFields:
    """What ``new_member`` takes besides the address; the defaults are a free member."""

    name: str = ""
    tier: str | None = None
    status: str = "free"
    paid_until: int | None = None
    labels: tuple[str, ...] = ()
    note: str = ""
    subscribed: bool = True
    provider: str | None = None
    payments: tuple[Mapping[str, Any], ...] = ()
    created: int | None = None


def new_member(email: str, fields: MemberFields, tiers: Mapping[str, Any], now: int
               ) -> dict[str, Any]:
    """A member record; ``tiers`` are the tiers that exist (by id)."""
    address = normal_email(email)
    if fields.tier is not None and fields.tier not in tiers:
        known = ", ".join(sorted(tiers)) or "none yet: homeport tiers add NAME"
        raise MemberError(f"there is no tier {fields.tier!r} (tiers: {known})")
    if fields.status not in STATUSES:
        raise MemberError(f"a member's status is one of {', '.join(STATUSES)}")
    if fields.status != "free" and fields.tier is None:
        raise MemberError("a paid or complimentary member needs a tier (--tier)")
    labels = sorted({label.strip() for label in fields.labels if label.strip()})
    if len(labels) > MAX_LABELS or any(len(label) > 100 for label in labels):
        raise MemberError(f"at most {MAX_LABELS} labels of 100 characters")
    if len(fields.name) > 200 or len(fields.note) > MAX_TEXT:
        raise MemberError("a name has at most 200 characters, a note 2000")
    return {
        "id": member_id(address),
        "email": address,
        "name": fields.name.strip(),
        "tier": fields.tier,
        "status": fields.status,
        "paid_until": fields.paid_until if fields.status == "paid" else None,
        "labels": labels,
        "note": fields.note,
        "subscribed": fields.subscribed,
        "provider": fields.provider,
        "payments": [dict(p) for p in fields.payments],
        "passkeys": [],
        "created": fields.created if fields.created is not None else now,
    }


def entitled_tier(member: Mapping[str, Any], now: int) -> str | None:
    """The tier a member may read now: theirs when comped, or paid and not yet past
    ``paid_until``; ``""`` when they are a member without a tier in force (free, or a
    payment that lapsed): they still see what is for any member."""
    tier = member.get("tier")
    status = member.get("status")
    if not tier or status == "free":
        return ""
    if status == "comped":
        return str(tier)
    until = member.get("paid_until")
    if status == "paid" and (until is None or (isinstance(until, int) and until > now)):
        return str(tier)
    return ""


def visible_to(visibility: str, tier: str | None) -> bool:
    """Whether a member entitled to ``tier`` (``""``: any member, None: not a member) may
    read an entry whose visibility is ``visibility``."""
    if visibility == "public":
        return True
    if tier is None or visibility == "private":
        return False
    return visibility == "members" or visibility == tier


def is_members_visibility(visibility: object) -> bool:
    """``members`` or a tier id: an entry whose page shows a teaser to the public."""
    return isinstance(visibility, str) and visibility not in ("public", "private") and (
        visibility == "members" or bool(TIER_ID.match(visibility)))
