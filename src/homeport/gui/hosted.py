"""A hosted home's welcome: the provider's sign-up sends the new owner here, logged in.

The sign-up runs at the provider's own address, so it cannot set this host's session cookie;
it leaves a single-use ticket (its hash, with a short expiry) in the home's data dir instead,
and the person's browser brings the ticket here. Only a hosted home answers; a ticket works
once, within two minutes, and a wrong one changes nothing.
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

from homeport.gui.pages import Page, error_page, page
from homeport.gui.sessions import store_of

TICKET_FILE = "welcome-ticket.json"
TICKET_MS = 2 * 60 * 1000
OWNER = "admin"


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def write_ticket(folder: Path) -> str:
    """A new ticket for ``folder``'s home (the provider's sign-up calls this); its value."""
    ticket = secrets.token_urlsafe(32)
    doc = {"hash": _hash(ticket), "expires": int(time.time() * 1000) + TICKET_MS}
    tmp = folder / f".{TICKET_FILE}.tmp"
    tmp.write_text(json.dumps(doc), "utf-8")
    tmp.chmod(0o600)
    tmp.replace(folder / TICKET_FILE)
    return ticket


def take_ticket(folder: Path, ticket: str, now_ms: int) -> bool:
    """True once for the right ticket in time; the ticket is gone afterwards either way."""
    path = folder / TICKET_FILE
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    if not hmac.compare_digest(str(doc.get("hash", "")), _hash(ticket)):
        return False
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    expires = doc.get("expires")
    return isinstance(expires, int) and now_ms < expires


@page(login=False)
async def welcome(p: Page) -> Response:
    ticket = p.request.query_params.get("ticket", "")
    folder = p.ctx.settings.data_dir
    if not p.ctx.settings.hosted or not ticket or not take_ticket(folder, ticket, p.now):
        return error_page(
            p, 403, "This link has already been used",
            "Welcome links work once, for two minutes. Log in with the password you chose "
            "when you signed up.",
        )
    store = store_of(p.ctx)
    p.replace_session(store.login(p.session, OWNER, p.now))
    # A page that moves on by itself, not a redirect: the browser came here from the
    # provider's address, and through a redirect the session cookie (SameSite=Strict) would
    # not yet be sent to the next page; a navigation this page starts is same-site.
    response = p.render("welcome.html")
    p.flash("Your home is ready, and your recovery phrase is confirmed. Post your first note: "
            "it goes live on your site within seconds.")
    return response
