"""What every entry shares in the GUI: publish, unpublish, delete with undo, and rebuilding the
preview after a change."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from homeport.content import sites
from homeport.content.errors import ContentError
from homeport.content.types import ENTRY_TYPES
from homeport.core.errors import HomeportError
from homeport.gui import site
from homeport.gui.pages import PREFIX, Page, page, safe_next
from homeport.web.hosts import origin_of

LISTS = {"article": "/write", "note": "/notes", "photo": "/media", "paper": "/papers",
         "page": "/pages", "album": "/albums", "bookmark": "/bookmarks", "file": "/files"}
UNDO = "undo"
KEEP_ON_UNDO = ("last_modified", "schema", "id")


def list_url(kind: str) -> str:
    return PREFIX + LISTS.get(kind, "/")


def origin(p: Page) -> str:
    return origin_of(p.request)


async def rebuild(p: Page) -> str | None:
    """Rebuild the preview; a message for the person when it failed (the entry is saved)."""
    try:
        name = await site.require(p.ctx)
        await site.build(p.ctx, f"{origin(p)}/preview/{name}/")
    except HomeportError as exc:
        return f"Saved, but the preview could not be rebuilt: {exc.message}"
    return None


def _kind(p: Page) -> str:
    kind = str(p.request.path_params["kind"])
    if kind not in ENTRY_TYPES:
        raise ContentError(f"unknown entry type {kind!r}")
    return kind


def _back(p: Page, kind: str, form: Any) -> str:
    return safe_next(str(form.get("next") or "")) if form.get("next") else list_url(kind)


async def _set_draft(p: Page, draft: bool) -> Response:
    kind = _kind(p)
    name = await site.require(p.ctx)
    entry_id = str(p.request.path_params["id"])
    form = await p.form()
    changes: dict[str, Any] = {"draft": draft}
    if not draft:
        changes["published"] = sites.now_iso(p.ctx)
        changes["was_published"] = True
    entry = await sites.update_entry(p.ctx, name, kind, entry_id, changes)
    problem = await rebuild(p)
    label = _label(kind, entry.data)
    p.flash(problem or (f"Published “{label}”." if not draft else f"“{label}” is a draft again."))
    return p.redirect(_back(p, kind, form))


@page()
async def publish(p: Page) -> Response:
    return await _set_draft(p, False)


@page()
async def unpublish(p: Page) -> Response:
    return await _set_draft(p, True)


def _label(kind: str, data: dict[str, Any]) -> str:
    text = str(data.get("title") or data.get(ENTRY_TYPES[kind].title_field) or kind)
    return text if len(text) <= 40 else text[:39] + "…"


@page()
async def delete(p: Page) -> Response:
    """Delete now, keep the entry in this session so one click brings it back."""
    kind = _kind(p)
    name = await site.require(p.ctx)
    entry_id = str(p.request.path_params["id"])
    entry = await sites.get_entry(p.ctx, name, kind, entry_id)
    form = await p.form()
    await sites.delete_entry(p.ctx, name, kind, entry_id)
    data = {k: v for k, v in entry.data.items() if k not in KEEP_ON_UNDO}
    p.session.secrets[UNDO] = {"kind": kind, "data": data, "label": _label(kind, entry.data)}
    problem = await rebuild(p)
    if problem:
        p.flash(problem)
    target = list_url(kind) if form.get("next") in (None, "") else _back(p, kind, form)
    return p.redirect(target)


@page()
async def undo(p: Page) -> Response:
    kept = p.session.secrets.pop(UNDO, None)
    if not kept:
        p.flash("There is nothing to undo.")
        return p.redirect(PREFIX + "/")
    name = await site.require(p.ctx)
    try:
        await sites.add_entry(p.ctx, name, kept["kind"], kept["data"])
    except HomeportError:
        p.session.secrets[UNDO] = kept
        raise
    problem = await rebuild(p)
    p.flash(problem or f"Restored “{kept['label']}”.")
    return p.redirect(list_url(kept["kind"]))


@page()
async def build_now(p: Page) -> Response:
    problem = await rebuild(p)
    p.flash(problem or "The preview is up to date.")
    return p.redirect(PREFIX + "/")
