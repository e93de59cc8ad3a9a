"""The Passkeys page (``/admin/passkeys``): add a passkey for logging in to this home without
the password, see and remove them. Offered on the login page when ``signin_passkey`` is on
(``plugins/connectors/passkey.py``); a passkey is bound to the host this page is open on.
A hosted home signed up for with a passkey starts here (``gui.hosted``): its first passkey
opens the rest of the GUI and leads to the editor.
"""

from __future__ import annotations

import secrets

from starlette.responses import Response

from homeport import jsonio
from homeport.gui import state, uploads
from homeport.gui.pages import PREFIX, Page, page
from homeport.interop.indieauth import passkeys as pk
from homeport.plugins.connectors import passkey
from homeport.web.auth import CONNECTORS
from homeport.web.bodies import BodyTooLarge, read_limited

CHALLENGE = "passkey_challenge"
"""The session's pending registration challenge (spent by the next add)."""
MAX_BODY = 64 * 1024


def _offered(p: Page) -> bool:
    return "passkey" in (p.ctx.caches.get(CONNECTORS) or {})


async def _page(p: Page, status: int = 200, error: str | None = None) -> Response:
    here = passkey.origin(p.request)
    return p.render("passkeys.html", status, error=error, offered=_offered(p),
                    passkeys=await passkey.stored(p.ctx), rp_id=pk.rp_id(here),
                    first=state.passkey_pending(p.ctx),
                    ip_host=not any(c.isalpha() for c in pk.rp_id(here)))


@page()
async def index(p: Page) -> Response:
    return await _page(p)


@page()
async def options(p: Page) -> Response:
    """Registration options for the page's script; the challenge waits in the session."""
    challenge = secrets.token_bytes(32)
    p.session.secrets[CHALLENGE] = pk.b64(challenge)
    made = pk.registration_options(passkey.origin(p.request), "owner", challenge)
    return p.json(jsonio.loads(made))


@page()
async def add(p: Page) -> Response:
    try:
        data = jsonio.loads_untrusted(await read_limited(p.request, MAX_BODY))
    except (BodyTooLarge, ValueError):
        data = None
    challenge = p.session.secrets.pop(CHALLENGE, None)
    if not isinstance(data, dict) or not isinstance(challenge, str):
        return p.json({"error": "Start again: press Add a passkey."}, 400)
    try:
        made = pk.verify_registration(jsonio.dumps_text(data.get("credential")),
                                      passkey.origin(p.request), pk.unb64(challenge))
    except pk.PasskeyError as exc:
        return p.json({"error": str(exc)}, 400)
    label = " ".join(str(data.get("label") or "").split())[:80] or "Passkey"
    await passkey.add(p.ctx, made, label)
    if state.passkey_pending(p.ctx):
        state.passkey_made(p.ctx)
        p.flash(f"Your home is ready: you log in with the passkey “{label}” on {made.rp_id}. "
                "Post your first note: it goes live on your site within seconds.")
        return p.json({"location": PREFIX + "/notes"})
    p.flash(f"The passkey “{label}” is added: you can log in with it on {made.rp_id}.")
    return p.json({"location": PREFIX + "/passkeys"})


@page()
async def remove(p: Page) -> Response:
    credential = uploads.line(await p.form(), "credential_id", 600)
    if await passkey.remove(p.ctx, credential):
        p.flash("The passkey is removed.")
    return p.redirect(PREFIX + "/passkeys")


__all__ = ["add", "index", "options", "remove"]
