"""Where the home stands for the GUI: is the first-run wizard still needed?"""

from __future__ import annotations

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
