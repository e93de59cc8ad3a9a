"""Members' passkeys at the provider (WebAuthn through ``indieauth/passkeys.py``).

A member signed in by email link registers a passkey for this site host; the credential's
public key goes home through the inbox (kind ``members.passkey``, sealed to the home like every
body), the home adds it to the member and the next publish carries it in the entitlements, so
every provider of the site can check it; this provider remembers it too, so it signs in here at
once (``ports.Members.remember_passkey``). Signing in with it asks for any passkey of this host
(a discoverable credential), finds it in the entitlements and opens a session for the member's
address hash: a provider where the member never gave their address does not learn it.

Each ceremony's challenge travels in a ``state`` sealed with this provider's key and is good
once, for five minutes, on the host it was made for.

- ``GET /_homeport/members/account``: who is signed in, *Add a passkey*, *Sign out*;
- ``GET /_homeport/members/passkey.js``: the pages' WebAuthn script;
- ``POST /_homeport/members/passkey/register-options`` → ``{"options", "state"}`` (a session);
- ``POST /_homeport/members/passkey/register`` ``{"state", "credential"}`` → ``{"ok": true}``;
- ``POST /_homeport/members/passkey/options`` → ``{"options", "state"}``;
- ``POST /_homeport/members/passkey/signin`` ``{"state", "credential"}`` → ``{"location"}``
  and the session cookie.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
from pathlib import Path
from typing import Any

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route

from homeport import jsonio
from homeport.interop.hosting import ports_of, tenant_of
from homeport.interop.indieauth import passkeys as webauthn_keys
from homeport.interop.members import tokens
from homeport.interop.members.gate import HASHED, PASSKEY_MEMBER, member_tier
from homeport.interop.ports import InboxFull, ProviderPorts, TenantRef
from homeport.web.bodies import BodyTooLarge, read_limited

PASSKEY_KIND = "members.passkey"
"""Inbox kind: a passkey a signed-in member registered. meta: ``{}``; body (for the home
only): ``{"email", "credential_id", "public_key", "rp_id"}``."""
STATE_MS = 5 * 60_000
MAX_BODY = 16_384


def _error(status: int, error: str, text: str) -> JSONResponse:
    return JSONResponse({"code": status, "errno": 107 if status == 400 else 999,
                         "error": error, "message": text}, status,
                        headers={"Cache-Control": "no-store"})


def _answer(doc: dict[str, Any]) -> JSONResponse:
    return JSONResponse(doc, headers={"Cache-Control": "no-store"})


async def _json(request: Request) -> dict[str, Any] | None:
    try:
        doc = jsonio.loads_untrusted(await read_limited(request, MAX_BODY))
    except (BodyTooLarge, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _state(ports: ProviderPorts, host: str, who: str, challenge: bytes, purpose: str) -> str:
    assert ports.once is not None
    nonce = base64.urlsafe_b64encode(challenge).decode().rstrip("=")
    claim = tokens.Claim(host, who, ports.clock() + STATE_MS, "/", nonce)
    return tokens.make(ports.once, purpose, claim)


def _spend(ports: ProviderPorts, state: Any, host: str, purpose: str) -> tokens.Claim | None:
    """The state's claim, spent (a challenge answers once), or None."""
    assert ports.once is not None
    if not isinstance(state, str):
        return None
    claim = tokens.read(ports.once, purpose, state, host, ports.clock())
    if claim is None or not claim.nonce:
        return None
    if not ports.once.first_use(f"members-passkey:{claim.nonce}", claim.expires):
        return None
    return claim


async def _context(request: Request) -> tuple[TenantRef, ProviderPorts, str, str] | Response:
    from homeport.interop.members.signin import host_of, origin_of

    tenant = await tenant_of(request)
    ports = ports_of(request)
    if tenant is None or ports.members is None or ports.once is None:
        return _error(404, "Not Found", "No site with members is served here.")
    return tenant, ports, host_of(request), origin_of(request)


async def register_options(request: Request) -> Response:
    found = await _context(request)
    if isinstance(found, Response):
        return found
    _tenant, ports, host, origin = found
    assert ports.once is not None
    session = tokens.open_session(ports.once, request.cookies.get(tokens.COOKIE, ""), host,
                                  ports.clock())
    if session is None or not session.email or session.email.startswith(HASHED):
        return _error(403, "Forbidden", "Sign in with an email link first.")
    challenge = secrets.token_bytes(32)
    user = hashlib.sha256(f"{host}\n{session.email}".encode()).digest()[:16]
    options = webauthn_keys.member_registration_options(origin, session.email, user, challenge)
    state = _state(ports, host, session.email, challenge, "members_passkey_register")
    return _answer({"options": jsonio.loads(options), "state": state})


