"""The home's side: apply the webmentions the provider verified (inbox kind ``webmention``)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import anyio.from_thread

from homeport import jsonio
from homeport.content import mentions
from homeport.core.errors import HomeportError
from homeport.interop.ports import InboxItem
from homeport.services.context import Context


async def apply(ctx: Context, item: InboxItem) -> dict[str, str]:
    """Store (or remove) the mention an item carries; see ``content.mentions.apply``."""
    try:
        payload = jsonio.loads_untrusted(item.body)
    except ValueError as exc:
        raise HomeportError(f"webmention item {item.id} is not JSON: {exc}", code=400) from None
    if not isinstance(payload, Mapping):
        raise HomeportError(f"webmention item {item.id} is not a JSON object", code=400)
    applied = await mentions.apply(ctx, item.id, payload)
    return applied.result()


def handle(ctx: Context, item: InboxItem) -> Mapping[str, Any]:
    """The ``ports.Handler``: called in a worker thread; the store is async, so the work runs
    on the serving event loop when the thread came from anyio, else on a loop of its own."""
    try:
        return anyio.from_thread.run(apply, ctx, item)
    except RuntimeError as exc:
        if "AnyIO worker thread" not in str(exc) and "event loop" not in str(exc):
            raise
    return asyncio.run(apply(ctx, item))
