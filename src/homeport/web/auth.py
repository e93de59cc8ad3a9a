"""Who is calling: Basic auth against accounts, plus group principals from the store."""

from __future__ import annotations

from homeport.core.permissions import AUTHENTICATED, EVERYONE
from homeport.services import accounts
from homeport.services.context import Context, User


async def identify(ctx: Context, authorization: str | None) -> User:
    """Bad or missing credentials make an anonymous user, as Kinto's policies do."""
    account_id = await accounts.authenticate(ctx, authorization) if authorization else None
    if account_id is None:
        principals = {EVERYONE} | await accounts.group_principals(ctx, (EVERYONE,))
        return User(None, frozenset(principals))
    user_id = f"account:{account_id}"
    principals = {EVERYONE, AUTHENTICATED, user_id}
    principals |= await accounts.group_principals(ctx, (user_id, AUTHENTICATED, EVERYONE))
    return User(user_id, frozenset(principals))