async def register(request: Request) -> Response:
    found = await _context(request)
    if isinstance(found, Response):
        return found
    tenant, ports, host, origin = found
    doc = await _json(request)
    if doc is None:
        return _error(400, "Invalid parameters", "Send {\"state\", \"credential\"} as JSON.")
    claim = _spend(ports, doc.get("state"), host, "members_passkey_register")
    if claim is None:
        return _error(400, "Invalid parameters", "That request expired or was used: start "
                      "again.")
    challenge = webauthn_keys.unb64(claim.nonce)
    try:
        key = webauthn_keys.verify_registration(doc.get("credential"), origin, challenge)
    except webauthn_keys.PasskeyError as exc:
        return _error(400, "Invalid parameters", str(exc))
    body = jsonio.dumps({"email": claim.email, "credential_id": key.credential_id,
                         "public_key": key.public_key, "rp_id": key.rp_id})
    item = "passkey-" + hashlib.sha256(key.credential_id.encode()).hexdigest()[:32]
    members = ports.members
    assert members is not None
    try:
        await anyio.to_thread.run_sync(
            lambda: ports.inbox.put(tenant.name, PASSKEY_KIND, {}, body, item_id=item))
    except InboxFull:
        return _error(503, "Service Unavailable", "This site cannot take passkeys right now.")
    await anyio.to_thread.run_sync(lambda: members.remember_passkey(
        tenant.name, claim.email, key.credential_id, key.public_key, key.rp_id))
    return _answer({"ok": True, "message": "Your passkey works here now, and at the site's "
                    "other addresses once the site is published again."})


async def signin_options(request: Request) -> Response:
    found = await _context(request)
    if isinstance(found, Response):
        return found
    _tenant, ports, host, origin = found
    challenge = secrets.token_bytes(32)
    options = webauthn_keys.authentication_options(origin, [], challenge)
    state = _state(ports, host, "", challenge, "members_passkey_signin")
    return _answer({"options": jsonio.loads(options), "state": state})


async def signin(request: Request) -> Response:
    from homeport.interop.members.signin import safe_next

    found = await _context(request)
    if isinstance(found, Response):
        return found
    tenant, ports, host, origin = found
    assert ports.members is not None and ports.once is not None
    doc = await _json(request)
    if doc is None:
        return _error(400, "Invalid parameters", "Send {\"state\", \"credential\"} as JSON.")
    credential = doc.get("credential")
    found_id = credential.get("id") if isinstance(credential, dict) else None
    cid = found_id.rstrip("=") if isinstance(found_id, str) else ""
    known = (await anyio.to_thread.run_sync(ports.members.passkey, tenant.name, cid)
             if cid else None)
    if known is None:
        return _error(403, "Forbidden", "This passkey is not one of this site's members'.")
    claim = _spend(ports, doc.get("state"), host, "members_passkey_signin")
    if claim is None:
        return _error(400, "Invalid parameters", "That request expired or was used: start "
                      "again.")
    hashed, public_key, rp = known
    key = webauthn_keys.Passkey(cid, public_key, rp)
    try:
        webauthn_keys.verify_assertion(credential, origin, [key],
                                       webauthn_keys.unb64(claim.nonce))
    except webauthn_keys.PasskeyError as exc:
        return _error(403, "Forbidden", str(exc))
    who = HASHED + hashed
    if await anyio.to_thread.run_sync(member_tier, ports, tenant.name, who) is None:
        return _error(403, "Forbidden", "This passkey's member is no longer a member.")
    answer = _answer({"location": safe_next(str(doc.get("next") or "/"))})
    answer.set_cookie(tokens.COOKIE, tokens.make_session(ports.once, host, who, ports.clock()),
                      max_age=tokens.SESSION_MS // 1000, path="/", httponly=True,
                      samesite="lax", secure=origin.startswith("https:"))
    return answer


SCRIPT = (Path(__file__).parent / "static" / "passkey.js").read_bytes()


async def script(request: Request) -> Response:
    return Response(SCRIPT, media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=3600"})


def signed_in_as(who: str) -> str:
    """How a page names a session's member: their address, or (signed in by passkey at a
    provider that never learnt it) no name."""
    return PASSKEY_MEMBER if who.startswith(HASHED) else who


async def account(request: Request) -> Response:
    """The signed-in member's page: who they are here, a button to add a passkey for this
    host, and sign-out."""
    from homeport.interop.members.signin import page

    found = await _context(request)
    if isinstance(found, Response):
        return page("Not found", "No site with members is served here.", 404)
    _tenant, ports, host, _origin = found
    assert ports.once is not None
    session = tokens.open_session(ports.once, request.cookies.get(tokens.COOKIE, ""), host,
                                  ports.clock())
    if session is None:
        return page("Not signed in", "Sign in on a members-only page first.", 403)
    who = html.escape(signed_in_as(session.email))
    add = ""
    if not session.email.startswith(HASHED):
        add = ("<p><button type=button data-members-passkey=register hidden>Add a passkey for "
               f"{html.escape(host)}</button> <span class=members-passkey-status "
               "role=status></span></p>")
    body = (f"<!doctype html><html lang=en><meta charset=utf-8><meta name=viewport "
            f"content='width=device-width'><title>Your membership</title><main>"
            f"<h1>Your membership at {html.escape(host)}</h1>"
            f"<p class=members-who>Signed in as <strong>{who}</strong>.</p>{add}"
            "<form method=post action='/_homeport/members/signout'><button>Sign out</button>"
            "</form><p><a href='/'>Back to the site</a></p></main>"
            "<script src='/_homeport/members/passkey.js' defer></script></html>")
    return HTMLResponse(body, headers={"Cache-Control": "private, no-store"})


def provider_routes() -> list[BaseRoute]:
    return [
        Route("/members/passkey.js", script, methods=["GET"]),
        Route("/members/account", account, methods=["GET"]),
        Route("/members/passkey/register-options", register_options, methods=["POST"]),
        Route("/members/passkey/register", register, methods=["POST"]),
        Route("/members/passkey/options", signin_options, methods=["POST"]),
        Route("/members/passkey/signin", signin, methods=["POST"]),
    ]
