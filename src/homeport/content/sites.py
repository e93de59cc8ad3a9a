"""Sites and their entries: the API the CLI and the GUI call to write content.

A site is a bucket: one collection per entry type (with its JSON schema, so the store refuses
bad entries whoever writes them), ``settings`` (the ``site`` record) and ``slugs``. Every write
goes through ``homeport.services.writes.save`` inside one unit of work, so permissions, schemas
and change notifications are those of the API, and a failed write leaves nothing behind. Media
are checked before anything is written; blobs are content-addressed, so a failed write at most
leaves an unreferenced blob.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from homeport.content import media
from homeport.content.errors import ContentError, SlugTaken
from homeport.content.media import Upload
from homeport.content.schemas import SITE_SETTINGS, entry_schema
from homeport.content.slugs import iter_candidates, slugify, valid_slug
from homeport.content.types import (
    ENTRY_TYPES,
    SETTINGS_COLLECTION,
    SETTINGS_RECORD,
    SLUGS_COLLECTION,
    EntryType,
    bucket_uri,
    collection_uri,
    entry_type,
    read_settings,
)
from homeport.core.errors import ObjectNotFound
from homeport.core.ids import new_record_id
from homeport.core.permissions import EVERYONE
from homeport.services import writes
from homeport.services.context import OWNER, Context, User
from homeport.services.grants import SYSTEM_BUCKET
from homeport.services.resources import (
    BUCKET,
    COLLECTION,
    RECORD,
    Parents,
    find_object,
    unit_of_work,
)
from homeport.store.protocols import JSONObject, Permissions

SITE_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
THEMES: list[str] = ["journal", "portfolio"]
"""Themes a site may choose; plugins' themes are added when they are activated."""
IMAGE_FIELDS = {("photo", "image"), ("note", "photos"), ("article", "images")}
PDF_FIELDS = {("paper", "pdf")}
Attachments = Mapping[str, Upload | Sequence[Upload]]
_UNREAD: Any = object()
"""A slug's record not read yet (``_claim_slug`` reads it)."""


@dataclass(frozen=True)
class Entry:
    """One entry as stored: its site, type, record id and the record's fields."""

    site: str
    type: str
    id: str
    data: JSONObject

    @property
    def slug(self) -> str:
        return str(self.data["slug"])

    @property
    def path(self) -> str:
        """URL path below the site root, e.g. ``/articles/hello/``."""
        return ENTRY_TYPES[self.type].path(self.slug)


