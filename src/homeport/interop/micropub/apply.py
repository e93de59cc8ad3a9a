"""The home's side of Micropub: apply what the provider queued, through ``content.sites``.

Entries are written by the same calls the GUI and ``homeport add`` use, so schemas, slugs,
media checks and auto-publish treat them alike. Every handler may run twice for one item (the
relay delivers at least once): a create finds the entry its item already made (the record id
is derived from the item id), an update remembers the last items it applied, a delete or
undelete of what is already deleted or restored changes nothing.

Expected refusals (no such post, a photo that cannot be fetched) are returned as
``{"error": "invalid_request", …}``: the item is done, and the provider answers the client with
that error if it is still waiting.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import anyio
import anyio.from_thread
import httpx

from homeport import jsonio
from homeport.content import media, sites
from homeport.content.errors import ContentError, SlugTaken
from homeport.content.media import Upload
from homeport.content.types import ENTRY_TYPES, SLUGS_COLLECTION, bucket_uri, collection_uri
from homeport.core.errors import HomeportError
from homeport.interop.micropub import mf2
from homeport.interop.micropub.endpoint import MAX_UPLOAD, MEDIA_KIND, POST_KIND, QUERY_KIND
from homeport.interop.ports import Handler, InboxItem
from homeport.services import writes
from homeport.services.context import Context
from homeport.services.resources import COLLECTION, RECORD, find_object, unit_of_work
from homeport.web import outbound

T = TypeVar("T")
TRASH = "trash"
"""A collection of the site's bucket: entries deleted by Micropub, by slug, for undelete."""
ENTRY_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4f3b-9a55-0b1e2c7d9e41")
KEEP_APPLIED = 16
"""How many update items an entry remembers, so a redelivered update is not applied twice."""
MAPPED = ("title", "body", "summary", "text", "caption", "comment", "reply_to", "like_of",
          "repost_of", "tags", "url", "alt")
"""Fields ``mf2.fields_for`` may set: an update that no longer sets one removes it."""


