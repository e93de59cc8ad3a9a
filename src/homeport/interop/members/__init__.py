"""Members at the provider (``docs/members.md``): sign-in by email link on the site's own host,
a session per site host, members-only pages opened for a member whose tier allows them, and
sign-ups handed to the home's inbox (kind ``members.signup``).

- ``signin.py``: ``POST /_homeport/members/signin`` (form: ``email``, ``next``), ``GET
  /_homeport/members/link`` (the mailed link), ``POST /_homeport/members/signout``;
- ``tokens.py``: the link and the session cookie, sealed with the provider's own keys;
- ``gate.py``: what the site server calls for a members-only page;
- ``home.py``: the home's handler for sign-ups.
"""

from __future__ import annotations

from homeport.interop.members.home import home_handlers
from homeport.interop.members.signin import provider_routes

__all__ = ["home_handlers", "provider_routes"]
