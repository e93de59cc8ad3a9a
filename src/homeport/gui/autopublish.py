"""Auto-publish as the GUI shows it: on, paused or off, publishing now, changes waiting, the
last publish at each provider and the last error in plain words; and the switch that pauses it.

The auto-publisher itself runs in ``serve`` (``publish/auto.py``); it leaves itself in the
context's caches, which is all this module reads, so showing it imports nothing heavy.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import Response

from homeport.gui.pages import PREFIX, Page, page
from homeport.services.context import Context


def view(ctx: Context, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What the page shows; ``rows`` are the enrolled providers (``providers.json``)."""
    publisher = ctx.caches.get("autopublisher")
    state: dict[str, Any] = (
        publisher.view()
        if publisher is not None
        else {"enabled": ctx.settings.auto_publish, "paused": False, "starting": True}
    )
    known = state.get("providers", {})
    if rows is not None:
        state["enrolled"] = len(rows)
        merged = {}
        for row in rows:  # the last publish by anyone (the CLI too) is in providers.json
            mine = known.get(row["url"], {})
            last = row.get("last_publish") or 0
            failed = mine.get("ok") is False and (mine.get("at") or 0) >= last
            merged[row["url"]] = {
                "site": row.get("site"),
                "at": max(mine.get("at") or 0, last) or None,
                "ok": not failed,
                "error": mine.get("error") if failed else None,
            }
        state["providers"] = merged
    state["summary"] = _summary(state)
    return state


def live_at(ctx: Context, resource: str, parent: str, last_modified: int) -> dict[str, bool]:
    """Per provider, whether a change stamped ``last_modified`` in the ``(resource, parent)``
    list is live there (empty while auto-publish has not run): for the editor's "live at"."""
    publisher = ctx.caches.get("autopublisher")
    return {} if publisher is None else dict(publisher.live_at(resource, parent, last_modified))


def _summary(state: dict[str, Any]) -> str:
    """One word for the state (the page's styling and tests key on it)."""
    if not state.get("enabled"):
        return "off"
    if state.get("enrolled") == 0:
        return "no-provider"
    if state.get("paused"):
        return "paused"
    if state.get("publishing"):
        return "publishing"
    if state.get("last_error") and state.get("pending"):
        return "retrying"
    if state.get("pending"):
        return "pending"
    if state.get("starting"):
        return "starting"
    return "up-to-date"


def say(outcome: Any) -> str:
    """A provider's failure in the GUI's words (``wording.py``), for the auto-publisher."""
    from homeport.gui import wording  # the sync client: only once a publish has failed
    from homeport.sync.client import ProviderError

    if isinstance(outcome.cause, ProviderError):
        return wording.provider_problem(outcome.cause)
    return str(outcome.error or "")


def enrolled(ctx: Context) -> list[dict[str, Any]]:
    """The enrolled providers (none when the list cannot be read)."""
    if not (ctx.settings.data_dir / "providers.json").exists():
        return []
    from homeport.sync import providers  # the sync client, only once there is a provider

    try:
        return providers.load(ctx.settings.data_dir)
    except providers.ProvidersError:
        return []


@page()
async def status(p: Page) -> Response:
    """The state as JSON, for the page's script."""
    return p.json(view(p.ctx, await asyncio.to_thread(enrolled, p.ctx)))


@page()
async def switch(p: Page) -> Response:
    """Pause or resume auto-publish (remembered across restarts)."""
    form = await p.form()
    paused = form.get("paused") == "1"
    publisher = p.ctx.caches.get("autopublisher")
    if publisher is None or not p.ctx.settings.auto_publish:
        p.flash("Automatic publishing is off in the settings (auto_publish = false).")
    else:
        publisher.set_paused(paused)  # a tiny local file, and the wake-up is the loop's own
        p.flash(
            "Automatic publishing is paused: changes wait until you publish or resume."
            if paused
            else "Automatic publishing is on: changes go live within seconds."
        )
    back = form.get("back")
    return p.redirect(PREFIX + ("/" if back == "dashboard" else "/providers"))
