"""Accounts: argon2 password hashes and Basic-auth verification with a short-lived cache.

Verifying an argon2 hash costs tens of milliseconds by design, so a verified credential is
remembered (keyed by a SHA-256 of the header, never the password) for
``account_cache_ttl_seconds``; any account write on this process clears the cache.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from homeport.core.errors import ObjectNotFound
from homeport.services.context import Context
from homeport.services.logins import limiter_of

CACHE = "accounts"


def hasher(ctx: Context) -> PasswordHasher:
    """Argon2id with the cost from settings (default: OWASP's 19 MiB, 2 passes, 1 lane).

    Verification reads the parameters from the stored hash, so raising the cost later keeps
    old passwords working."""
    found = ctx.caches.get("hasher")
    if not isinstance(found, PasswordHasher):
        settings = ctx.settings
        found = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=1,
        )
        ctx.caches["hasher"] = found
    return found


def hash_password(ctx: Context, password: str) -> str:
    return hasher(ctx).hash(password)


def verify_password(ctx: Context, stored_hash: str, password: str) -> bool:
    try:
        return hasher(ctx).verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _cache(ctx: Context) -> dict[str, tuple[str, float]]:
    cache: dict[str, tuple[str, float]] = ctx.caches.setdefault(CACHE, {})
    return cache


def forget_credentials(ctx: Context) -> None:
    _cache(ctx).clear()


def parse_basic(header: str) -> tuple[str, str] | None:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


async def authenticate(ctx: Context, header: str, client: str) -> str | None:
    """The account id the Authorization header proves, or None. ``client`` is who is asking
    (``logins.client_key``): while it or the account is over the login limit, this raises
    ``TooManyAttempts`` whatever the password, cached or not."""
    credentials = parse_basic(header)
    if credentials is None:
        return None
    account_id, password = credentials
    limiter = limiter_of(ctx)
    limiter.check(client, account_id, ctx.clock())
    key = hashlib.sha256(header.encode("utf-8", "surrogateescape")).hexdigest()
    cache = _cache(ctx)
    hit = cache.get(key)
    now = time.monotonic()
    if hit is not None and hit[1] > now:
        return hit[0]
    matched = await _password_matches(ctx, account_id, password, threaded=False)
    if not matched:
        limiter.failed(client, account_id if matched is False else None, ctx.clock())
        return None
    if len(cache) > 10_000:
        cache.clear()
    cache[key] = (account_id, now + ctx.settings.account_cache_ttl_seconds)
    return account_id


async def ensure_admin(ctx: Context, password: str | None) -> bool:
    """Create the owner's ``admin`` account on first run; True when it was created."""
    if password is None:
        return False
    try:
        await ctx.store.get("account", "", "admin")
        return False
    except ObjectNotFound:
        pass
    hashed = hash_password(ctx, password)
    await ctx.store.create("account", "", {"id": "admin", "password": hashed})
    await ctx.store.set_permissions("/accounts/admin", {"write": {"account:admin"}})
    return True


async def set_password(ctx: Context, account_id: str, password: str) -> None:
    """Give an existing or new account this password (the GUI's first-run wizard)."""
    hashed = await asyncio.to_thread(hash_password, ctx, password)
    try:
        existing = dict(await ctx.store.get("account", "", account_id))
    except ObjectNotFound:
        existing = {"id": account_id}
    existing.pop("last_modified", None)
    await ctx.store.update("account", "", account_id, {**existing, "password": hashed})
    uri = f"/accounts/{account_id}"
    await ctx.store.set_permissions(uri, {"write": {f"account:{account_id}"}})
    forget_credentials(ctx)


async def check_password(ctx: Context, account_id: str, password: str, client: str) -> bool:
    """Whether ``password`` is the account's (a form's login), verified off the event loop
    (argon2 is slow), under the same login limit as :func:`authenticate`."""
    limiter = limiter_of(ctx)
    limiter.check(client, account_id, ctx.clock())
    matched = await _password_matches(ctx, account_id, password, threaded=True)
    if matched:
        return True
    limiter.failed(client, account_id if matched is False else None, ctx.clock())
    return False


async def _password_matches(
    ctx: Context, account_id: str, password: str, threaded: bool
) -> bool | None:
    """None when there is no such account: its failures count against the client only, so
    guessing made-up names cannot crowd real accounts out of the limiter's memory."""
    try:
        account = await ctx.store.get("account", "", account_id)
    except ObjectNotFound:
        return None
    stored = account.get("password")
    if not isinstance(stored, str) or not password:
        return False
    if threaded:
        return await asyncio.to_thread(verify_password, ctx, stored, password)
    return verify_password(ctx, stored, password)


PRINCIPALS_TTL_SECONDS = 2.0


async def group_principals(ctx: Context, members: tuple[str, ...]) -> set[str]:
    """The groups these principals are in, cached briefly per process.

    Every group write in this process clears the cache (``forget_principals``), so a change is
    seen at once here; ``PRINCIPALS_TTL_SECONDS`` bounds how late another process sharing the
    same PostgreSQL database sees it."""
    cache: dict[tuple[str, ...], tuple[set[str], float]] = ctx.caches.setdefault("principals", {})
    now = time.monotonic()
    hit = cache.get(members)
    if hit is not None and hit[1] > now:
        return hit[0]
    found: set[str] = set()
    for member in members:
        found |= await ctx.store.user_principals(member)
    if len(cache) > 10_000:
        cache.clear()
    cache[members] = (found, now + PRINCIPALS_TTL_SECONDS)
    return found


def forget_principals(ctx: Context) -> None:
    ctx.caches.pop("principals", None)
