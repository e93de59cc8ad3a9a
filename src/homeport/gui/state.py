"""Where the home stands for the GUI: is the first-run wizard still needed, and (a hosted
home signed up for with a passkey) is its passkey still to be made?"""

from __future__ import annotations

import contextlib
import json

from homeport.content import sites
from homeport.services import identity
from homeport.services.context import Context

DONE = "gui_setup_done"


async def setup_needed(ctx: Context) -> bool:
    """True until the home has an identity and a site (the wizard makes both; ``homeport
    init`` only the first); cached once done, since neither goes away."""
    if ctx.caches.get(DONE):
        return False
    if identity.exists(ctx.settings.data_dir) and await sites.list_sites(ctx):
        ctx.caches[DONE] = True
        return False
    return True


TICKET_FILE = "welcome-ticket.json"
"""A hosted home's welcome ticket (``gui.hosted``), written by the provider's sign-up."""
PASSKEY_DONE = "gui_passkey_done"


def passkey_pending(ctx: Context) -> bool:
    """Whether this hosted home was signed up for with a passkey that is not made yet: then it
    has no password either, and the GUI shows nothing but the Passkeys page until one is.
    Cached once false (a finished home never goes back)."""
    if not ctx.settings.hosted or ctx.caches.get(PASSKEY_DONE):
        return False
    try:
        doc = json.loads((ctx.settings.data_dir / TICKET_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        doc = None
    if isinstance(doc, dict) and doc.get("passkey") is True:
        return True
    ctx.caches[PASSKEY_DONE] = True
    return False


def passkey_made(ctx: Context) -> None:
    """The first passkey is there: the sign-up's ticket is spent and the GUI opens up."""
    with contextlib.suppress(FileNotFoundError):
        (ctx.settings.data_dir / TICKET_FILE).unlink()
    ctx.caches[PASSKEY_DONE] = True
