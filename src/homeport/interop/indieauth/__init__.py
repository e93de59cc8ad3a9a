"""IndieAuth (indieauth.spec.indieweb.org) at the provider, approved with the owner's passkey."""

from __future__ import annotations

from homeport.interop.indieauth.endpoints import PREFIX, TOKENS_POWER, provider_routes
from homeport.interop.ports import Handler


def home_handlers() -> dict[str, Handler]:
    """None: sign-ins are approved at the provider with a passkey; the tokens it issues reach
    the home through the grants' own report (``provider.grants``)."""
    return {}


__all__ = ["PREFIX", "TOKENS_POWER", "home_handlers", "provider_routes"]
