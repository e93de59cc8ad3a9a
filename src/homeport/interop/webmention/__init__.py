"""Webmention (W3C Recommendation): received at the provider, verified there, moderated and
shown at the home. ``receive`` is the provider's side, ``home`` the home's, ``parse`` the pure
rules both rely on; docs/interop.md, "Webmention"."""

from __future__ import annotations

from homeport.interop.ports import Handler
from homeport.interop.webmention.home import handle
from homeport.interop.webmention.receive import KIND, Limits, provider_lifespan, provider_routes


def home_handlers() -> dict[str, Handler]:
    return {KIND: handle}


__all__ = ["KIND", "Limits", "home_handlers", "provider_lifespan", "provider_routes"]
