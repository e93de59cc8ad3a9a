"""At the home: a sign-up from a provider becomes a free member (label ``signup``, and the
provider it came through), unless the address already is one. Idempotent: the member's id is
its address's, so a redelivered item finds them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import anyio.from_thread

from homeport import jsonio
from homeport.core.errors import InvalidPostedData
from homeport.interop.ports import Handler, InboxItem
from homeport.members import store
from homeport.members.model import MemberError, MemberFields, normal_email

MAX_PASSKEYS = 10
"""Passkeys one member may have; more are ignored."""


def _signup(ctx: Any, item: InboxItem) -> Mapping[str, Any]:
    try:
        doc = jsonio.loads_untrusted(item.body)
        email = normal_email(str(doc["email"]))
        site = str(doc.get("site") or "")[:300] or None
    except (ValueError, KeyError, TypeError, MemberError):
        raise InvalidPostedData("not a sign-up: it needs an email address") from None

    async def apply() -> bool:
        if await store.find_member(ctx, email) is not None:
            return False
        await store.add_member(ctx, email, MemberFields(labels=("signup",), provider=site))
        return True

    return {"added": _run(apply)}


def _passkey(ctx: Any, item: InboxItem) -> Mapping[str, Any]:
    """A passkey a member registered at a provider, added to them once (by credential id)."""
    try:
        doc = jsonio.loads_untrusted(item.body)
        email = normal_email(str(doc["email"]))
        key = {f: str(doc[f]) for f in ("credential_id", "public_key", "rp_id")}
    except (ValueError, KeyError, TypeError, MemberError):
        raise InvalidPostedData("not a passkey: it needs an email address and a key") from None
    if not all(0 < len(v) <= 1024 for v in key.values()):
        raise InvalidPostedData("not a passkey: a field is empty or too long")

    async def apply() -> bool:
        member = await store.find_member(ctx, email)
        if member is None:
            return False
        known = list(member.get("passkeys") or [])
        if any(k.get("credential_id") == key["credential_id"] for k in known):
            return False
        if len(known) >= MAX_PASSKEYS:
            return False
        await store.update_member(ctx, email, {"passkeys": [*known, key]})
        return True

    return {"added": _run(apply)}


def _run(work: Callable[[], Coroutine[Any, Any, bool]]) -> bool:
    """On the home's event loop from the relay's worker thread (the store is bound to it), or
    on a loop of its own outside one."""
    try:
        return anyio.from_thread.run(work)
    except RuntimeError as exc:
        if "AnyIO worker thread" not in str(exc) and "event loop" not in str(exc):
            raise
    return asyncio.run(work())


def home_handlers() -> dict[str, Handler]:
    from homeport.interop.members.passkeys import PASSKEY_KIND
    from homeport.interop.members.signin import SIGNUP_KIND

    return {SIGNUP_KIND: _signup, PASSKEY_KIND: _passkey}
