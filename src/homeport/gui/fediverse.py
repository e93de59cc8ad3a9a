"""The Fediverse page: who follows the site (approve, remove, block), the site's address
there, and liking, boosting or replying to someone's post by its URL. Replies, likes and
boosts the site received are moderated on the Responses page, with webmentions.

What the owner decides is written at home first (``content/followers.py``), then handed to
the providers (``sync/fediverse.py``); a provider that cannot be reached is named in the
message, and the home's copy stays as decided.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from starlette.responses import Response

from homeport.content import followers, mentions
from homeport.core.errors import HomeportError
from homeport.gui import site
from homeport.gui.pages import PREFIX, Page, page
from homeport.interop.activitypub import send as sending
from homeport.render import activitypub as ap
from homeport.render.urls import web_address
from homeport.sync import fediverse as tell

HERE = PREFIX + "/fediverse"


def _handle(address: str, username: object) -> str:
    host = (urlsplit(address).hostname or "").lower()
    chosen = str(username) if isinstance(username, str) else None
    user = ap.username_for(ap.Profile(username=chosen), address)
    return f"@{user}@{host}" if host else ""


@page()
async def index(p: Page) -> Response:
    name = await site.require(p.ctx)
    rows = await followers.list_followers(p.ctx, name)
    for row in rows:
        row["link"] = web_address(row.get("actor")) or ""
    pending = [r for r in rows if r.get("state") == followers.PENDING]
    accepted = [r for r in rows if r.get("state") == followers.ACCEPTED]
    settings = await site_settings(p, name)
    raw = settings.get("fediverse")
    fedi = raw if isinstance(raw, dict) else {}
    handles = [_handle(address, fedi.get("username")) for _, address in
               await asyncio.to_thread(tell.addresses, p.ctx.settings)]
    responses = [m for m in await mentions.list_mentions(p.ctx)
                 if m.get("status") == mentions.PENDING]
    return p.render("fediverse.html", pending=pending, accepted=accepted,
                    blocked=await followers.blocked(p.ctx, name), handles=handles,
                    waiting=len(responses), kinds=sending.KINDS)


async def site_settings(p: Page, name: str) -> dict[str, Any]:
    from homeport.content.types import read_settings

    return dict(await read_settings(p.ctx.store, name))


def _problems(told: list[tell.Told]) -> str:
    failed = [t for t in told if t.error]
    if not failed:
        return ""
    return " " + "; ".join(f"{t.url} did not hear it yet ({t.error})" for t in failed) + "."


async def _decide(p: Page, state: str) -> Response:
    name = await site.require(p.ctx)
    form = await p.form()
    try:
        found = await followers.get_follower(p.ctx, name, str(form.get("id") or ""))
    except HomeportError as exc:
        p.flash(str(exc.message))
        return p.redirect(HERE)
    actor = str(found["actor"])
    if state == followers.ACCEPTED:
        await followers.set_state(p.ctx, name, actor, followers.ACCEPTED)
        done = f"Approved {found.get('handle')}: they now get your new posts."
    else:
        await followers.remove_follower(p.ctx, name, actor)
        done = f"Removed {found.get('handle')}: they no longer get your posts."
    told = await asyncio.to_thread(
        tell.tell, p.ctx.settings, {"decide": {"actor": actor, "state": state}})
    p.flash(done + _problems(told))
    return p.redirect(HERE)


@page()
async def approve(p: Page) -> Response:
    return await _decide(p, followers.ACCEPTED)


@page()
async def remove(p: Page) -> Response:
    return await _decide(p, "removed")


@page()
async def block(p: Page) -> Response:
    """An actor's address or a domain: blocked at home and at every provider."""
    name = await site.require(p.ctx)
    form = await p.form()
    target = str(form.get("target") or "").strip()
    before = {str(r["actor"]) for r in await followers.list_followers(p.ctx, name)}
    try:
        items = await followers.block(p.ctx, name, target)
    except HomeportError as exc:
        p.flash(str(exc.message))
        return p.redirect(HERE)
    told = await asyncio.to_thread(tell.tell, p.ctx.settings, {"blocks": items})
    gone = before - {str(r["actor"]) for r in await followers.list_followers(p.ctx, name)}
    for actor in sorted(gone):
        told += await asyncio.to_thread(
            tell.tell, p.ctx.settings, {"decide": {"actor": actor, "state": "removed"}})
    p.flash(f"Blocked {target}: nothing it sends reaches you." + _problems(told))
    return p.redirect(HERE)


@page()
async def interact(p: Page) -> Response:
    name = await site.require(p.ctx)
    form = await p.form()
    kind = str(form.get("kind") or "")
    url = str(form.get("url") or "").strip()
    text = str(form.get("text") or "")[:5000]
    try:
        p.flash(await sending.send(p.ctx, name, kind, url, text))
    except HomeportError as exc:
        p.flash(str(exc.message))
    return p.redirect(HERE)
