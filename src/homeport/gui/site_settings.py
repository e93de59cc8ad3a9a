"""Site settings: title, description, author, avatar, theme, navigation, domains, and
donation links and a Web Monetization wallet (``content/support.py``)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from starlette.responses import Response

from homeport.content import media, sites, support
from homeport.content.errors import ContentError
from homeport.core.errors import HomeportError
from homeport.gui import site, uploads
from homeport.gui.entries import rebuild
from homeport.gui.pages import PREFIX, Page, page
from homeport.services import autostart

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def navigation_text(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"{i.get('title', '')} | {i.get('url', '')}" for i in items)


def _navigation(raw: str) -> list[dict[str, str]]:
    items = []
    for number, row in enumerate(raw.splitlines(), 1):
        if not row.strip():
            continue
        title, sep, url = row.partition("|")
        title, url = " ".join(title.split()), url.strip()
        if not sep or not title or not url:
            raise ContentError(f"Navigation line {number}: write it as “Title | /address/”.")
        if not url.startswith(("/", "https://", "http://")):
            raise ContentError(f"Navigation line {number}: the address starts with / or https://.")
        items.append({"title": title[:300], "url": url[:2000]})
    return items


def donations_text(items: list[dict[str, Any]]) -> str:
    return "\n".join(f"{i.get('title', '')} | {i.get('url', '')}" for i in items)


def _donations(raw: str) -> list[dict[str, str]]:
    """One link a line: ``Title | https://…`` or just the address (the title is then the
    platform's name)."""
    rows = []
    for row in raw.splitlines():
        if row.strip():
            title, sep, url = row.partition("|")
            rows.append((title, url) if sep else ("", title))
    return support.donation_links(rows)


def _domains(raw: str) -> list[str]:
    found: list[str] = []
    for item in raw.replace(",", "\n").split():
        domain = item.strip().lower().removeprefix("https://").removeprefix("http://").rstrip("/")
        if not DOMAIN.match(domain):
            raise ContentError(f"{item} is not a domain name (like example.org).")
        if domain not in found:
            found.append(domain)
    return found


async def _form(p: Page, status: int = 200, values: Any = None, error: str | None = None,
                nav: str | None = None) -> Response:
    name = await site.require(p.ctx)
    settings = values or await sites.get_site(p.ctx, name)
    if nav is None:
        nav = navigation_text(settings.get("navigation", []))
    spot = autostart.for_this_computer(p.ctx.settings.data_dir)
    gifts = settings.get("donations_text")
    if gifts is None:
        gifts = donations_text(settings.get("donations") or [])
    return p.render("settings.html", status, site=name, values=settings, error=error,
                    themes=site.themes(), navigation=nav, donations=gifts,
                    lan=p.ctx.settings.lan_access,
                    port=p.ctx.settings.port, autostart_supported=spot.supported,
                    autostart_on=autostart.installed(spot))


@page()
async def index(p: Page) -> Response:
    return await _form(p)


@page()
async def save(p: Page) -> Response:
    name = await site.require(p.ctx)
    form = await p.form()
    current = await sites.get_site(p.ctx, name)
    changes: dict[str, Any] = {
        "title": uploads.line(form, "title"),
        "description": uploads.text(form, "description", 2000),
        "author": uploads.line(form, "author"),
        "theme": uploads.line(form, "theme", 64),
        "keep_location": form.get("keep_location") == "on",
    }
    try:
        if not changes["title"]:
            raise ContentError("The site needs a title.")
        changes["navigation"] = _navigation(str(form.get("navigation") or ""))
        changes["domains"] = _domains(str(form.get("domains") or ""))
        changes["donations"] = _donations(str(form.get("donations") or ""))
        changes["monetization"] = support.wallet_address(str(form.get("monetization") or ""))
        avatar = uploads.files(form, "avatar")
        if avatar:
            upload = await uploads.read(p.ctx, avatar[0], changes["author"] or changes["title"])
            changes["avatar"] = media.store_image(p.ctx, upload)
        await sites.update_site(p.ctx, name, changes)
    except HomeportError as exc:
        shown = {**current, **changes, "domains": str(form.get("domains") or "").split(),
                 "donations_text": str(form.get("donations") or ""),
                 "monetization": str(form.get("monetization") or "")}
        nav = str(form.get("navigation") or "")
        return await _form(p, exc.code, shown, exc.message, nav)
    problem = await rebuild(p)
    p.flash(problem or "Settings saved.")
    return p.redirect(PREFIX + "/settings")


@page()
async def start_at_login(p: Page) -> Response:
    """The switch for ``homeport install-service``: on, the home starts at every login."""
    form = await p.form()
    spot = autostart.for_this_computer(p.ctx.settings.data_dir)
    try:
        if form.get("on") == "1":
            # this home is running (it answers this page): from the next login on
            await asyncio.to_thread(autostart.install, spot, False)
            p.flash("Homeport will start by itself each time you log in to this computer.")
        else:
            await asyncio.to_thread(autostart.remove, spot)
            p.flash("Homeport will no longer start by itself; open it from its launcher.")
    except (autostart.AutostartError, OSError) as exc:
        return await _form(p, 400, error=f"That did not work: {exc}")
    return p.redirect(PREFIX + "/settings#start-h")


@page()
async def switch_site(p: Page) -> Response:
    """Choose the site every screen edits, or make a new one (given a title)."""
    form = await p.form()
    chosen = uploads.line(form, "site", 64)
    names = await sites.list_sites(p.ctx)
    if chosen:
        if chosen not in names:
            raise ContentError(f"There is no site called {chosen!r}.")
    else:
        title = uploads.line(form, "title")
        if not title:
            raise ContentError("Give the new site a title.")
        current = await sites.get_site(p.ctx, await site.require(p.ctx))
        chosen = site.site_name_for(title)
        while chosen in names:
            chosen = f"{chosen[:58]}-{len(names) + 1}"
            names.append(chosen)
        await sites.create_site(p.ctx, chosen, title, str(current.get("theme") or "journal"),
                                settings={"author": current.get("author") or ""})
    p.ctx.caches[site.CURRENT] = chosen
    p.flash(f"Now editing {chosen}.")
    return p.redirect(PREFIX + "/")
