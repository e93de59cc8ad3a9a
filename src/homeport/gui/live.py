"""Where an entry is live: per provider, its address there, or why it is not on the web.

The editor shows this after a save or Publish, so "Publish" has one meaning the owner can
check. It reads only what this home knows (``providers.json`` and the auto-publisher's cursors),
never the network: the Providers page asks the providers themselves.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.responses import Response

from homeport.content import sites
from homeport.content.types import ENTRY_TYPES
from homeport.gui import autopublish, site
from homeport.gui.pages import PREFIX, Page, page

EDIT_PATHS = {"article": "/write/", "photo": "/media/", "paper": "/papers/", "page": "/pages/",
              "album": "/albums/", "bookmark": "/bookmarks/", "file": "/files/"}


def remembered(p: Page) -> list[dict[str, Any]]:
    """The providers as this home last heard from them (empty when none or unreadable)."""
    from homeport.sync import providers  # the sync client is heavy: imported on first use

    try:
        return providers.load(p.ctx.settings.data_dir)
    except providers.ProvidersError:
        return []


def _hidden_by_rules(entry: sites.Entry, rules: dict[str, Any]) -> str | None:
    """The provider's rule that leaves this entry out, in words (``render/variants.keeper``)."""
    if entry.type in (rules.get("exclude_types") or ()):
        return f"this provider is set to leave out every {entry.type}"
    tags = set(rules.get("exclude_tags") or ()) & set(entry.data.get("tags") or ())
    if tags:
        return f"this provider is set to leave out entries tagged {', '.join(sorted(tags))}"
    return None


def where(entry: sites.Entry, rows: list[dict[str, Any]],
          covered: dict[str, bool]) -> dict[str, Any]:
    """The editor's "On the web" section for ``entry``: one row per provider with ``state``
    (``live``, ``pending``, ``not-here``) and ``why`` in plain words; ``covered`` says, per
    provider, whether the auto-publisher has this very version live there."""
    changed = int(entry.data.get("last_modified") or 0)
    visibility = str(entry.data.get("visibility") or "public")
    why_not = None
    if entry.data.get("draft"):
        why_not = "it is a draft: press Publish to put it on the web"
    elif visibility == "private":
        why_not = "only you can read it (Who may read it: Only me)"
    out: list[dict[str, Any]] = []
    for row in rows:
        address = str(row.get("site") or "").rstrip("/")
        link = f"{address}{entry.path}" if address else None
        state, why = "live", ""
        last = row.get("last_publish")
        if why_not:
            state, why = "not-here", why_not
        elif reason := _hidden_by_rules(entry, row.get("rules") or {}):
            state, why = "not-here", reason
        elif not address:
            state, why = "not-here", "this provider gave the site no address yet"
        elif covered.get(str(row["url"])) is False or (
            str(row["url"]) not in covered and (not last or changed > int(last))
        ):
            state = "pending"
            why = ("not published there yet" if not last
                   else "this version is not there yet")
        elif visibility != "public":
            why = "members read it there; everyone else sees a teaser"
        out.append({"url": row["url"], "link": link if state != "not-here" else None,
                    "state": state, "why": why})
    return {"rows": out, "pending": any(r["state"] == "pending" for r in out),
            "preview": f"/preview/{entry.site}{entry.path}", "draft": bool(entry.data.get("draft"))}


async def for_entry(p: Page, entry: sites.Entry) -> dict[str, Any]:
    """``where`` for an entry, from this home's files and the running auto-publisher."""
    rows = await asyncio.to_thread(remembered, p)
    parent = f"/buckets/{entry.site}/collections/{ENTRY_TYPES[entry.type].collection}"
    changed = int(entry.data.get("last_modified") or 0)
    covered = autopublish.live_at(p.ctx, "record", parent, changed)
    shown = where(entry, rows, covered)
    shown["auto"] = bool(p.ctx.caches.get("autopublisher")) and p.ctx.settings.auto_publish
    shown["refresh"] = f"{PREFIX}/live/{entry.type}/{entry.id}"
    return shown


@page()
async def fragment(p: Page) -> Response:
    """The section alone, which the editor fetches again while a publish is on its way."""
    name = await site.require(p.ctx)
    kind = str(p.request.path_params["type"])
    if kind not in EDIT_PATHS:
        return p.json({"error": "no such entry type"}, 404)
    entry = await sites.get_entry(p.ctx, name, kind, str(p.request.path_params["id"]))
    return p.render("_entry_live.html", entry=entry, live=await for_entry(p, entry))