def now_iso(ctx: Context) -> str:
    moment = dt.datetime.fromtimestamp(ctx.clock() / 1000, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


# --- sites -------------------------------------------------------------------------------
async def create_site(
    ctx: Context,
    name: str,
    title: str,
    theme: str = "journal",
    *,
    user: User = OWNER,
    settings: Mapping[str, Any] | None = None,
) -> JSONObject:
    """Create site ``name`` (bucket, collections with schemas, settings record) in one unit of
    work and return its settings. ``settings`` adds fields of ``SITE_SETTINGS`` (description,
    author, base_url, language, keep_location, per_page, navigation…)."""
    if not SITE_NAME.match(name):
        raise ContentError(f"site name {name!r} must be lowercase letters, digits and dashes")
    if name == SYSTEM_BUCKET:
        raise ContentError(f"{name!r} is the home's own private bucket: choose another site name")
    if theme not in THEMES:
        raise ContentError(f"unknown theme {theme!r} (one of: {', '.join(THEMES)})")
    body: JSONObject = {"language": "en", "keep_location": False, "per_page": 20,
                        **(settings or {}), "title": title, "theme": theme}
    async with unit_of_work(ctx):
        if await find_object(ctx, BUCKET, "", name) is not None:
            raise ContentError(f"a site or bucket named {name!r} already exists")
        await writes.save(ctx, user, BUCKET, "", name, {"site": True}, None,
                          existing=None, replace_permissions=False)
        for kind in ENTRY_TYPES.values():
            await _collection(ctx, user, name, kind.collection, entry_schema(kind.name))
        await _collection(ctx, user, name, SETTINGS_COLLECTION, SITE_SETTINGS)
        await _collection(ctx, user, name, SLUGS_COLLECTION, None)
        written = await writes.save(
            ctx, user, RECORD, collection_uri(name, SETTINGS_COLLECTION), SETTINGS_RECORD,
            body, None, existing=None, replace_permissions=False)
    return written.obj


async def _collection(
    ctx: Context, user: User, site: str, name: str, schema: JSONObject | None
) -> None:
    data: JSONObject = {"schema": schema} if schema is not None else {}
    await writes.save(ctx, user, COLLECTION, bucket_uri(site), name, data, None,
                      existing=None, replace_permissions=False)


async def get_site(ctx: Context, name: str) -> JSONObject:
    """The site's settings record; ContentError when there is no such site."""
    return await read_settings(ctx.store, name)


async def list_sites(ctx: Context) -> list[str]:
    """Names of the buckets that are sites, sorted."""
    buckets = await ctx.store.list_all("bucket", "")
    return sorted(str(b["id"]) for b in buckets if b.get("site"))


async def update_site(
    ctx: Context, name: str, changes: Mapping[str, Any], *, user: User = OWNER
) -> JSONObject:
    """Merge ``changes`` into the site's settings (validated by the settings schema)."""
    if "theme" in changes and changes["theme"] not in THEMES:
        raise ContentError(f"unknown theme {changes['theme']!r} (one of: {', '.join(THEMES)})")
    async with unit_of_work(ctx):
        current = await get_site(ctx, name)
        body = {k: v for k, v in {**current, **changes}.items() if k != "last_modified"}
        written = await writes.save(
            ctx, user, RECORD, collection_uri(name, SETTINGS_COLLECTION), SETTINGS_RECORD,
            body, None, existing=current, replace_permissions=False)
    return written.obj


# --- entries -----------------------------------------------------------------------------
async def add_entry(
    ctx: Context,
    site: str,
    type: str,
    fields: Mapping[str, Any],
    attachments: Attachments | None = None,
    *,
    user: User = OWNER,
    entry_id: str | None = None,
) -> Entry:
    """Create an entry of ``type`` (article, note, photo…) in ``site``.

    ``fields`` are the record's fields (see ``docs/site.md``); ``visibility`` defaults to
    public, ``draft`` to false, ``published`` to now and ``slug`` to one derived from the
    title, made unique. ``attachments`` maps a media field (``image``, ``photos``, ``pdf``,
    ``file``) to uploads, which are checked (MediaError) before anything is written. An
    explicit slug already in use raises SlugTaken (409). ``entry_id`` is the record's id when
    the caller derives it (Micropub: from the inbox item, so a redelivery finds it), else new."""
    kind = entry_type(type)
    settings = await get_site(ctx, site)
    data: JSONObject = {"visibility": "public", "draft": False, "published": now_iso(ctx),
                        **fields}
    data.update(_store_media(ctx, kind, attachments or {}, settings))
    if kind.name == "photo" and not data.get("alt") and isinstance(data.get("image"), dict):
        data["alt"] = data["image"].get("alt", "")
    entry_id = entry_id or new_record_id()
    async with unit_of_work(ctx):
        # the bucket and both collections in one read, handed to the two saves below
        keys = [("bucket", "", site), ("collection", bucket_uri(site), kind.collection),
                ("collection", bucket_uri(site), SLUGS_COLLECTION)]
        bucket, collection, slugs = await ctx.store.get_many(keys)
        entry_parents: Parents | None = None
        if collection is None:
            # a plugin's entry type, added after the site was made
            await _collection(ctx, user, site, kind.collection, entry_schema(kind.name))
        else:
            entry_parents = Parents([("bucket", site, bucket), ("collection", kind.collection,
                                                                collection)])
        data["slug"], claimed = await _choose_slug(ctx, site, kind, data)
        written = await writes.save(
            ctx, user, RECORD, collection_uri(site, kind.collection), entry_id, data,
            _entry_permissions(data), existing=None, replace_permissions=True,
            parents=entry_parents)
        await _claim_slug(ctx, user, site, data["slug"], kind, entry_id, existing=claimed,
                          parents=Parents([("bucket", site, bucket),
                                           ("collection", SLUGS_COLLECTION, slugs)]))
    return Entry(site, kind.name, entry_id, written.obj)


async def update_entry(
    ctx: Context,
    site: str,
    type: str,
    entry_id: str,
    changes: Mapping[str, Any],
    attachments: Attachments | None = None,
    *,
    user: User = OWNER,
    remove: Collection[str] = (),
) -> Entry:
    """Merge ``changes`` into an entry, dropping the optional fields named in ``remove``. The
    slug changes only when ``changes`` names a new one; the old slug is kept in ``old_slugs``
    and the renderer redirects it."""
    kind = entry_type(type)
    settings = await get_site(ctx, site)
    uploaded = _store_media(ctx, kind, attachments or {}, settings)
    parent = collection_uri(site, kind.collection)
    async with unit_of_work(ctx):
        existing = await find_object(ctx, RECORD, parent, entry_id)
        if existing is None:
            raise ContentError(f"there is no {kind.name} {entry_id!r} in site {site!r}")
        data = {k: v for k, v in {**existing, **changes, **uploaded}.items()
                if k not in ("last_modified", "schema") and k not in remove}
        data["updated"] = now_iso(ctx)
        old_slug = str(existing["slug"])
        new_slug = str(data.get("slug") or old_slug)
        if new_slug != old_slug:
            await _check_slug_free(ctx, site, new_slug, entry_id)
            data["old_slugs"] = [s for s in existing.get("old_slugs", []) if s != new_slug]
            data["old_slugs"].append(old_slug)
        written = await writes.save(
            ctx, user, RECORD, parent, entry_id, data, _entry_permissions(data),
            existing=existing, replace_permissions=True)
        if new_slug != old_slug:
            await _claim_slug(ctx, user, site, old_slug, kind, entry_id, current=False)
            await _claim_slug(ctx, user, site, new_slug, kind, entry_id)
    return Entry(site, kind.name, entry_id, written.obj)


async def delete_entry(
    ctx: Context, site: str, type: str, entry_id: str, *, user: User = OWNER
) -> None:
    """Delete an entry and free its slugs (old URLs then answer 404)."""
    kind = entry_type(type)
    async with unit_of_work(ctx):
        existing = await find_object(ctx, RECORD, collection_uri(site, kind.collection), entry_id)
        if existing is None:
            raise ContentError(f"there is no {kind.name} {entry_id!r} in site {site!r}")
        await writes.delete(ctx, user, RECORD, collection_uri(site, kind.collection), entry_id)
        slugs = collection_uri(site, SLUGS_COLLECTION)
        for slug in [existing["slug"], *existing.get("old_slugs", [])]:
            if await find_object(ctx, RECORD, slugs, slug) is not None:
                await writes.delete(ctx, user, RECORD, slugs, slug)


async def get_entry(ctx: Context, site: str, type: str, entry_id: str) -> Entry:
    kind = entry_type(type)
    try:
        record = await ctx.store.get("record", collection_uri(site, kind.collection), entry_id)
    except ObjectNotFound:
        raise ContentError(f"there is no {kind.name} {entry_id!r} in site {site!r}") from None
    return Entry(site, kind.name, entry_id, record)


async def list_entries(ctx: Context, site: str, type: str | None = None) -> list[Entry]:
    """Every entry (drafts and private ones too), newest ``published`` first."""
    await get_site(ctx, site)
    kinds = [entry_type(type)] if type else list(ENTRY_TYPES.values())
    found = []
    for kind in kinds:
        for record in await ctx.store.list_all("record", collection_uri(site, kind.collection)):
            found.append(Entry(site, kind.name, str(record["id"]), record))
    found.sort(key=lambda e: str(e.data.get("published", "")), reverse=True)
    return found


# --- internals ---------------------------------------------------------------------------
def _entry_permissions(data: JSONObject) -> Permissions:
    """Public, published entries are readable by anyone over the API too; others only by
    their writers."""
    if data.get("visibility") == "public" and not data.get("draft"):
        return {"read": {EVERYONE}}
    return {}


def _store_media(
    ctx: Context, kind: EntryType, attachments: Attachments, settings: JSONObject
) -> JSONObject:
    keep_location = bool(settings.get("keep_location"))
    stored: JSONObject = {}
    for field, given in attachments.items():
        uploads = [given] if isinstance(given, Upload) else list(given)
        refs = []
        for upload in uploads:
            if (kind.name, field) in IMAGE_FIELDS:
                refs.append(media.store_image(ctx, upload, keep_location=keep_location))
            elif (kind.name, field) in PDF_FIELDS:
                refs.append(media.store_pdf(ctx, upload))
            else:
                refs.append(media.store_file(ctx, upload))
        many = (kind.name, field) in (("note", "photos"), ("article", "images"))
        stored[field] = refs if many else refs[0] if refs else None
    return stored


async def _choose_slug(
    ctx: Context, site: str, kind: EntryType, data: JSONObject
) -> tuple[str, JSONObject | None]:
    """A free slug for a new entry, and its record in ``slugs`` (None when there is none)."""
    given = data.get("slug")
    if given:
        slug = str(given)
        if not valid_slug(slug):
            raise ContentError(f"slug {slug!r} must be lowercase letters, digits and dashes "
                               "and not a reserved name")
        return slug, await _check_slug_free(ctx, site, slug, None)
    title = str(data.get("title") or data.get(kind.title_field) or "")
    base = slugify(" ".join(title.split()[:8]), fallback=kind.name)
    tried = iter_candidates(base)
    parent = collection_uri(site, SLUGS_COLLECTION)
    while batch := list(itertools.islice(tried, 25)):
        found = await ctx.store.get_many([("record", parent, s) for s in batch])
        for slug, taken in zip(batch, found, strict=True):
            if taken is None:
                return slug, None
    raise ContentError(f"no free slug near {base!r}: give one explicitly")


async def _check_slug_free(
    ctx: Context, site: str, slug: str, entry_id: str | None
) -> JSONObject | None:
    """SlugTaken unless ``slug`` is free or already ``entry_id``'s; its record if any."""
    if not valid_slug(slug):
        raise ContentError(f"slug {slug!r} must be lowercase letters, digits and dashes "
                           "and not a reserved name")
    taken = await find_object(ctx, RECORD, collection_uri(site, SLUGS_COLLECTION), slug)
    if taken is not None and taken.get("entry") != entry_id:
        raise SlugTaken(f"the slug {slug!r} is already used in site {site!r} "
                        f"(by a {taken.get('type')} entry): choose another")
    return taken


async def _claim_slug(
    ctx: Context, user: User, site: str, slug: str, kind: EntryType, entry_id: str,
    *, current: bool = True, existing: JSONObject | None = _UNREAD,
    parents: Parents | None = None,
) -> None:
    """Point ``slug`` at the entry. ``existing`` is the slug's record when the caller has just
    read it (None: there is none); ``parents`` the site's bucket and ``slugs`` collection."""
    parent = collection_uri(site, SLUGS_COLLECTION)
    if existing is _UNREAD:
        existing = await find_object(ctx, RECORD, parent, slug)
    body = {"type": kind.name, "entry": entry_id, "current": current}
    await writes.save(ctx, user, RECORD, parent, slug, body, None,
                      existing=existing, replace_permissions=False, parents=parents)


__all__ = [
    "OWNER",
    "THEMES",
    "Attachments",
    "Entry",
    "Upload",
    "add_entry",
    "bucket_uri",
    "collection_uri",
    "create_site",
    "delete_entry",
    "get_entry",
    "get_site",
    "list_entries",
    "list_sites",
    "now_iso",
    "update_entry",
    "update_site",
]
