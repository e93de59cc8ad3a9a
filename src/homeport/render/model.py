"""What a build reads: the site's settings and its public, published entries as views.

Views compute their HTML lazily (only pages being re-rendered pay for Markdown) and carry two
fingerprints: ``full`` changes with any edit, ``listing`` only with what lists show (title,
date, summary, tags, media), so editing an article's body does not re-render the archive.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

import orjson
from markupsafe import Markup

from homeport.content.mentions import APPROVED, MENTIONS_COLLECTION
from homeport.content.slugs import slugify
from homeport.content.types import ENTRY_TYPES, collection_uri, read_settings
from homeport.core.query import Filter, Op
from homeport.members.model import is_members_visibility
from homeport.render import handles
from homeport.render.markdown import render_markdown
from homeport.services.context import Context
from homeport.store.protocols import JSONObject

BODY_FIELDS = ("body", "text", "caption", "comment", "abstract", "description")
"""The Markdown field of each type (the first one present)."""
NOT_LISTED = frozenset({"body", "last_modified", "schema", "updated"})


@dataclass
class EntryView:
    type: str
    id: str
    data: JSONObject
    last_modified: int
    path: str
    photos: list[EntryView] = field(default_factory=list)
    """For albums: the photo entries, in the album's order."""
    responses: Responses | None = None
    """Approved webmentions of this entry (``content/mentions.py``)."""
    mentioned: Mapping[str, handles.Resolved] = field(default_factory=dict)
    """The home's resolved ``@user@host`` handles (``render/handles.py``), set by a build:
    those this entry's text names are linked and become its object's ``Mention`` tags."""

    @property
    def slug(self) -> str:
        return str(self.data["slug"])

    @property
    def title(self) -> str:
        kind = ENTRY_TYPES[self.type]
        if self.type in ("note", "photo"):
            return str(self.data.get("title") or _shorten(str(self.data.get(kind.title_field, ""))))
        return str(self.data.get("title") or self.data.get(kind.title_field) or self.slug)

    @property
    def has_title(self) -> bool:
        """Notes and untitled photos have no name of their own (microformats: no p-name)."""
        return self.type not in ("note",) and bool(self.data.get("title") or self.type != "photo")

    @cached_property
    def published(self) -> dt.datetime:
        return parse_date(str(self.data.get("published", "")))

    @cached_property
    def updated(self) -> dt.datetime:
        raw = self.data.get("updated")
        return parse_date(str(raw)) if raw else self.published

    @property
    def tags(self) -> list[str]:
        return [str(t) for t in self.data.get("tags", [])]

    @cached_property
    def tag_slugs(self) -> list[tuple[str, str]]:
        return [(t, tag_slug(t)) for t in self.tags]

    @cached_property
    def rendered(self) -> tuple[Markup, tuple[str, ...]]:
        """The body's HTML, and the resolved handles linked in its text."""
        for name in BODY_FIELDS:
            value = self.data.get(name)
            if isinstance(value, str) and value:
                linked, keys = handles.link(render_markdown(value), self.mentioned)
                return Markup(linked), keys
        return Markup(""), ()

    @property
    def html(self) -> Markup:
        return self.rendered[0]

    @property
    def typed_mentions(self) -> list[tuple[str, handles.Resolved]]:
        """The resolved handles the body's text names (outside links and code), in order."""
        return [(k, self.mentioned[k]) for k in self.rendered[1] if k in self.mentioned]

    @property
    def mention_deps(self) -> list[str]:
        """What the resolved handles this entry names add to its pages' fingerprints."""
        if not self.mentioned:
            return []
        found = []
        for name in BODY_FIELDS:
            value = self.data.get(name)
            if isinstance(value, str) and value:
                for key in handles.find(value) if "@" in value else []:
                    resolved = self.mentioned.get(key)
                    if resolved is not None:
                        found.append(f"@{key}={resolved.actor} {resolved.url}")
                break
        return found

    def forget_html(self) -> None:
        """Drop the rendered HTML kept since the last build (a process keeps views between
        builds; their HTML is needed again only if the entry's pages render again)."""
        self.__dict__.pop("rendered", None)

    @property
    def summary(self) -> str:
        return str(self.data.get("summary") or "")

    @cached_property
    def full(self) -> str:
        extra = f":{self.responses.key}" if self.responses else ""
        return f"{self.id}:{self.last_modified}{extra}"

    @cached_property
    def listing(self) -> str:
        shown = {k: v for k, v in self.data.items() if k not in NOT_LISTED}
        digest = hashlib.sha256(orjson.dumps(shown, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
        return f"{self.id}:{digest}"

    @property
    def images(self) -> list[JSONObject]:
        """The image refs this entry shows (photo, note photos, album photos)."""
        if self.type == "photo":
            return [self.data["image"]]
        if self.type == "note":
            return list(self.data.get("photos", []))
        if self.type == "album":
            return [p.data["image"] for p in self.photos]
        return []

    @property
    def featured(self) -> JSONObject | None:
        """The picture a card shows for a text entry: an article's first image (as blogs that
        have no separate field for it do), so the home page is not a wall of text."""
        found = self.body_images
        return found[0] if found else None

    @property
    def body_images(self) -> list[JSONObject]:
        """Images an article's text shows inline (pasted in the GUI's editor, listed in its
        ``images`` field): written to the output, not shown again as photos."""
        if self.type != "article":
            return []
        return [i for i in self.data.get("images", []) if isinstance(i, dict) and "hash" in i]

    @property
    def attachment(self) -> JSONObject | None:
        """The file a paper or file entry offers for download."""
        found = self.data.get("pdf") or self.data.get("file")
        return found if isinstance(found, dict) else None


@dataclass
class Response:
    """One approved webmention as the entry's page shows it (content cleaned by nh3)."""

    type: str
    url: str
    author_name: str
    author_url: str
    author_photo: str
    name: str
    content: Markup
    published: str


@dataclass
class Responses:
    replies: list[Response]
    likes: list[Response]
    reposts: list[Response]
    mentions: list[Response]
    """Bookmarks and plain mentions."""
    key: str
    """Changes with any approved response of the entry: its page is rendered again."""

    def __bool__(self) -> bool:
        return bool(self.replies or self.likes or self.reposts or self.mentions)


def _responses(records: list[JSONObject]) -> Responses:
    from homeport.render.markdown import clean_html
    from homeport.render.urls import web_address

    groups: dict[str, list[Response]] = {"reply": [], "like": [], "repost": [], "other": []}
    for record in sorted(records, key=lambda r: (str(r.get("published") or ""), str(r["id"]))):
        author = record.get("author")
        author = author if isinstance(author, dict) else {}
        content = record.get("content")
        content = content if isinstance(content, dict) else {}
        html = str(content.get("html") or "")
        text = str(content.get("text") or "")
        shown = Markup(clean_html(html)) if html else Markup.escape(text)
        response = Response(
            type=str(record.get("type") or "mention"),
            url=web_address(str(record.get("url") or "")) or web_address(
                str(record.get("source") or "")) or "",
            author_name=str(author.get("name") or ""),
            author_url=web_address(str(author.get("url") or "")) or "",
            author_photo=web_address(str(author.get("photo") or "")) or "",
            name=str(record.get("name") or ""),
            content=shown,
            published=str(record.get("published") or ""),
        )
        groups.get(response.type, groups["other"]).append(response)
    key = hashlib.sha256("|".join(
        f"{r['id']}:{r['last_modified']}" for r in sorted(records, key=lambda r: str(r["id"]))
    ).encode()).hexdigest()[:16]
    return Responses(groups["reply"], groups["like"], groups["repost"], groups["other"], key)


@dataclass
class SiteModel:
    name: str
    settings: JSONObject
    entries: list[EntryView]
    """Public, published entries, newest first."""
    redirects: dict[str, str]
    """Old path → current path."""
    gated: list[EntryView] = field(default_factory=list)
    """Published members-only entries (visibility ``members`` or a tier): never listed, in a
    feed or the sitemap; a provider's build gives each a teaser page and a sealed whole page."""

    @property
    def fingerprint(self) -> str:
        return f"site:{self.settings.get('last_modified')}"

    def get(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)


@lru_cache(maxsize=4096)
def tag_slug(tag: str) -> str:
    return slugify(tag, "tag")


def parse_date(raw: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _shorten(text: str, size: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= size else line[: size - 1].rsplit(" ", 1)[0] + "…"


def safe_name(filename: str) -> str:
    """A file name safe as the last segment of an output path."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1].strip().replace("\x00", "")
    return base if base not in ("", ".", "..") else "file"


def is_public(record: JSONObject) -> bool:
    return record.get("visibility") == "public" and not record.get("draft")


def is_gated(record: JSONObject) -> bool:
    return is_members_visibility(record.get("visibility")) and not record.get("draft")


CACHE = "render.records"
CACHE_SECONDS = 3600.0
"""A process's cache of a collection is dropped after this, well inside tombstone retention,
so a delete is never missed because its tombstone was compacted."""


async def _records(ctx: Context, parent: str) -> dict[str, JSONObject]:
    """Every live record under ``parent``. A long-running process (the home) keeps them and
    reads only what changed since (``last_modified`` above the collection's timestamp, deletes
    included), so a rebuild after one edit reads one record, not the whole site."""
    cache: dict[str, tuple[int, float, dict[str, JSONObject]]] = ctx.caches.setdefault(CACHE, {})
    stamp = await ctx.store.resource_timestamp("record", parent)  # before reading: no gap
    known = cache.get(parent)
    if known is not None and time.monotonic() - known[1] < CACHE_SECONDS:
        seen, at, records = known
        if seen != stamp:
            since = [Filter("last_modified", Op.GT, seen)]
            for record in await ctx.store.list_all("record", parent, since, include_deleted=True):
                if record.get("deleted"):
                    records.pop(str(record["id"]), None)
                else:
                    records[str(record["id"])] = record
        cache[parent] = (stamp, at, records)
        return records
    records = {str(r["id"]): r for r in await ctx.store.list_all("record", parent)}
    cache[parent] = (stamp, time.monotonic(), records)
    return records


def _redirects(views: list[EntryView]) -> dict[str, str]:
    """Old URL path → the entry's path: its earlier slugs, and (imported entries) the paths
    it had on the site it came from."""
    redirects: dict[str, str] = {}
    for view in views:
        for old in view.data.get("old_slugs", []):
            redirects[ENTRY_TYPES[view.type].path(str(old))] = view.path
        for path in view.data.get("old_paths", []):
            if isinstance(path, str) and ".." not in path.split("/") and path != view.path:
                redirects.setdefault(path, view.path)
    return redirects


async def load_site(ctx: Context, site: str) -> SiteModel:
    """Read the settings and every public, published entry of ``site`` from the store."""
    settings = await read_settings(ctx.store, site)
    views: list[EntryView] = []
    gated: list[EntryView] = []
    by_id: dict[str, EntryView] = {}
    previous: dict[str, EntryView] = ctx.caches.get(f"render.views.{site}", {})
    approved: dict[str, list[JSONObject]] = {}
    for mention in (await _records(ctx, collection_uri(site, MENTIONS_COLLECTION))).values():
        if mention.get("status") == APPROVED and mention.get("entry"):
            approved.setdefault(str(mention["entry"]), []).append(mention)
    for kind in ENTRY_TYPES.values():
        records = await _records(ctx, collection_uri(site, kind.collection))
        for record in records.values():
            if not is_public(record):
                if is_gated(record):
                    gated.append(EntryView(kind.name, str(record["id"]), record,
                                           int(record["last_modified"]),
                                           kind.path(str(record["slug"]))))
                continue
            found = approved.get(str(record["id"]))
            responses = _responses(found) if found else None
            full = f"{record['id']}:{record['last_modified']}"
            if responses is not None:
                full += f":{responses.key}"
            view = previous.get(full)
            if view is None:  # unchanged entries keep their rendered HTML and fingerprints
                view = EntryView(kind.name, str(record["id"]), record,
                                 int(record["last_modified"]), kind.path(str(record["slug"])),
                                 responses=responses)
            views.append(view)
            by_id[view.id] = view
    ctx.caches[f"render.views.{site}"] = {v.full: v for v in views}
    for view in views:
        if view.type == "album":
            view.photos = [by_id[p] for p in view.data.get("photos", [])
                           if p in by_id and by_id[p].type == "photo"]
    views.sort(key=lambda v: (v.published, v.id), reverse=True)
    redirects = _redirects(views)
    gated.sort(key=lambda v: (v.published, v.id), reverse=True)
    return SiteModel(site, settings, views, redirects, gated)
