"""The after-publish seam's one callback for plugins (``publish/hooks.py``): it calls every
enabled plugin's ``after_publish`` hook. Registered by ``home.register_publish_hooks``."""

from __future__ import annotations

from homeport.plugins import manager
from homeport.publish.hooks import Published


def after_publish(event: Published) -> None:
    manager.active(event.settings).call("after_publish", event=event)


__all__ = ["after_publish"]
