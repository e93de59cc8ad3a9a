"""The entry types: their collection, URL prefix and which field names them."""

from __future__ import annotations

from dataclasses import dataclass

from homeport.content.errors import ContentError
from homeport.content.schemas import FIELDS
from homeport.core.errors import ObjectNotFound
from homeport.store.protocols import JSONObject, RecordStore


@dataclass(frozen=True)
class EntryType:
    name: str
    collection: str
    """The collection in the site's bucket; also the URL prefix (pages live at the root)."""
    title_field: str
    in_feed: bool
    """Shown in the home page's stream and the feeds (pages and files are not)."""

    @property
    def prefix(self) -> str:
        return "" if self.name == "page" else self.collection

    def path(self, slug: str) -> str:
        """The entry's URL path below the site's root: ``/articles/<slug>/``, pages ``/<slug>/``."""
        return f"/{self.prefix}/{slug}/" if self.prefix else f"/{slug}/"


ENTRY_TYPES: dict[str, EntryType] = {
    t.name: t
    for t in (
        EntryType("article", "articles", "title", True),
        EntryType("note", "notes", "text", True),
        EntryType("photo", "photos", "alt", True),
        EntryType("album", "albums", "title", True),
        EntryType("paper", "papers", "title", True),
        EntryType("page", "pages", "title", False),
        EntryType("file", "files", "title", False),
        EntryType("bookmark", "bookmarks", "url", True),
    )
}
assert set(ENTRY_TYPES) == set(FIELDS)

SETTINGS_COLLECTION = "settings"
SETTINGS_RECORD = "site"
SLUGS_COLLECTION = "slugs"
"""Record id = slug; ``{type, entry, current}``: makes slugs unique and old URLs redirect."""

RESERVED_SLUGS = frozenset(
    {t.collection for t in ENTRY_TYPES.values()}
    | {"tags", "archive", "page", "media", "feed", "feeds", "admin", "preview", "v1", "404"}
)


def bucket_uri(site: str) -> str:
    return f"/buckets/{site}"


def collection_uri(site: str, collection: str) -> str:
    return f"/buckets/{site}/collections/{collection}"


def entry_type(name: str) -> EntryType:
    found = ENTRY_TYPES.get(name)
    if found is None:
        raise ContentError(f"unknown entry type {name!r} (one of: {', '.join(ENTRY_TYPES)})")
    return found


async def read_settings(store: RecordStore, site: str) -> JSONObject:
    """The site's settings record; ContentError when there is no such site."""
    try:
        return await store.get("record", collection_uri(site, SETTINGS_COLLECTION),
                               SETTINGS_RECORD)
    except ObjectNotFound:
        raise ContentError(f"there is no site named {site!r}") from None
