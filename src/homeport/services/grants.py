"""What the home grants its providers: bearer tokens and delegations, kept as records.

They live in the private system bucket ``homeport``, collection ``grants``, one record per
grant, so they are in the signed repository (sealed: only the owner reads them) and come back
with a restore or a move. A record holds what the home decided (power, params, which provider,
expiry, revocation); the signed documents a provider receives are made from it at push time,
by the key in force then (``sync/grants.py``). A token's secret is never stored: the record
keeps its SHA-256 only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from homeport.core.errors import InvalidParameters, ObjectNotFound
from homeport.core.ids import valid_id
from homeport.crypto.delegations import (
    TOKEN,
    DelegationError,
    new_id,
    new_token,
    parse_scope,
    token_hash,
)
from homeport.services import writes
from homeport.services.context import OWNER, Context
from homeport.services.resources import BUCKET, COLLECTION, RECORD, find_object, unit_of_work
from homeport.store.protocols import JSONObject

SYSTEM_BUCKET = "homeport"
"""The home's own private bucket (no site may take this name)."""
COLLECTION_NAME = "grants"
PARENT = f"/buckets/{SYSTEM_BUCKET}/collections/{COLLECTION_NAME}"
EVERY_PROVIDER = "*"
HOME = "home"
MAX_EXPIRY_MS = 10 * 365 * 86_400_000
DURATION = re.compile(r"^(\d{1,6})([smhdw])$")
UNITS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
MAX_GRANTS = 10_000


class GrantError(InvalidParameters):
    """A grant that cannot be made or changed as asked; the message says why."""


