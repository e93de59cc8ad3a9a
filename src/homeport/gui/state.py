"""Where the home stands for the GUI: is the first-run wizard still needed?"""

from __future__ import annotations

from homeport.services import identity
from homeport.services.context import Context

DONE = "gui_setup_done"


async def setup_needed(ctx: Context) -> bool:
    """True until the wizard has made the identity; cached once done (it never undoes)."""
    if ctx.caches.get(DONE):
        return False
    if identity.exists(ctx.settings.data_dir):
        ctx.caches[DONE] = True
        return False
    return True
