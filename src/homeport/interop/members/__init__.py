"""Members at the provider (``docs/members.md``): sign-in by email link on the site's own host,
a session per site host, members-only pages opened for a member whose tier allows them, and
sign-ups handed to the home's inbox (kind ``members.signup``).

- ``signin.py``: ``POST /_homeport/members/signin`` (form: ``email``, ``next``), ``GET
  /_homeport/members/link`` (the mailed link), ``POST /_homeport/members/signout``;
- ``passkeys.py``: a signed-in member registers a passkey (it goes home as ``members.passkey``
  and comes back in the entitlements), and signs in with it at any of the site's providers;
- ``tokens.py``: the link and the session cookie, sealed with the provider's own keys;
- ``gate.py``: what the site server calls for a members-only page;
- ``home.py``: the home's handler for sign-ups.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from homeport.interop.members import passkeys, signin
from homeport.interop.members.home import home_handlers


def provider_routes() -> list[BaseRoute]:
    return [*signin.provider_routes(), *passkeys.provider_routes()]


__all__ = ["home_handlers", "provider_routes"]