def duration_ms(text: str) -> int:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` in milliseconds."""
    found = DURATION.match(text.strip().lower())
    if not found:
        raise GrantError(f"{text!r} is not a duration (like 30d, 12h, 90m, 2w)")
    value = int(found.group(1)) * UNITS[found.group(2)]
    if not 0 < value <= MAX_EXPIRY_MS:
        raise GrantError("a duration is between 1 second and 10 years")
    return value


async def ensure_private(ctx: Context, *collections: str) -> None:
    """The system bucket and these collections of it, each created if missing; called inside
    the caller's ``unit_of_work`` (the private records every part of the home keeps there)."""
    if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
        await writes.save(ctx, OWNER, BUCKET, "", SYSTEM_BUCKET, {}, None,
                          existing=None, replace_permissions=False)
    parent = f"/buckets/{SYSTEM_BUCKET}"
    for name in collections:
        if await find_object(ctx, COLLECTION, parent, name) is None:
            await writes.save(ctx, OWNER, COLLECTION, parent, name, {}, None,
                              existing=None, replace_permissions=False)


async def ensure(ctx: Context) -> None:
    """The system bucket and the grants collection, created once."""
    async with unit_of_work(ctx):
        await ensure_private(ctx, COLLECTION_NAME)


async def list_grants(ctx: Context) -> list[JSONObject]:
    """Every grant, oldest first (revoked and expired ones too: the record of what was)."""
    if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
        return []
    try:
        rows = await ctx.store.list_all("record", PARENT)
    except ObjectNotFound:
        return []
    return sorted(rows, key=lambda r: (int(r.get("issued") or 0), str(r["id"])))


async def _save(ctx: Context, record: JSONObject, existing: JSONObject | None) -> JSONObject:
    await ensure(ctx)
    async with unit_of_work(ctx):
        if existing is None and len(await list_grants(ctx)) >= MAX_GRANTS:
            raise GrantError(f"this home holds {MAX_GRANTS} grants: revoke some first")
        written = await writes.save(ctx, OWNER, RECORD, PARENT, str(record["id"]), record, None,
                                    existing=existing, replace_permissions=False)
    return written.obj


def _expiry(ctx: Context, expires_in: int | None) -> int | None:
    return None if expires_in is None else ctx.clock() + expires_in


async def create_token(
    ctx: Context,
    scope: str,
    *,
    client_id: str | None = None,
    expires_in: int | None = None,
    note: str | None = None,
) -> tuple[str, JSONObject]:
    """A bearer token for every provider of this home: the secret (shown once) and its record."""
    try:
        scopes = parse_scope(scope)
    except DelegationError as exc:
        raise GrantError(str(exc)) from None
    if client_id is not None and not re.match(r"^https?://[^\s]{1,2000}$", client_id):
        raise GrantError("the client id must be an http(s) URL")
    secret = new_token()
    record: JSONObject = {
        "id": new_id(),
        "power": TOKEN,
        "params": {
            "hash": token_hash(secret),
            "scope": scopes,
            "client_id": client_id,
            "me": None,
        },
        "audience": EVERY_PROVIDER,
        "issued": ctx.clock(),
        "expires": _expiry(ctx, expires_in),
        "revoked": None,
        "source": HOME,
        "note": note,
    }
    return secret, await _save(ctx, record, None)


async def create_delegation(
    ctx: Context,
    provider: str,
    power: str,
    params: Mapping[str, Any],
    *,
    expires_in: int,
) -> JSONObject:
    """Grant ``provider`` (its address, as in ``homeport providers list``) one power until
    ``expires_in`` milliseconds from now; pushed with the next list (``sync/grants.py``)."""
    from homeport.crypto.delegations import POWER

    if power == TOKEN or not POWER.match(power):
        raise GrantError(f"{power!r} cannot be delegated this way")
    if not 0 < expires_in <= MAX_EXPIRY_MS:
        raise GrantError("a delegation expires between 1 second and 10 years from now")
    record: JSONObject = {
        "id": new_id(),
        "power": power,
        "params": dict(params),
        "audience": provider,
        "issued": ctx.clock(),
        "expires": ctx.clock() + expires_in,
        "revoked": None,
        "source": HOME,
        "note": None,
    }
    return await _save(ctx, record, None)


async def get_grant(ctx: Context, grant_id: str) -> JSONObject:
    found = await find_object(ctx, RECORD, PARENT, grant_id) if valid_id(grant_id) else None
    if found is None:
        raise GrantError(f"no token or delegation {grant_id!r} here (homeport tokens list)")
    return found


async def revoke(ctx: Context, grant_id: str) -> JSONObject:
    """Mark a grant revoked (kept, so the providers are told and the list shows it)."""
    found = await get_grant(ctx, grant_id)
    if found.get("revoked") is not None:
        return found
    changed = {k: v for k, v in found.items() if k != "last_modified"}
    changed["revoked"] = ctx.clock()
    return await _save(ctx, changed, found)


async def learn(ctx: Context, provider: str, reported: Sequence[Mapping[str, Any]]) -> int:
    """Record the tokens a provider issued itself (IndieAuth), so the home lists and can revoke
    them; idempotent on their ids. How many were new or changed."""
    changed = 0
    for item in reported:
        grant_id = str(item.get("id") or "")
        if not valid_id(grant_id):
            continue
        existing = await find_object(ctx, RECORD, PARENT, grant_id)
        revoked = item.get("revoked")
        if existing is not None:
            if existing.get("revoked") is None and isinstance(revoked, int):
                body = {k: v for k, v in existing.items() if k != "last_modified"}
                await _save(ctx, {**body, "revoked": revoked}, existing)
                changed += 1
            continue
        scope = item.get("scope")
        record: JSONObject = {
            "id": grant_id,
            "power": TOKEN,
            "params": {
                "hash": None,
                "scope": [str(s) for s in scope] if isinstance(scope, list) else [],
                "client_id": _text(item.get("client_id")),
                "me": _text(item.get("me")),
            },
            "audience": provider,
            "issued": _ms(item.get("issued")) or ctx.clock(),
            "expires": _ms(item.get("expires")),
            "revoked": _ms(revoked),
            "source": provider,
            "note": None,
        }
        await _save(ctx, record, None)
        changed += 1
    return changed


SECRET_PARAMS = {"payments-stripe": frozenset({"key", "webhook_secret"})}
"""Params a listing never shows, by power (a payment key, a webhook's signing secret)."""
KEEP_MS = 30 * 86_400_000
"""An expired grant, or one of the home's own revoked, stays listed this long, then goes."""


async def prune(ctx: Context) -> int:
    """Forget grants expired (or, the home's own, revoked) more than ``KEEP_MS`` ago: sign-in
    approvals and short-lived delegations would otherwise pile up. A token a provider issued
    is kept until it expires, so its revocation keeps being handed to that provider (such a
    token always expires: never later than the delegation it was issued under)."""
    cutoff = ctx.clock() - KEEP_MS
    gone = 0
    for record in await list_grants(ctx):
        expires, revoked = record.get("expires"), record.get("revoked")
        old = (isinstance(expires, int) and expires < cutoff) or (
            isinstance(revoked, int) and revoked < cutoff and record.get("source") == HOME
        )
        if old:
            async with unit_of_work(ctx):
                await writes.delete(ctx, OWNER, RECORD, PARENT, str(record["id"]))
            gone += 1
    return gone


def _text(value: Any) -> str | None:
    return value[:2000] if isinstance(value, str) else None


def _ms(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**53
    return value if ok else None


def state(record: Mapping[str, Any], now: int) -> str:
    """``active``, ``expired`` or ``revoked``."""
    if record.get("revoked") is not None:
        return "revoked"
    expires = record.get("expires")
    if isinstance(expires, int) and expires <= now:
        return "expired"
    return "active"


def public_view(record: Mapping[str, Any], now: int) -> dict[str, Any]:
    """A grant as ``homeport tokens list`` and the GUI show it (never a hash)."""
    params = dict(record.get("params") or {})
    params.pop("hash", None)
    view: dict[str, Any] = {
        "id": record["id"],
        "power": record.get("power"),
        "audience": record.get("audience"),
        "source": record.get("source"),
        "issued": record.get("issued"),
        "expires": record.get("expires"),
        "revoked": record.get("revoked"),
        "state": state(record, now),
    }
    if record.get("power") == TOKEN:
        view["scope"] = " ".join(params.get("scope") or [])
        view["client_id"] = params.get("client_id")
        view["me"] = params.get("me")
    else:
        hidden = SECRET_PARAMS.get(str(record.get("power")), frozenset())
        view["params"] = {k: ("(hidden)" if k in hidden else v) for k, v in params.items()}
    return view


__all__ = [
    "COLLECTION_NAME",
    "EVERY_PROVIDER",
    "SYSTEM_BUCKET",
    "GrantError",
    "create_delegation",
    "create_token",
    "duration_ms",
    "learn",
    "list_grants",
    "prune",
    "public_view",
    "revoke",
    "state",
]
