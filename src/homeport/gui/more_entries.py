"""Editors for the entry types without a screen of their own: pages, albums, bookmarks and
files. One form per type, built from a short list of its fields; like every screen, it edits
the site chosen in the header (``site.current``), so every site has them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from homeport.content import sites
from homeport.content.errors import ContentError
from homeport.core.errors import HomeportError
from homeport.gui import live, site, uploads
from homeport.gui.entries import rebuild
from homeport.gui.pages import PREFIX, Page, page


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    widget: str = "line"
    """``line``, ``text`` (Markdown), ``url``, ``number``, ``photos`` (chosen from Media) or
    ``file`` (an upload, needed when the entry is new)."""
    required: bool = False
    hint: str = ""


@dataclass(frozen=True)
class Kind:
    name: str
    plural: str
    path: str
    fields: tuple[Field, ...]
    intro: str


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind("page", "Pages", "/pages", (
            Field("title", "Title", required=True),
            Field("body", "Text", "text", True, "Markdown, as in articles."),
            Field("nav", "Place in the site's menu", "number",
                  hint="Optional: 1 comes first; empty keeps it out of the menu."),
        ), "Pages stay put: About, Contact, Now. They are not in the feed."),
        Kind("album", "Albums", "/albums", (
            Field("title", "Title", required=True),
            Field("description", "Description", "text"),
            Field("photos", "Photos in this album", "photos"),
        ), "An album gathers photos from Media under one title."),
        Kind("bookmark", "Bookmarks", "/bookmarks", (
            Field("url", "Address of the page", "url", True),
            Field("title", "Its title"),
            Field("comment", "What you think of it", "text"),
        ), "A link worth keeping, with a few words of your own."),
        Kind("file", "Files", "/files", (
            Field("title", "Title", required=True),
            Field("file", "File", "file", True),
            Field("description", "Description", "text"),
        ), "Any file to share from your site: slides, a CV, a recording."),
    )
}


def _kind(p: Page) -> Kind:
    return KINDS[str(p.request.path_params["kind"])]


def _label(kind: Kind, data: dict[str, Any]) -> str:
    return str(data.get("title") or data.get("url") or kind.name)


async def _photos(p: Page, name: str) -> list[sites.Entry]:
    return await sites.list_entries(p.ctx, name, "photo")


@page()
async def index(p: Page) -> Response:
    kind = _kind(p)
    name = await site.require(p.ctx)
    found = await sites.list_entries(p.ctx, name, kind.name)
    return p.render("kind_list.html", kind=kind, entries=found, label=_label)


async def _form(p: Page, kind: Kind, entry: sites.Entry | None, values: dict[str, Any],
                status: int = 200, error: str | None = None) -> Response:
    name = await site.require(p.ctx)
    photos = await _photos(p, name) if any(f.widget == "photos" for f in kind.fields) else []
    shown = await live.for_entry(p, entry) if entry is not None else None
    return p.render("kind_edit.html", status, kind=kind, entry=entry, values=values,
                    error=error, photos=photos, live=shown)


@page()
async def new(p: Page) -> Response:
    return await _form(p, _kind(p), None, {"draft": False})


@page()
async def edit(p: Page) -> Response:
    kind = _kind(p)
    name = await site.require(p.ctx)
    entry = await sites.get_entry(p.ctx, name, kind.name, str(p.request.path_params["id"]))
    return await _form(p, kind, entry, dict(entry.data))


def _read(kind: Kind, form: Any) -> tuple[dict[str, Any], list[str]]:
    """The form's fields as the entry's; the optional ones left empty, to remove."""
    fields: dict[str, Any] = {"draft": form.get("publish") != "on"}
    empty: list[str] = []
    for f in kind.fields:
        if f.widget == "file":
            continue
        if f.widget == "photos":
            fields[f.name] = [str(v) for v in form.getlist(f.name)][:1000]
            continue
        value = uploads.text(form, f.name) if f.widget == "text" else uploads.line(
            form, f.name, 2000 if f.widget == "url" else 300)
        if f.widget == "number" and value:
            if not value.isdigit():
                raise ContentError(f"{f.label}: give a whole number, or leave it empty.")
            fields[f.name] = int(value)
        elif value:
            fields[f.name] = value
        elif f.required:
            raise ContentError(f"{f.label}: this one is needed.")
        else:
            empty.append(f.name)
    if "url" in fields and not str(fields["url"]).startswith(("https://", "http://")):
        raise ContentError("The address starts with https:// or http://.")
    return fields, empty


@page()
async def save(p: Page) -> Response:
    """Create (no id) or update; nothing is written unless every field is fine, and the form
    comes back as it was typed when something is not."""
    kind = _kind(p)
    name = await site.require(p.ctx)
    entry_id = p.request.path_params.get("id")
    form = await p.form()
    entry = await sites.get_entry(p.ctx, name, kind.name, entry_id) if entry_id else None
    try:
        fields, empty = _read(kind, form)
        if "photos" in fields:
            known = {e.id for e in await _photos(p, name)}
            if not set(fields["photos"]) <= known:
                raise ContentError(
                    "Some of the chosen photos are no longer in Media: choose again."
                )
        attachments: dict[str, Any] = {}
        for f in kind.fields:
            if f.widget == "file":
                chosen = uploads.files(form, f.name)
                if chosen:
                    attachments[f.name] = await uploads.read(p.ctx, chosen[0])
                elif entry is None:
                    raise ContentError(f"{f.label}: choose one to upload.")
        if entry is None:
            entry = await sites.add_entry(p.ctx, name, kind.name, fields, attachments or None)
        else:
            entry = await sites.update_entry(p.ctx, name, kind.name, entry.id, fields,
                                             attachments or None, remove=empty)
    except HomeportError as exc:
        texts = {k: v for k in form if isinstance(v := form.get(k), str)}  # not the uploads
        typed = {**(entry.data if entry else {}), **texts,
                 "photos": form.getlist("photos"), "draft": form.get("publish") != "on"}
        return await _form(p, kind, entry, typed, exc.code, exc.message)
    problem = await rebuild(p)
    state = "saved as a draft" if entry.data.get("draft") else "on the site"
    p.flash(problem or f"“{_label(kind, entry.data)}” is {state}.")
    return p.redirect(f"{PREFIX}{kind.path}/{entry.id}")
