"""The fediverse around each publish. Before the snapshot the first provider serving each of
the site's addresses is made the one that signs for it (``interop/activitypub/homekey.py``), so
the delegation rides in this commit and the provider can deliver what it makes live, and the
``@user@host`` handles typed in public entries are resolved by WebFinger
(``interop/activitypub/mentions.py``), so the build makes them mentions. After the
publish the providers are handed the site's follower list when it changed
(``publish/fedfollowers.py``), and when the site's address changed the old provider sends
``Move`` (``interop/activitypub/homemove.py``). All are imported at the first publish."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable

from homeport.plugins import hookimpl
from homeport.publish.hooks import Published
from homeport.services.context import Context


@hookimpl
def before_snapshot(ctx: Context) -> Awaitable[None]:
    return _before_snapshot(ctx)


async def _before_snapshot(ctx: Context) -> None:
    for name in ("homekey", "mentions"):
        module = importlib.import_module(f"homeport.interop.activitypub.{name}")
        await module.before_snapshot(ctx)


@hookimpl
def after_publish(event: Published) -> None:
    importlib.import_module("homeport.publish.fedfollowers").after_publish(event)
    importlib.import_module("homeport.interop.activitypub.homemove").after_publish(event)
