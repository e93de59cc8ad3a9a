"""The media library: photo entries in a grid, multi-file upload, editing alt text and caption."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from homeport.content import sites
from homeport.content.errors import ContentError, MediaError
from homeport.core.errors import HomeportError
from homeport.gui import live, site, uploads
from homeport.gui.entries import rebuild
from homeport.gui.pages import PREFIX, Page, page


@page()
async def index(p: Page) -> Response:
    name = await site.require(p.ctx)
    photos = await sites.list_entries(p.ctx, name, "photo")
    return p.render("media.html", photos=photos)


@page()
async def upload(p: Page) -> Response:
    """One photo per request (the page sends each file on its own, with its progress)."""
    form = await p.form()
    found = uploads.files(form, "file")
    alt = uploads.line(form, "alt", 1000)
    if not found:
        raise MediaError("No file arrived; choose the photo again.")
    if not alt:
        raise MediaError(f"Describe {found[0].filename} in a few words (alt text).")
    upload_ = await uploads.read(p.ctx, found[0], alt)
    fields: dict[str, Any] = {"alt": alt, "draft": form.get("publish") != "on"}
    caption = uploads.text(form, "caption", 5000)
    if caption:
        fields["caption"] = caption
    name = await site.require(p.ctx)
    entry = await sites.add_entry(p.ctx, name, "photo", fields, {"image": upload_})
    return p.json({"id": entry.id, "edit": f"{PREFIX}/media/{entry.id}"})


@page()
async def uploaded(p: Page) -> Response:
    """After a batch of uploads: rebuild once, then back to the grid."""
    problem = await rebuild(p)
    if problem:
        p.flash(problem)
    return p.redirect(PREFIX + "/media")


@page()
async def edit(p: Page) -> Response:
    name = await site.require(p.ctx)
    entry = await sites.get_entry(p.ctx, name, "photo", str(p.request.path_params["id"]))
    return p.render("photo.html", entry=entry, error=None, live=await live.for_entry(p, entry))


@page()
async def save(p: Page) -> Response:
    name = await site.require(p.ctx)
    entry_id = str(p.request.path_params["id"])
    form = await p.form()
    alt = uploads.line(form, "alt", 1000)
    changes = {"alt": alt, "caption": uploads.text(form, "caption", 5000),
               "title": uploads.line(form, "title")}
    try:
        if not alt:
            raise ContentError("Describe the photo in a few words (alt text).")
        entry = await sites.get_entry(p.ctx, name, "photo", entry_id)
        image = {**entry.data["image"], "alt": alt}
        await sites.update_entry(p.ctx, name, "photo", entry_id, {**changes, "image": image})
    except HomeportError as exc:
        entry = await sites.get_entry(p.ctx, name, "photo", entry_id)
        shown = type(entry)(entry.site, entry.type, entry.id, {**entry.data, **changes})
        return p.render("photo.html", exc.code, entry=shown, error=exc.message)
    problem = await rebuild(p)
    p.flash(problem or "Saved.")
    return p.redirect(PREFIX + "/media")
