"""Grants as the relay sees them: a token a provider issued itself (IndieAuth) is reported to
the home as an inbox item, so the home lists it at once and can revoke it. (The provider also
reports such tokens in its answer to every list push, ``sync/grants.py``: this item only makes
it quicker.) No endpoint of its own on tenants' hosts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import anyio.from_thread
from starlette.routing import BaseRoute

from homeport.interop.ports import Handler, InboxItem
from homeport.services import grants
from homeport.services.context import Context
from homeport.sync import providers
from homeport.sync.auth import origin

TOKEN_ISSUED = "grants.token-issued"
"""meta: ``id``, ``scope`` (list), ``client_id``, ``me``, ``issued``, ``expires``, ``provider``
(the provider's address as the home enrolled with it, filled in by the relay's connection)."""
T = TypeVar("T")


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """On the home's event loop from the relay's worker thread, or on a loop of its own."""
    try:
        return anyio.from_thread.run(work)
    except RuntimeError:
        return asyncio.run(work())


def _named(ctx: Context, aud: str) -> str:
    """The provider's address as ``providers.json`` spells it (the item names its origin)."""
    try:
        wanted = origin(aud)
        for entry in providers.load(ctx.settings.data_dir):
            if origin(str(entry["url"])) == wanted:
                return str(entry["url"])
    except (ValueError, providers.ProvidersError):
        pass
    return aud or "a provider"


def token_issued(ctx: Context, item: InboxItem) -> Mapping[str, Any]:
    """Record the token (idempotent on its id: a redelivery changes nothing)."""
    meta = dict(item.meta)
    provider = _named(ctx, str(meta.pop("provider", "") or ""))

    async def work() -> int:
        return await grants.learn(ctx, provider, [meta])

    return {"recorded": _run(work)}


def provider_routes() -> list[BaseRoute]:
    return []


def home_handlers() -> dict[str, Handler]:
    return {TOKEN_ISSUED: token_issued}


__all__ = ["TOKEN_ISSUED", "home_handlers", "provider_routes", "token_issued"]