class Refusal(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run async work from the relay's worker thread on the home's event loop (or on a loop
    of its own when called outside one, as the CLI does)."""
    try:
        return anyio.from_thread.run(work)
    except RuntimeError:
        return asyncio.run(work())


def _error(description: str) -> dict[str, Any]:
    if len(description) > 500:  # a schema error quotes the value: keep the answer small
        description = description[:500] + "…"
    return {"error": "invalid_request", "error_description": description, "status": 400}


def _guard(work: Callable[[], Coroutine[Any, Any, dict[str, Any]]]) -> Mapping[str, Any]:
    try:
        return _run(work)
    except Refusal as exc:
        return _error(exc.description)
    except mf2.Invalid as exc:
        return _error(str(exc))
    except HomeportError as exc:  # a schema the entry fails, a slug taken twice…: for good
        return _error(str(exc.message or exc))


# --- handlers ----------------------------------------------------------------------------
def apply_media(ctx: Context, item: InboxItem) -> Mapping[str, Any]:
    """Keep an uploaded image in the blob store; a post naming its URL finds it by hash."""
    try:
        media.check_image(item.body, "upload")
    except ContentError as exc:
        return _error(str(exc.message or exc))
    digest = ctx.blobs.put_file(io.BytesIO(item.body))
    return {"ok": True, "hash": digest}


def apply_post(ctx: Context, item: InboxItem) -> Mapping[str, Any]:
    doc = jsonio.loads(item.body)
    action = str(doc.get("action"))

    async def work() -> dict[str, Any]:
        site = await _site(ctx)
        if action == "create":
            return await create(ctx, site, item.id, doc)
        if action == "update":
            return await update(ctx, site, item.id, doc)
        if action == "delete":
            return await delete(ctx, site, str(doc["path"]))
        if action == "undelete":
            return await undelete(ctx, site, str(doc["path"]))
        raise Refusal(f"unknown action {action!r}")

    return _guard(work)


def apply_query(ctx: Context, item: InboxItem) -> Mapping[str, Any]:
    doc = jsonio.loads(item.body)

    async def work() -> dict[str, Any]:
        site = await _site(ctx)
        if doc.get("action") == "category":
            return {"ok": True, "answer": {"categories": await categories(ctx, site)}}
        origin = _origin(str(doc.get("url", "")))
        found = await _find(ctx, site, str(doc["path"]))
        if found is None:
            raise Refusal(f"there is no post at {doc.get('url')}")
        props = properties_of(found, origin)
        if doc.get("public_only"):
            if found.data.get("visibility") != "public" or found.data.get("draft"):
                raise Refusal(f"there is no public post at {doc.get('url')}")
            props = {k: v for k, v in props.items() if k not in mf2.PRIVATE_PROPERTIES}
        return {"ok": True, "answer": mf2.source(props, list(doc.get("properties") or []))}

    return _guard(work)


def home_handlers() -> dict[str, Handler]:
    return {POST_KIND: apply_post, MEDIA_KIND: apply_media, QUERY_KIND: apply_query}


# --- actions -----------------------------------------------------------------------------
def entry_id_for(item_id: str) -> str:
    return str(uuid.uuid5(ENTRY_NAMESPACE, item_id))


async def create(ctx: Context, site: str, item_id: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    kind = str(doc["entry_type"])
    entry_id = entry_id_for(item_id)
    try:
        entry = await sites.get_entry(ctx, site, kind, entry_id)
        return _created(entry)  # a redelivery: already made
    except ContentError:
        pass
    props: mf2.Properties = dict(doc["properties"])
    fields = mf2.fields_for(kind, props)
    attachments = await _attachments(ctx, kind, props, fields)
    fields["slug"] = str(doc["slug"])
    try:
        entry = await sites.add_entry(ctx, site, kind, fields, attachments, entry_id=entry_id)
    except SlugTaken:
        fields["slug"] = mf2.fallback_slug(str(doc["slug"]), str(doc["short_id"]))
        entry = await sites.add_entry(ctx, site, kind, fields, attachments, entry_id=entry_id)
    return _created(entry)


def _created(entry: sites.Entry) -> dict[str, Any]:
    public = entry.data.get("visibility") == "public" and not entry.data.get("draft")
    return {"ok": True, "path": entry.path, "public": public}


async def update(ctx: Context, site: str, item_id: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    found = await _find(ctx, site, str(doc["path"]))
    if found is None:
        raise Refusal(f"there is no post at {doc.get('url')}")
    if item_id in found.data.get("mp_applied", []):
        return {"ok": True, "path": found.path}
    action = mf2.Action("update", url=str(doc.get("url")), replace=doc.get("replace") or {},
                        add=doc.get("add") or {}, delete=doc.get("delete") or {})
    before = properties_of(found, _origin(str(doc.get("url", ""))))
    after = mf2.apply_update(before, action)
    fields = mf2.fields_for(found.type, after)
    attachments = None
    if after.get("photo") != before.get("photo"):
        attachments = await _attachments(ctx, found.type, after, fields)
    fields["mp_applied"] = [*found.data.get("mp_applied", []), item_id][-KEEP_APPLIED:]
    remove = [k for k in MAPPED if k in found.data and k not in fields]
    entry = await sites.update_entry(ctx, site, found.type, found.id, fields, attachments,
                                     remove=remove)
    return {"ok": True, "path": entry.path}


async def delete(ctx: Context, site: str, path: str) -> dict[str, Any]:
    found = await _find(ctx, site, path)
    if found is None:
        if await _trashed(ctx, site, path) is not None:
            return {"ok": True}  # already deleted
        raise Refusal(f"there is no post at {path}")
    async with unit_of_work(ctx):
        if await find_object(ctx, COLLECTION, bucket_uri(site), TRASH) is None:
            await writes.save(ctx, sites.OWNER, COLLECTION, bucket_uri(site), TRASH, {}, None,
                              existing=None, replace_permissions=False)
        parent = collection_uri(site, TRASH)
        existing = await find_object(ctx, RECORD, parent, found.slug)
        kept = {k: v for k, v in found.data.items() if k not in ("id", "last_modified")}
        await writes.save(ctx, sites.OWNER, RECORD, parent, found.slug,
                          {"type": found.type, "entry": found.id, "data": kept}, None,
                          existing=existing, replace_permissions=False)
        await sites.delete_entry(ctx, site, found.type, found.id)
    return {"ok": True}


async def undelete(ctx: Context, site: str, path: str) -> dict[str, Any]:
    trashed = await _trashed(ctx, site, path)
    if trashed is None:
        if await _find(ctx, site, path) is not None:
            return {"ok": True, "path": path}  # already restored
        raise Refusal(f"there is no deleted post at {path}")
    data = dict(trashed["data"])
    data.pop("old_slugs", None)
    async with unit_of_work(ctx):
        entry = await sites.add_entry(ctx, site, str(trashed["type"]), data,
                                      entry_id=str(trashed["entry"]))
        await writes.delete(ctx, sites.OWNER, RECORD, collection_uri(site, TRASH),
                            str(trashed["id"]))
    return _created(entry)


async def categories(ctx: Context, site: str) -> list[str]:
    tags: set[str] = set()
    for entry in await sites.list_entries(ctx, site):
        tags.update(str(t) for t in entry.data.get("tags", []))
    return sorted(tags, key=str.lower)


# --- helpers -----------------------------------------------------------------------------
async def _site(ctx: Context) -> str:
    """The site Micropub writes to: the home's only site, else the one it publishes."""
    names = await sites.list_sites(ctx)
    if len(names) == 1:
        return names[0]
    from homeport.sync.providers import ProvidersError, site_name

    try:
        chosen = site_name(ctx.settings, None)
    except (ProvidersError, OSError):
        chosen = None
    if chosen in names:
        return str(chosen)
    raise Refusal("this home has no single site to post to" if names else
                  "this home has no site yet: create one first")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _split(path: str) -> tuple[str | None, str]:
    segments = [s for s in path.split("/") if s]
    if len(segments) == 1:
        return "page", segments[0]
    if len(segments) == 2:
        kind = next((t.name for t in ENTRY_TYPES.values() if t.prefix == segments[0]), None)
        return kind, segments[1]
    return None, ""


async def _find(ctx: Context, site: str, path: str) -> sites.Entry | None:
    kind, slug = _split(path)
    if kind is None:
        return None
    claim = await find_object(ctx, RECORD, collection_uri(site, SLUGS_COLLECTION), slug)
    if claim is None or claim.get("type") != kind:
        return None
    try:
        return await sites.get_entry(ctx, site, kind, str(claim["entry"]))
    except ContentError:
        return None


async def _trashed(ctx: Context, site: str, path: str) -> dict[str, Any] | None:
    kind, slug = _split(path)
    if kind is None:
        return None
    found = await find_object(ctx, RECORD, collection_uri(site, TRASH), slug)
    if found is None or found.get("type") != kind:
        return None
    return dict(found)


FIELDS_OF = {"name": ("title",), "content": ("body", "text", "caption", "comment"),
             "summary": ("summary",), "category": ("tags",), "published": ("published",),
             "bookmark-of": ("url",), "in-reply-to": ("reply_to",), "like-of": ("like_of",),
             "repost-of": ("repost_of",), "post-status": ("draft",),
             "visibility": ("visibility",)}
"""Which entry fields each property maps to (``mf2.fields_for``)."""


def properties_of(entry: sites.Entry, origin: str) -> mf2.Properties:
    """The post's microformats properties: as Micropub last set them, except those whose
    fields were changed since by other means (the GUI, ``/v1``), which are read from the
    fields; an entry never written by Micropub is read from its fields alone."""
    derived = _from_fields(entry, origin)
    kept = entry.data.get("mf2")
    if not (isinstance(kept, dict) and isinstance(kept.get("properties"), dict)):
        return derived
    props: mf2.Properties = {k: list(v) for k, v in kept["properties"].items()}
    try:
        expected = mf2.fields_for(entry.type, props)
    except mf2.Invalid:
        expected = {}
    for prop, keys in FIELDS_OF.items():
        if all(entry.data.get(k) == expected.get(k) for k in keys):
            continue  # as Micropub wrote it: keep the form it was sent in ({"html"}…)
        if prop in ("post-status", "visibility"):
            props[prop] = ["draft" if entry.data.get("draft") else "published"] \
                if prop == "post-status" else [str(entry.data.get("visibility", "public"))]
        elif prop in derived:
            props[prop] = derived[prop]
        else:
            props.pop(prop, None)
    return props


def _from_fields(entry: sites.Entry, origin: str) -> mf2.Properties:
    data = entry.data
    props: mf2.Properties = {}
    name = data.get("title")
    if name and entry.type not in ("note", "bookmark"):
        props["name"] = [name]
    text = next((data[k] for k in ("body", "text", "caption", "comment") if data.get(k)), None)
    if text:
        props["content"] = [text]
    if data.get("summary"):
        props["summary"] = [data["summary"]]
    for key, value in (("published", data.get("published")), ("updated", data.get("updated"))):
        if value:
            props[key] = [value]
    if data.get("tags"):
        props["category"] = list(data["tags"])
    if entry.type == "bookmark" and data.get("url"):
        props["bookmark-of"] = [data["url"]]
    for key, prop in (("reply_to", "in-reply-to"), ("like_of", "like-of"),
                      ("repost_of", "repost-of")):
        if data.get(key):
            props[prop] = [data[key]]
    images = [data["image"]] if entry.type == "photo" else list(data.get("photos", []))
    for ref in images:
        if isinstance(ref, dict) and "hash" in ref:
            url = mf2.media_url(origin, str(ref["hash"]), int(ref.get("width") or 1920))
            props.setdefault("photo", []).append({"value": url, "alt": ref["alt"]}
                                                 if ref.get("alt") else url)
    if data.get("draft"):
        props["post-status"] = ["draft"]
    if data.get("visibility") == "private":
        props["visibility"] = ["private"]
    return props


async def _attachments(ctx: Context, kind: str, props: mf2.Properties,
                       fields: dict[str, Any]) -> dict[str, Any] | None:
    """The post's photos as uploads for ``add_entry``: an image uploaded through this site's
    media endpoint comes from the blob store by its hash, any other URL is fetched (through the
    SSRF-safe fetcher). An article shows its photos at the end of its text."""
    found = mf2.photos(props)
    if not found:
        return None
    if kind == "article":
        refs = []
        for url, alt in found:
            name, data = await _image(ctx, url)
            ref = media.store_image(ctx, Upload(name, data, alt))
            refs.append(ref)
            shown = mf2.media_url("", str(ref["hash"]), int(ref["width"]))
            fields["body"] = f"{fields.get('body', '')}\n\n![{alt or ''}]({shown})"
        fields["images"] = refs
        return None
    uploads = [Upload(*(await _image(ctx, url)), alt or "Photo") for url, alt in found]
    if kind == "photo":
        return {"image": uploads[0]}
    if kind == "note":
        return {"photos": uploads}
    return None


async def _image(ctx: Context, url: str) -> tuple[str, bytes]:
    digest = mf2.media_hash(url)
    if digest is not None and ctx.blobs.exists(digest):
        with ctx.blobs.open(digest) as source:
            return "photo", source.read()
    try:
        fetched = await outbound.fetch(url, permitted=outbound.policy(
            ctx.settings.fetch_allow_private), limit=MAX_UPLOAD, timeout=10.0)
    except (outbound.FetchRefused, OSError, TimeoutError, httpx.HTTPError) as exc:
        raise Refusal(f"the photo {url} could not be fetched: {exc}") from None
    if fetched.status != 200:
        raise Refusal(f"the photo {url} answered {fetched.status}")
    name = urlsplit(fetched.url).path.rsplit("/", 1)[-1] or "photo"
    return name, fetched.body
