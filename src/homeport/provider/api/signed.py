"""Signed requests: every tenant request is signed, and the tenant is the one whose identity
signed it, so no request can name another tenant (``docs/protocol.md``, ``sync/auth.py``)."""

from __future__ import annotations

import contextlib
from typing import Any

from starlette.requests import Request

from homeport.core import handoff as handoff_rules
from homeport.core.identity import IdentityError, current_key
from homeport.crypto.signing import verify as verify_signature
from homeport.provider.api.context import Provider
from homeport.provider.api.http import MAX_JSON, json_of, read_body
from homeport.provider.db import DELETED, SUSPENDED, Tenant
from homeport.provider.errors import ProviderError
from homeport.sync.auth import (
    CLOCK_SKEW_MS,
    AudienceError,
    AuthError,
    check_authorization,
    parse,
)

NONCE_MS = 10 * 60 * 1000
NONCE_MARGIN_MS = 60 * 1000


def _target(request: Request) -> str:
    path: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    query: bytes = request.scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


async def authenticate(
    request: Request,
    provider: Provider,
    limit: int = MAX_JSON,
    rotating: bool = False,
    digest: str | None = None,
    writes: bool = False,
) -> tuple[Tenant, bytes]:
    """The signing tenant and the request body; 401/403/410 otherwise. With ``rotating``, a
    key authorised by a longer identity log in the body is accepted too (``POST /identity``).
    With ``digest`` (a segmented pack), the signature covers that instead of the body, which is
    left unread for the caller to check piece by piece. A request that ``writes`` is refused
    with 409 ``not-primary`` unless its key is the primary the tenant's latest handoff names
    (``core/handoff.py``): a standby copy of a home reads, it never changes what is here."""
    header = request.headers.get("authorization")
    try:
        did = parse(header)["did"]
    except AuthError as exc:
        raise ProviderError(401, "unauthorized", str(exc)) from None
    tenant = await provider.query(provider.db.tenant_by_did, did)
    if tenant is None:
        raise ProviderError(401, "unauthorized", "no tenant with this identity here: enroll first")
    if tenant.state == DELETED:
        raise ProviderError(410, "deleted", "this tenant was deleted from this provider")
    if tenant.state == SUSPENDED:
        raise ProviderError(403, "suspended", "this tenant is suspended: ask the operator")
    body = b"" if digest is not None else await read_body(request, limit)
    allowed = {tenant.did, key_in_force(tenant.did, tenant.operations)}
    if rotating:
        ops = json_of(body).get("operations")
        if isinstance(ops, list) and ops[: len(tenant.operations)] == tenant.operations:
            with contextlib.suppress(IdentityError, TypeError, KeyError, AttributeError):
                allowed.add(current_key(tenant.did, ops, verify_signature))
    now = provider.clock()
    # keys the log once authorised sign well enough to be told the home moved (below)
    retired = {str(op.get("key")) for op in tenant.operations if isinstance(op, dict)}
    try:
        signed = check_authorization(
            header,
            request.method,
            _target(request),
            body,
            allowed | retired,
            provider.audiences(request),
            now,
            digest=digest,
        )
    except AudienceError as exc:
        raise wrong_audience(exc) from None
    except AuthError as exc:
        raise ProviderError(401, "unauthorized", str(exc)) from None
    if signed.key not in allowed:
        # a standby (its key rotated out by the move) learns where the home lives now
        await check_primary(provider, tenant, signed.key)
        raise ProviderError(
            401, "unauthorized", "the request is signed by a key this tenant has not authorised"
        )
    # remembered for as long as its timestamp would pass the clock check, and then some
    expires = max(now + NONCE_MS, signed.ts + CLOCK_SKEW_MS + NONCE_MARGIN_MS)
    if not await provider.query(provider.db.remember_nonce, signed.nonce, expires, now):
        raise ProviderError(401, "replayed", "this request was already received (a replay)")
    if writes:
        await check_primary(provider, tenant, signed.key)
    return tenant, body


async def check_primary(provider: Provider, tenant: Tenant, key: str) -> None:
    """409 ``not-primary`` (saying where the home now lives) unless ``key`` may write."""
    doc = await provider.query(provider.db.handoff, tenant.name)
    held = None if doc is None else handoff_rules.parse(doc, tenant.did, verify_signature)
    if not handoff_rules.is_primary(held, key):
        assert held is not None
        raise ProviderError(
            409,
            "not-primary",
            f"this copy of the home is a standby: since handoff {held.epoch} its primary is "
            f"{held.where or 'another device'}, which alone may change it here",
            epoch=held.epoch,
            primary=held.primary,
            where=held.where,
            handoff=held.doc,
        )


def wrong_audience(exc: AudienceError) -> ProviderError:
    return ProviderError(401, "wrong-audience", str(exc), expected=exc.expected)


def key_in_force(did: str, operations: list[dict[str, Any]]) -> str:
    try:
        return current_key(did, operations, verify_signature)
    except IdentityError:
        return did
