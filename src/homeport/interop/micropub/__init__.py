"""Micropub (W3C Recommendation): apps post to the site through its provider.

``endpoint`` is the provider's side (``/_homeport/micropub``, ``/_homeport/media``), ``apply``
the home's (inbox items → entries), ``mf2`` the rules both share (parsing, type and URL of a
post, properties ↔ fields).
"""

from homeport.interop.micropub.apply import home_handlers
from homeport.interop.micropub.endpoint import provider_routes

__all__ = ["home_handlers", "provider_routes"]
