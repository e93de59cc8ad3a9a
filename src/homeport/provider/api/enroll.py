"""Enrollment: what a home checks first (``GET /``), a challenge, then ``POST /enroll`` with an
invite code and the identity's signature over the challenge."""

from __future__ import annotations

import base64
import secrets
import sqlite3

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

import homeport
from homeport.core.canonical import canonical
from homeport.core.identity import IdentityError, current_key
from homeport.crypto.signing import verify as verify_signature
from homeport.provider import activitypub
from homeport.provider.api.context import Provider, in_thread
from homeport.provider.api.http import MAX_JSON, json_of, read_body
from homeport.provider.api.signed import wrong_audience
from homeport.provider.db import DELETED, ProviderStateError
from homeport.provider.errors import ProviderError
from homeport.provider.tenants import TenantDir, valid_name
from homeport.store.connection import IntegrityError
from homeport.sync.auth import PROTOCOL, AudienceError, check_audience

CHALLENGE_MS = 5 * 60 * 1000
MAX_CHALLENGES = 10_000


async def info(request: Request, provider: Provider) -> Response:
    """What a home checks before enrolling: that this is a provider, and which protocol."""
    return JSONResponse(
        {
            "homeport": "provider",
            "protocol": PROTOCOL,
            "version": homeport.__version__,
            "base_domain": provider.settings.base_domain,
            "box_key": activitypub.box_key(request.app.state.ports),
        }
    )


async def challenge(request: Request, provider: Provider) -> Response:
    now = provider.clock()
    if await provider.query(provider.db.challenges_pending, now) >= MAX_CHALLENGES:
        raise ProviderError(429, "busy", "too many enrollments in progress: try again shortly")
    value = secrets.token_urlsafe(32)
    await provider.query(provider.db.add_challenge, value, now + CHALLENGE_MS, now)
    return JSONResponse({"challenge": value, "expires": now + CHALLENGE_MS})


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return b""


async def enroll(request: Request, provider: Provider) -> Response:
    doc = json_of(await read_body(request, MAX_JSON))
    try:
        code, value, key, sig = (str(doc[k]) for k in ("code", "challenge", "key", "sig"))
        did = str(doc["identity"]["did"])
        operations = list(doc["identity"]["operations"])
    except (KeyError, TypeError):
        raise ProviderError(
            400, "bad-request", "enroll needs code, challenge, name, identity, key and sig"
        ) from None
    aud = None if doc.get("audience") is None else str(doc["audience"])
    try:
        check_audience(aud, provider.audiences(request))
    except AudienceError as exc:
        raise wrong_audience(exc) from None
    now = provider.clock()
    invite = await provider.query(provider.db.invite, code)
    if invite is None or invite.used_by is not None or invite.expires < now:
        raise ProviderError(403, "bad-invite", "this enrollment code is unknown, used or expired")
    if not await provider.query(provider.db.take_challenge, value, now):
        raise ProviderError(401, "bad-challenge", "the challenge is unknown, used or expired")
    try:
        in_force = current_key(did, operations, verify_signature)
    except IdentityError as exc:
        raise ProviderError(
            400, "bad-identity", f"the identity log does not verify: {exc}"
        ) from None
    proof = {"audience": aud, "challenge": value, "code": code, "did": did}
    signed = canonical({**proof, "purpose": "enroll"})
    if key not in (in_force, did) or not verify_signature(key, signed, _unb64(sig)):
        raise ProviderError(401, "bad-signature", "the enrollment is not signed by this identity")
    name = (invite.name or str(doc.get("name") or "")).strip().lower()
    if not name:
        raise ProviderError(400, "bad-name", "choose a site name: it becomes <name>.<domain>")
    if not valid_name(name):
        raise ProviderError(400, "bad-name", f"{name!r} cannot be a site name (letters, digits, -)")
    existing = await provider.query(provider.db.tenant_by_did, did)
    if existing is not None and existing.state != DELETED:
        raise ProviderError(
            409, "already-enrolled", f"this identity is already tenant {existing.name}"
        )
    taken = await provider.query(provider.db.tenant, name)
    if taken is not None and not (taken.state == DELETED and taken.did == did):
        raise ProviderError(409, "name-taken", f"the name {name} is taken: choose another")
    try:
        await provider.query(provider.db.enroll, code, name, did, operations, invite.quota, now)
    except ProviderStateError:
        raise ProviderError(403, "bad-invite", "this enrollment code was just used") from None
    except (sqlite3.IntegrityError, IntegrityError) as exc:  # the name was taken meanwhile
        raise ProviderError(409, "name-taken", f"the name {name} is taken: {exc}") from None
    tdir = TenantDir.of(
        provider.settings.data_dir, name, provider.db.repositories, provider.db.objects
    )

    def prepare() -> None:
        tdir.remove()  # anything a deleted tenant of that name left
        provider.sites.drop(name)
        tdir.create_repo()

    await in_thread(prepare)
    body = {"tenant": name, "site": provider.site_url(name), "quota": invite.quota}
    return JSONResponse(body, 201)
