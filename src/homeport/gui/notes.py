"""Notes, composed from a single box like a social app: text and up to four photos."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from homeport.content import sites
from homeport.content.errors import ContentError
from homeport.core.errors import HomeportError
from homeport.gui import site, uploads
from homeport.gui.entries import rebuild
from homeport.gui.pages import PREFIX, Page, page

MAX_PHOTOS = 4


async def _page(p: Page, status: int = 200, text: str = "", error: str | None = None) -> Response:
    name = await site.require(p.ctx)
    notes = await sites.list_entries(p.ctx, name, "note")
    posted = p.request.query_params.get("posted") == "1" and not error
    return p.render("notes.html", status, notes=notes, text=text, error=error, posted=posted)


@page()
async def index(p: Page) -> Response:
    return await _page(p)


@page()
async def post(p: Page) -> Response:
    """Nothing is written unless text and every photo are fine; the text stays in the box."""
    form = await p.form()
    text = uploads.text(form, "text", 5000)
    photos = uploads.files(form, "photos")
    alts = [" ".join(str(a).split()) for a in form.getlist("alt")]
    try:
        if not text:
            raise ContentError("Write something first: a note needs text.")
        if len(photos) > MAX_PHOTOS:
            raise ContentError(f"A note takes up to {MAX_PHOTOS} photos; remove some.")
        if len(alts) < len(photos) or not all(alts[: len(photos)]):
            raise ContentError("Describe each photo in a few words (alt text).")
        files = [await uploads.read(p.ctx, f, alts[i]) for i, f in enumerate(photos)]
        fields: dict[str, Any] = {"text": text}
        reply = uploads.line(form, "reply_to", 2000)
        if reply:
            fields["reply_to"] = reply
        name = await site.require(p.ctx)
        await sites.add_entry(p.ctx, name, "note", fields, {"photos": files} if files else None)
    except HomeportError as exc:
        return await _page(p, exc.code, text, exc.message)
    problem = await rebuild(p)
    p.flash(problem or "Posted.")
    return p.redirect(PREFIX + "/notes?posted=1")
