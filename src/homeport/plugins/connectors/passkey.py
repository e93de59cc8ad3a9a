"""The owner's passkeys for the GUI login (``signin_passkey``), over E's WebAuthn code
(``interop/indieauth/passkeys.py``, the ``webauthn`` package).

The owner adds a passkey while logged in (``gui/passkeys.py``); it is bound to the host the GUI
was opened on (``localhost``, ``homeport.local``, a hosted home's name: WebAuthn refuses IP
addresses). Its public key is a record in the private system bucket (collection
``signin-passkeys``), so it moves and restores with the home. Only the logged-in owner adds
them, so whoever signs with one is the owner (``owner_only``): ``signin_owners`` need not name
them. The login's challenge is an HMAC of the sign-in's state, so nothing is kept between the
two steps.
"""

from __future__ import annotations

import hashlib
import hmac
import html
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from homeport import jsonio
from homeport.core.errors import ObjectNotFound
from homeport.interop.indieauth import passkeys as pk
from homeport.plugins.kinds import Identity, SignInFailed
from homeport.services import writes
from homeport.services.context import OWNER, Context
from homeport.services.grants import SYSTEM_BUCKET, ensure_private
from homeport.services.resources import BUCKET, RECORD, find_object, unit_of_work

COLLECTION_NAME = "signin-passkeys"
PARENT = f"/buckets/{SYSTEM_BUCKET}/collections/{COLLECTION_NAME}"
MAX_PASSKEYS = 20
SUBJECT = "owner"


def origin(request: Request) -> str:
    """The origin the browser is on (the ``Host`` is already checked by the allow-list)."""
    return f"{request.url.scheme}://{request.url.netloc}"


async def stored(ctx: Context) -> list[dict[str, Any]]:
    if await find_object(ctx, BUCKET, "", SYSTEM_BUCKET) is None:
        return []
    try:
        rows = await ctx.store.list_all("record", PARENT)
    except ObjectNotFound:
        return []
    return sorted(rows, key=lambda r: (int(r.get("added") or 0), str(r["id"])))


async def add(ctx: Context, key: pk.Passkey, label: str) -> None:
    async with unit_of_work(ctx):
        await ensure_private(ctx, COLLECTION_NAME)
    if len(await stored(ctx)) >= MAX_PASSKEYS:
        raise SignInFailed(f"This home keeps {MAX_PASSKEYS} passkeys at most: remove one",
                           code=400)
    record = {"credential_id": key.credential_id, "public_key": key.public_key,
              "rp_id": key.rp_id, "label": label, "added": ctx.clock()}
    async with unit_of_work(ctx):
        await writes.save(ctx, OWNER, RECORD, PARENT, record_id(key.credential_id), record,
                          None, existing=None, replace_permissions=False)


async def remove(ctx: Context, credential_id: str) -> bool:
    async with unit_of_work(ctx):
        if await find_object(ctx, RECORD, PARENT, record_id(credential_id)) is None:
            return False
        await writes.delete(ctx, OWNER, RECORD, PARENT, record_id(credential_id))
    return True


def record_id(credential_id: str) -> str:
    return hashlib.sha256(credential_id.encode()).hexdigest()[:32]


def keys_of(rows: list[dict[str, Any]]) -> list[pk.Passkey]:
    return pk.from_params({"credentials": rows})


@dataclass
class OwnerPasskeys:
    key: bytes
    """HMAC key of the login challenges (the data dir's sign-in key)."""
    name: str = "passkey"
    title: str = "Sign in with a passkey"
    owner_only: bool = True
    """Every passkey here was added by the logged-in owner: its holder is the owner."""

    def challenge(self, state: str) -> bytes:
        return hmac.digest(self.key, b"homeport-passkey-login:" + state.encode(), "sha256")

    async def begin(self, request: Request, callback_url: str, state: str) -> Response:
        """A page whose script asks the browser for a passkey of this host, then goes to
        the callback with the signed answer."""
        here = origin(request)
        keys = [k for k in keys_of(await stored(request.app.state.ctx))
                if k.rp_id == pk.rp_id(here)]
        if not keys:
            raise SignInFailed(f"No passkey was added for {pk.rp_id(here)} yet: log in with "
                               "the password and add one on the Passkeys page", code=400)
        options = pk.authentication_options(here, keys, self.challenge(state))
        options = options.replace("<", "\\u003c")  # inside <script>: no tag can close it
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width, initial-scale=1'>"
            "<title>Sign in with a passkey · Homeport</title>"
            "<link rel=stylesheet href='/admin/static/admin.css'></head><body><main id=main>"
            "<section class='narrow card'><h1>Sign in with a passkey</h1>"
            "<p id=passkey-status role=status>Use your passkey when the browser asks.</p>"
            f"<p><a href='/admin/login'>Back to the login page</a></p></section></main>"
            f"<script type=application/json id=passkey-options>"
            f"{options}</script>"
            f"<div id=passkey-login data-callback='{html.escape(callback_url)}' "
            f"data-state='{html.escape(state)}'></div>"
            "<script src='/admin/static/passkeys.js' defer></script></body></html>")
        return HTMLResponse(page)

    async def complete(self, request: Request, callback_url: str, state: str) -> Identity:
        params = request.query_params
        if params.get("state") != state:
            raise SignInFailed("This sign-in was not started here (its state does not match)")
        try:
            credential = jsonio.loads_untrusted(params.get("credential", "").encode())
        except ValueError:
            raise SignInFailed("The browser sent no passkey answer") from None
        keys = keys_of(await stored(request.app.state.ctx))
        try:
            pk.verify_assertion(credential, origin(request), keys, self.challenge(state))
        except pk.PasskeyError as exc:
            raise SignInFailed(f"The passkey does not hold: {exc}") from None
        return Identity(self.name, SUBJECT)

    async def authenticate(self, token: str) -> Identity | None:
        """No bearer tokens: passkeys sign in to the GUI only."""
        return None
