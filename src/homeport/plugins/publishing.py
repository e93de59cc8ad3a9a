"""The publish seams' callbacks for plugins (``publish/hooks.py``): each calls every enabled
plugin's hook of the same name. Registered by ``publish.hooks.register_publish_hooks``."""

from __future__ import annotations

import inspect
import logging

from homeport.plugins import manager
from homeport.publish.hooks import Published
from homeport.services.context import Context

log = logging.getLogger("homeport.plugins")


async def before_snapshot(ctx: Context) -> None:
    """Await what each plugin's ``before_snapshot`` gave back; one that fails is logged and
    the others still run."""
    for name, answer in manager.active(ctx.settings).call("before_snapshot", ctx=ctx):
        if inspect.isawaitable(answer):
            try:
                await answer
            except Exception:  # the publish goes on without what this plugin would have written
                log.exception("plugin %s: before_snapshot failed", name)


def after_publish(event: Published) -> None:
    manager.active(event.settings).call("after_publish", event=event)


__all__ = ["after_publish", "before_snapshot"]
