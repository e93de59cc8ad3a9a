"""The dashboard: entries, storage used, last build, and what needs attention."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from starlette.responses import Response

from homeport.content import sites
from homeport.gui import autopublish, site
from homeport.gui.pages import Page, page

LABELS = {"article": "Articles", "note": "Notes", "photo": "Photos", "paper": "Papers",
          "album": "Albums", "page": "Pages", "bookmark": "Bookmarks", "file": "Files"}
NEW = [("Article", "/write/new"), ("Note", "/notes"), ("Photos", "/media"),
       ("Paper", "/papers"), ("Page", "/pages/new"), ("Album", "/albums/new"),
       ("Bookmark", "/bookmarks/new"), ("File", "/files/new")]


@page()
async def dashboard(p: Page) -> Response:
    name = await site.require(p.ctx)
    entries = await sites.list_entries(p.ctx, name)
    counts = Counter(e.type for e in entries)
    drafts = [e for e in entries if e.data.get("draft")]
    attention: list[tuple[str, str]] = []
    if p.session.secrets.get("phrase"):
        attention.append(("Confirm your recovery phrase (your only way back in)", "/setup/phrase"))
    built = await site.last_build(p.ctx)
    changed = max((int(e.data.get("last_modified", 0)) for e in entries), default=0)
    if built is None or changed > int(built["at"]):
        attention.append(("The preview is older than your latest changes: update it", "#build"))
    for e in drafts[:5]:
        label = str(e.data.get("title") or e.data.get("text") or e.data.get("alt") or e.type)
        attention.append((f"Draft {e.type}: {label[:50]}", _edit_link(e)))
    used = await asyncio.to_thread(site.storage_used, p.ctx)
    settings = await sites.get_site(p.ctx, name)
    if not settings.get("description"):
        attention.append(("Add a short description of your site (search engines show it)",
                          "/settings"))
    recent = entries[:8]
    names = await sites.list_sites(p.ctx)
    live = await asyncio.to_thread(_live_where, p, changed)
    publishing = autopublish.view(p.ctx, await asyncio.to_thread(autopublish.enrolled, p.ctx))
    return p.render("dashboard.html", site=name, sites=names, new=NEW, settings=settings,
                    live=live,
                    counts=counts, labels=LABELS,
                    drafts=len(drafts), used=used, built=built, attention=attention,
                    recent=recent, edit_link=_edit_link,
                    autopublish=publishing)


def _edit_link(entry: sites.Entry) -> str:
    return {
        "article": f"/write/{entry.id}",
        "note": "/notes",
        "photo": f"/media/{entry.id}",
        "paper": f"/papers/{entry.id}",
        "page": f"/pages/{entry.id}",
        "album": f"/albums/{entry.id}",
        "bookmark": f"/bookmarks/{entry.id}",
        "file": f"/files/{entry.id}",
    }.get(entry.type, "/")


def _live_where(p: Page, changed: int) -> list[dict[str, Any]]:
    """Where the site is live, from what this home remembers of its last publish to each
    provider (no network: the Providers page asks them); ``behind`` when an entry changed
    since."""
    from homeport.sync import providers  # the sync client is heavy: imported on first use

    try:
        rows = providers.load(p.ctx.settings.data_dir)
    except providers.ProvidersError:
        return []
    return [
        {"url": r["url"], "site": r.get("site"), "last": r.get("last_publish"),
         "behind": not r.get("last_publish") or changed > int(r["last_publish"])}
        for r in rows
    ]
