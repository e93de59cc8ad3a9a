"""The entry types: their collection, URL prefix and which field names them."""

from __future__ import annotations

from dataclasses import dataclass

from homeport.content.errors import ContentError
from homeport.content.schemas import FIELDS, Schema
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
    template: str = ""
    """The theme template of its pages; empty: the theme's ``entry.html``. A plugin's type
    names its own (``render/themes.py`` keeps plugins' templates)."""

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


BUILTIN_TYPES = frozenset(ENTRY_TYPES)
OWN_COLLECTIONS = RESERVED_SLUGS | {SETTINGS_COLLECTION, SLUGS_COLLECTION, "mentions"}
"""Collections of a site's bucket a plugin's entry type may not take."""


def register_entry_type(kind: EntryType, fields: Schema, required: list[str]) -> None:
    """Add a plugin's entry type (``plugins/activate.py``): its schema's own fields and which
    are required. A built-in type or another type's collection cannot be taken."""
    if kind.name in BUILTIN_TYPES or kind.collection in OWN_COLLECTIONS:
        raise ContentError(f"entry type {kind.name!r} (collection {kind.collection!r}) would "
                           "replace a built-in one")
    taken = {t.collection: t.name for t in ENTRY_TYPES.values()}
    if taken.get(kind.collection, kind.name) != kind.name:
        raise ContentError(f"collection {kind.collection!r} is already entry type "
                           f"{taken[kind.collection]!r}'s")
    ENTRY_TYPES[kind.name] = kind
    FIELDS[kind.name] = (fields, required)


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
