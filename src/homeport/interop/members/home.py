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
    from homeport.interop.members.signin import SIGNUP_KIND

    return {SIGNUP_KIND: _signup}
