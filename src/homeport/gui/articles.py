"""Articles: the list, the Markdown editor and its JSON endpoints (autosave, live preview,
pasted images).

Autosave keeps a new article as a draft; the browser keeps a copy of the text until the home
has confirmed the save, so a failed save (session expired, home stopped) loses nothing.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import FileResponse, Response

from homeport import jsonio
from homeport.content import media, sites
from homeport.content.errors import ContentError, MediaError
from homeport.content.media import Upload
from homeport.content.slugs import slugify
from homeport.gui import live, site
from homeport.gui.entries import rebuild
from homeport.gui.pages import PREFIX, Page, error_page, page
from homeport.members import store as member_store
from homeport.web.bodies import BodyTooLarge, read_limited

MAX_JSON = 2 * 1024 * 1024
BODY_MEDIA = "../../media/"
"""How an article's body points at its images: relative to ``/articles/<slug>/``."""


@page()
async def index(p: Page) -> Response:
    name = await site.require(p.ctx)
    articles = await sites.list_entries(p.ctx, name, "article")
    return p.render("articles.html", articles=articles)


@page()
async def new(p: Page) -> Response:
    return p.render("editor.html", entry=None, data={"title": "", "body": "", "tags": []},
                    tiers=await member_store.list_tiers(p.ctx))


@page()
async def edit(p: Page) -> Response:
    name = await site.require(p.ctx)
    entry = await sites.get_entry(p.ctx, name, "article", str(p.request.path_params["id"]))
    return p.render("editor.html", entry=entry, data=entry.data,
                    tiers=await member_store.list_tiers(p.ctx), live=await live.for_entry(p, entry))


def _tags(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else str(raw or "").split(",")
    found: list[str] = []
    for item in items:
        tag = " ".join(str(item).split()).strip("/\\")
        if tag and tag not in found:
            found.append(tag[:64])
    return found[:32]


async def _json(p: Page) -> dict[str, Any]:
    try:
        data = jsonio.loads_untrusted(await read_limited(p.request, MAX_JSON))
    except BodyTooLarge:
        raise ContentError("The text is too long to save (over 2 MB).") from None
    except ValueError:
        raise ContentError("The editor sent something that is not JSON.") from None
    if not isinstance(data, dict):
        raise ContentError("The editor sent something that is not a JSON object.")
    return data


@page()
async def save(p: Page) -> Response:
    """Create (as a draft) or update an article from the editor; answers JSON."""
    name = await site.require(p.ctx)
    data = await _json(p)
    title = " ".join(str(data.get("title") or "").split())
    if not title:
        raise ContentError("Give the article a title before it can be saved.")
    fields: dict[str, Any] = {
        "title": title[:300],
        "body": str(data.get("body") or ""),
        "summary": str(data.get("summary") or "")[:2000],
        "tags": _tags(data.get("tags")),
    }
    if data.get("visibility") is not None:
        fields["visibility"] = await _visibility(p, str(data.get("visibility")))
    images = [i for i in data.get("images") or [] if isinstance(i, dict)]
    entry_id = str(data.get("id") or "")
    if entry_id:
        current = await sites.get_entry(p.ctx, name, "article", entry_id)
        known = {i.get("hash"): i for i in current.data.get("images", [])}
        known.update({i.get("hash"): i for i in images if _stored(p, i)})
        fields["images"] = [i for h, i in known.items() if h and h in fields["body"]]
        if current.data.get("draft") and not current.data.get("was_published"):
            wanted = slugify(title, "article")
            if wanted != current.slug and await _slug_free(p, name, wanted):
                fields["slug"] = wanted
        entry = await sites.update_entry(p.ctx, name, "article", entry_id, fields)
    else:
        fields["images"] = [i for i in images if _stored(p, i) and i["hash"] in fields["body"]]
        entry = await sites.add_entry(p.ctx, name, "article", {**fields, "draft": True})
    problem = await rebuild(p) if data.get("rebuild") and not entry.data.get("draft") else None
    return p.json({"id": entry.id, "slug": entry.slug, "draft": entry.data.get("draft"),
                   "saved": entry.data.get("last_modified"), "edit": f"{PREFIX}/write/{entry.id}",
                   "problem": problem})


async def _visibility(p: Page, chosen: str) -> str:
    """public, private, members or a tier that exists."""
    if chosen in ("public", "private", "members") or chosen in await member_store.tiers_by_id(
            p.ctx):
        return chosen
    raise ContentError("Choose who may read it: everyone, members, a tier, or only you.")


def _stored(p: Page, ref: dict[str, Any]) -> bool:
    digest = ref.get("hash")
    return isinstance(digest, str) and len(digest) == 64 and p.ctx.blobs.exists(digest)


async def _slug_free(p: Page, name: str, slug: str) -> bool:
    """A draft's slug follows its title until it is first published."""
    found = await p.ctx.store.get_many([("record", sites.collection_uri(name, "slugs"), slug)])
    return found[0] is None


@page()
async def preview(p: Page) -> Response:
    from homeport.render.markdown import render_markdown  # on first use: faster start-up

    data = await _json(p)
    html = render_markdown(str(data.get("body") or ""))
    return p.json({"html": html.replace(f'src="{BODY_MEDIA}', f'src="{PREFIX}/media-file/')})


@page()
async def upload_image(p: Page) -> Response:
    """A pasted or dropped image: checked and kept; the editor inserts its Markdown."""
    form = await p.form()
    file = form.get("file")
    alt = " ".join(str(form.get("alt") or "").split())
    if file is None or isinstance(file, str):
        raise MediaError("No image arrived; choose or paste an image again.")
    if not alt:
        raise MediaError("Describe the image in a few words (alt text) so everyone can read it.")
    data = await file.read()
    name = await site.require(p.ctx)
    settings = await sites.get_site(p.ctx, name)
    ref = media.store_image(
        p.ctx, Upload(file.filename or "image", data, alt),
        keep_location=bool(settings.get("keep_location")),
    )
    src = f"{BODY_MEDIA}{ref['hash']}/{_width(ref)}.jpg"
    markdown = f"![{alt.replace(']', '')}]({src})"
    return p.json({"ref": ref, "markdown": markdown})


def _width(ref: dict[str, Any]) -> int:
    widths = media.variant_widths(int(ref.get("width") or 960))
    return next((w for w in widths if w >= 960), widths[-1])


@page()
async def media_file(p: Page) -> Response:
    """An image variant (``<hash>/<width>.<ext>``) for previews inside the GUI."""
    digest = str(p.request.path_params["hash"])
    filename = str(p.request.path_params["file"])
    if len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        return error_page(p, 404, "Not found", "There is no such image.")
    settings_name = await site.require(p.ctx)
    keep = bool((await sites.get_site(p.ctx, settings_name)).get("keep_location"))
    try:
        found = media.variants(p.ctx, digest, keep_location=keep)
    except (MediaError, OSError, KeyError):
        found = []
    for variant in found:
        if f"{variant.width}.{variant.ext}" == filename:
            return p.finish(FileResponse(variant.path, media_type=variant.mimetype))
    if found:
        return p.finish(FileResponse(found[-1].path, media_type=found[-1].mimetype))
    return error_page(p, 404, "Not found", "There is no such image.")
