"""Who is calling: Basic auth against accounts, plus group principals from the store."""

from __future__ import annotations

from starlette.requests import Request

from homeport.core.permissions import AUTHENTICATED, EVERYONE
from homeport.services import accounts
from homeport.services.context import Context, User
from homeport.services.logins import client_key


def client_of(request: Request) -> str:
    """The login limiter's key for the caller of ``request``."""
    address = request.client.host if request.client else None
    return client_key(address, request.headers.get("origin"))


async def identify(ctx: Context, authorization: str | None, client: str) -> User:
    """Bad or missing credentials make an anonymous user, as Kinto's policies do; too many
    wrong ones from ``client`` (``logins.client_key``) raise ``TooManyAttempts``."""
    account_id = await accounts.authenticate(ctx, authorization, client) if authorization else None
    if account_id is None:
        principals = {EVERYONE} | await accounts.group_principals(ctx, (EVERYONE,))
        return User(None, frozenset(principals))
    user_id = f"account:{account_id}"
    principals = {EVERYONE, AUTHENTICATED, user_id}
    principals |= await accounts.group_principals(ctx, (user_id, AUTHENTICATED, EVERYONE))
    return User(user_id, frozenset(principals))
