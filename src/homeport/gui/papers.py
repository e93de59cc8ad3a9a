"""Papers: upload a PDF with its metadata, correct it later, and see how it will be cited."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from homeport.content import sites
from homeport.content.errors import ContentError, MediaError
from homeport.core.errors import HomeportError
from homeport.gui import live, site, uploads
from homeport.gui.entries import origin, rebuild
from homeport.gui.pages import PREFIX, Page, page

EMPTY = {"title": "", "authors": [], "abstract": "", "venue": "", "year": "", "doi": ""}


def _fields(form: Any) -> dict[str, Any]:
    """The metadata from the form; ContentError names the first thing to fix."""
    authors = [" ".join(a.split()) for a in str(form.get("authors") or "").splitlines()]
    fields: dict[str, Any] = {
        "title": uploads.line(form, "title"),
        "authors": [a[:300] for a in authors if a],
        "abstract": uploads.text(form, "abstract"),
        "venue": uploads.line(form, "venue"),
    }
    year = uploads.line(form, "year", 4)
    doi = uploads.line(form, "doi", 200).removeprefix("https://doi.org/")
    if not fields["title"]:
        raise ContentError("Give the paper its title.")
    if not fields["authors"]:
        raise ContentError("Name at least one author (one per line).")
    if year and not (year.isdigit() and 1000 <= int(year) <= 9999):
        raise ContentError("The year is four digits, like 2024.")
    if doi and not doi.startswith("10."):
        raise ContentError("A DOI starts with 10. (like 10.1234/abcd).")
    fields.update(year=int(year) if year else None, doi=doi or None)
    return {k: v for k, v in fields.items() if v not in (None, "")}


async def _list(p: Page, status: int = 200, values: Any = None, error: str | None = None
                ) -> Response:
    name = await site.require(p.ctx)
    papers = await sites.list_entries(p.ctx, name, "paper")
    return p.render("papers.html", status, papers=papers, values=values or EMPTY, error=error)


@page()
async def index(p: Page) -> Response:
    return await _list(p)


def _shown(form: Any) -> dict[str, Any]:
    keys = ("title", "abstract", "venue", "year", "doi")
    values: dict[str, Any] = {k: str(form.get(k) or "") for k in keys}
    values["authors"] = str(form.get("authors") or "").splitlines()
    return values


@page()
async def create(p: Page) -> Response:
    """Nothing is kept unless the PDF and the metadata are both fine."""
    form = await p.form()
    try:
        fields = _fields(form)
        found = uploads.files(form, "pdf")
        if not found:
            raise MediaError("Choose the paper's PDF file.")
        pdf = await uploads.read(p.ctx, found[0])
        name = await site.require(p.ctx)
        entry = await sites.add_entry(p.ctx, name, "paper", fields, {"pdf": pdf})
    except HomeportError as exc:
        return await _list(p, exc.code, _shown(form), exc.message)
    problem = await rebuild(p)
    p.flash(problem or "Paper added.")
    return p.redirect(f"{PREFIX}/papers/{entry.id}")


async def _detail(p: Page, entry: sites.Entry, status: int = 200, error: str | None = None,
                  values: Any = None) -> Response:
    from homeport.render.citations import bibtex, csl_json_text  # on first use: faster start
    from homeport.render.model import EntryView

    name = entry.site
    view = EntryView("paper", entry.id, entry.data, int(entry.data.get("last_modified", 0)),
                     entry.path)
    url = f"{origin(p)}/preview/{name}{entry.path}"
    return p.render("paper.html", status, entry=entry, values=values or entry.data, error=error,
                    bibtex=bibtex(view, url), csl=csl_json_text(view, url),
                    live=await live.for_entry(p, entry))


@page()
async def detail(p: Page) -> Response:
    name = await site.require(p.ctx)
    entry = await sites.get_entry(p.ctx, name, "paper", str(p.request.path_params["id"]))
    return await _detail(p, entry)


@page()
async def save(p: Page) -> Response:
    name = await site.require(p.ctx)
    entry_id = str(p.request.path_params["id"])
    form = await p.form()
    entry = await sites.get_entry(p.ctx, name, "paper", entry_id)
    try:
        fields = {"abstract": "", "venue": "", **_fields(form)}
        await sites.update_entry(p.ctx, name, "paper", entry_id, fields)
    except HomeportError as exc:
        return await _detail(p, entry, exc.code, exc.message, {**entry.data, **_shown(form)})
    problem = await rebuild(p)
    p.flash(problem or "Saved.")
    return p.redirect(f"{PREFIX}/papers/{entry_id}")
