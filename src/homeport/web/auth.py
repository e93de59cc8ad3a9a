"""Who is calling: Basic auth against accounts, or a ``Bearer`` token a sign-in connector
vouches for (principal ``<connector>:<subject>``), plus group principals from the store."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from homeport.core.errors import Unauthorized
from homeport.core.permissions import AUTHENTICATED, EVERYONE
from homeport.services import accounts
from homeport.services.context import Context, User
from homeport.services.logins import client_key

CONNECTORS = "connectors"
"""``ctx.caches`` key where the home puts its sign-in connectors by name (``gui/plugins.py``);
objects of ``plugins/kinds.py``'s ``Connector`` (this layer does not import plugins)."""


def client_of(request: Request) -> str:
    """The login limiter's key for the caller of ``request``."""
    address = request.client.host if request.client else None
    return client_key(address, request.headers.get("origin"))


async def bearer_principal(ctx: Context, token: str) -> str:
    """The principal a connector vouches for; ``Unauthorized`` when none takes the token or
    the one whose issuer made it finds it wrong (audience, issuer, signature, expiry)."""
    connectors: dict[str, Any] = ctx.caches.get(CONNECTORS) or {}
    for connector in connectors.values():
        identity = await connector.authenticate(token)
        if identity is not None:
            return str(identity.principal)
    raise Unauthorized("No sign-in connector of this home accepts this bearer token")


async def identify(ctx: Context, authorization: str | None, client: str) -> User:
    """Bad or missing Basic credentials make an anonymous user, as Kinto's policies do; too
    many wrong ones from ``client`` (``logins.client_key``) raise ``TooManyAttempts``. With a
    sign-in connector configured, a bearer token that does not hold is a 401, as with Kinto's
    OpenID plugin; without one it is ignored, as Kinto with Basic auth only ignores it."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() == "bearer" and token.strip() and ctx.caches.get(CONNECTORS):
        user_id = await bearer_principal(ctx, token.strip())
    else:
        account_id = (
            await accounts.authenticate(ctx, authorization, client) if authorization else None
        )
        if account_id is None:
            principals = {EVERYONE} | await accounts.group_principals(ctx, (EVERYONE,))
            return User(None, frozenset(principals))
        user_id = f"account:{account_id}"
    principals = {EVERYONE, AUTHENTICATED, user_id}
    principals |= await accounts.group_principals(ctx, (user_id, AUTHENTICATED, EVERYONE))
    return User(user_id, frozenset(principals))
