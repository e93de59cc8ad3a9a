"""IndieAuth (indieauth.spec.indieweb.org) at the provider, approved with the owner's passkey
or, while the home is online, on its admin page."""

from __future__ import annotations

from homeport.interop.indieauth.endpoints import (
    APPROVAL_POWER,
    PREFIX,
    SIGNIN_KIND,
    TOKENS_POWER,
    provider_routes,
)
from homeport.interop.ports import Handler


def home_handlers() -> dict[str, Handler]:
    """A sign-in waiting for the owner's answer (``home.py``). The tokens the provider issues
    reach the home through the grants' own report (``interop/grants``)."""
    from homeport.interop.indieauth.home import signin_requested

    return {SIGNIN_KIND: signin_requested}


__all__ = [
    "APPROVAL_POWER",
    "PREFIX",
    "SIGNIN_KIND",
    "TOKENS_POWER",
    "home_handlers",
    "provider_routes",
]
