"""A hosted home's welcome: the provider's sign-up sends the new owner here, logged in.

The sign-up runs at the provider's own address, so it cannot set this host's session cookie;
it leaves a single-use ticket (its hash, with a short expiry) in the home's data dir instead,
and the person's browser brings the ticket here. Only a hosted home answers; a ticket works
once, within two minutes, and a wrong one changes nothing.

A sign-up that chose a passkey leaves the home with no password: its passkey has to be made
here, on the home's own origin (a passkey made on the provider's address would be for the wrong
relying party). Its ticket logs the person in and sends them to the Passkeys page, and it stays
good (for the sign-up's hour) until the first passkey is made, so someone who leaves before that
can come back through the same link; meanwhile the GUI shows only that page
(``state.passkey_pending``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path

from starlette.responses import Response

from homeport.gui.pages import PREFIX, Page, error_page, page
from homeport.gui.sessions import store_of
from homeport.gui.state import TICKET_FILE

TICKET_MS = 2 * 60 * 1000
PASSKEY_TICKET_MS = 60 * 60 * 1000
"""A passkey sign-up's ticket lasts as long as its sign-up page did."""
OWNER = "admin"


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def write_ticket(folder: Path, passkey: bool = False) -> str:
    """A new ticket for ``folder``'s home (the provider's sign-up calls this); its value.
    ``passkey``: the home has no password, and the ticket lasts until its passkey is made."""
    ticket = secrets.token_urlsafe(32)
    lasts = PASSKEY_TICKET_MS if passkey else TICKET_MS
    doc = {"hash": _hash(ticket), "expires": int(time.time() * 1000) + lasts,
           "passkey": passkey}
    tmp = folder / f".{TICKET_FILE}.tmp"
    tmp.write_text(json.dumps(doc), "utf-8")
    tmp.chmod(0o600)
    tmp.replace(folder / TICKET_FILE)
    return ticket


def take_ticket(folder: Path, ticket: str, now_ms: int) -> str | None:
    """For the right ticket in time, what the home logs in with (``"password"``: the ticket is
    gone afterwards, either way; ``"passkey"``: it stays until the passkey is made); else None."""
    path = folder / TICKET_FILE
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    if not hmac.compare_digest(str(doc.get("hash", "")), _hash(ticket)):
        return None
    expires = doc.get("expires")
    in_time = isinstance(expires, int) and now_ms < expires
    if doc.get("passkey") is True:
        return "passkey" if in_time else None
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return "password" if in_time else None


@page(login=False)
async def welcome(p: Page) -> Response:
    ticket = p.request.query_params.get("ticket", "")
    folder = p.ctx.settings.data_dir
    kind = take_ticket(folder, ticket, p.now) if p.ctx.settings.hosted and ticket else None
    if kind is None:
        return error_page(
            p, 403, "This link has already been used",
            "Welcome links work once, for two minutes (an hour, until its passkey is made, "
            "after a sign-up with a passkey). Log in with the password or passkey you chose "
            "when you signed up.",
        )
    store = store_of(p.ctx)
    p.replace_session(store.login(p.session, OWNER, p.now))
    # A page that moves on by itself, not a redirect: the browser came here from the
    # provider's address, and through a redirect the session cookie (SameSite=Strict) would
    # not yet be sent to the next page; a navigation this page starts is same-site.
    if kind == "passkey":
        response = p.render("welcome.html", then=PREFIX + "/passkeys")
        p.flash("Your recovery phrase is confirmed. One step left: make the passkey you will "
                "log in with. Your home has no password, so it opens only after this.")
        return response
    response = p.render("welcome.html", then=PREFIX + "/notes")
    p.flash("Your home is ready, and your recovery phrase is confirmed. Post your first note: "
            "it goes live on your site within seconds.")
    return response
