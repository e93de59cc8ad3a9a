"""IndieAuth (indieauth.spec.indieweb.org) at the provider, approved with the owner's passkey."""

from homeport.interop.indieauth.endpoints import PREFIX, TOKENS_POWER, provider_routes

__all__ = ["PREFIX", "TOKENS_POWER", "provider_routes"]
