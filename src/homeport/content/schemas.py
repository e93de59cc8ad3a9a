"""The JSON schema of every entry type, set on its collection so the store enforces it.

Schemas are documented in ``docs/site.md``; they allow extra properties so plugins and newer
versions can add fields without a migration, but every field Homeport reads is typed here.
"""

from __future__ import annotations

from typing import Any

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$"
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$"

Schema = dict[str, Any]

MEDIA: Schema = {
    "type": "object",
    "required": ["hash", "mimetype", "size", "filename"],
    "properties": {
        "hash": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        "mimetype": {"type": "string", "maxLength": 255},
        "size": {"type": "integer", "minimum": 0},
        "filename": {"type": "string", "minLength": 1, "maxLength": 255},
        "width": {"type": "integer", "minimum": 1},
        "height": {"type": "integer", "minimum": 1},
        "alt": {"type": "string", "maxLength": 1000},
    },
}
"""A file kept in the content-addressed blob store, named by its SHA-256."""

IMAGE: Schema = {**MEDIA, "required": [*MEDIA["required"], "width", "height"]}


_TEXT = {"type": "string", "maxLength": 1_000_000}
_LINE = {"type": "string", "minLength": 1, "maxLength": 300}
_URL = {"type": "string", "pattern": "^https?://", "maxLength": 2000}

COMMON: Schema = {
    "slug": {"type": "string", "pattern": SLUG_PATTERN},
    "visibility": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"},
    "draft": {"type": "boolean"},
    "published": {"type": "string", "pattern": DATE_PATTERN},
    "updated": {"type": "string", "pattern": DATE_PATTERN},
    "tags": {
        "type": "array",
        "maxItems": 32,
        "uniqueItems": True,
        "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"^[^/\\]+$"},
    },
    "old_slugs": {"type": "array", "items": {"type": "string", "pattern": SLUG_PATTERN}},
    "old_paths": {
        "type": "array",
        "maxItems": 20,
        "items": {"type": "string", "pattern": r"^/[A-Za-z0-9._~%!$&'()*+,;=:@/-]{0,500}$"},
    },
    "content_warning": {"type": "string", "maxLength": 500},
    "sensitive": {"type": "boolean"},
    "pinned": {"type": "boolean"},
    "mentions": {
        "type": "array",
        "maxItems": 50,
        "items": {
            "type": "object",
            "required": ["name", "href"],
            "properties": {"name": {"type": "string", "maxLength": 300}, "href": _URL},
        },
    },
}
COMMON_REQUIRED = ["slug", "visibility", "draft", "published"]

FIELDS: dict[str, tuple[Schema, list[str]]] = {
    "article": (
        {
            "title": _LINE,
            "body": _TEXT,
            "summary": {"type": "string", "maxLength": 2000},
            "images": {"type": "array", "maxItems": 200, "items": IMAGE},
        },
        ["title", "body"],
    ),
    "note": (
        {
            "text": {"type": "string", "minLength": 1, "maxLength": 5000},
            "photos": {"type": "array", "maxItems": 4, "items": IMAGE},
            "reply_to": _URL,
        },
        ["text"],
    ),
    "photo": (
        {
            "image": IMAGE,
            "alt": {"type": "string", "minLength": 1, "maxLength": 1000},
            "caption": {"type": "string", "maxLength": 5000},
            "title": {"type": "string", "maxLength": 300},
        },
        ["image", "alt"],
    ),
    "album": (
        {
            "title": _LINE,
            "description": {"type": "string", "maxLength": 20_000},
            "photos": {"type": "array", "maxItems": 1000, "items": {"type": "string"}},
        },
        ["title", "photos"],
    ),
    "paper": (
        {
            "title": _LINE,
            "authors": {"type": "array", "minItems": 1, "items": _LINE},
            "abstract": {"type": "string", "maxLength": 20_000},
            "venue": {"type": "string", "maxLength": 300},
            "year": {"type": "integer", "minimum": 1000, "maximum": 9999},
            "doi": {"type": "string", "pattern": r"^10\.\d{4,9}/\S+$"},
            "pdf": MEDIA,
        },
        ["title", "authors", "pdf"],
    ),
    "page": (
        {"title": _LINE, "body": _TEXT, "nav": {"type": "integer", "minimum": 0}},
        ["title", "body"],
    ),
    "file": (
        {"title": _LINE, "file": MEDIA, "description": {"type": "string", "maxLength": 20_000}},
        ["title", "file"],
    ),
    "bookmark": (
        {"url": _URL, "title": {"type": "string", "maxLength": 300}, "comment": _TEXT},
        ["url"],
    ),
}


def entry_schema(entry_type: str) -> Schema:
    """The full schema of one entry type's records (the common fields and its own)."""
    own, required = FIELDS[entry_type]
    return {
        "type": "object",
        "title": entry_type,
        "required": [*COMMON_REQUIRED, *required],
        "properties": {**COMMON, **own},
    }


FEDIVERSE: Schema = {
    "type": "object",
    "properties": {
        "username": {"type": "string", "pattern": r"^[a-z0-9_](?:[a-z0-9_.-]{0,62}[a-z0-9_])?$"},
        "manually_approves_followers": {"type": "boolean"},
        "discoverable": {"type": "boolean"},
        "fields": {
            "type": "array",
            "maxItems": 8,
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": _LINE, "value": {"type": "string", "maxLength": 2000}},
            },
        },
        "header": IMAGE,
        "also_known_as": {"type": "array", "maxItems": 10, "items": _URL},
        "moved_to": _URL,
    },
}
"""The site as an ActivityPub actor (``render/activitypub.py``, ``docs/fediverse.md``)."""

SITE_SETTINGS: Schema = {
    "type": "object",
    "required": ["title", "theme"],
    "properties": {
        "title": _LINE,
        "description": {"type": "string", "maxLength": 2000},
        "author": {"type": "string", "maxLength": 300},
        "avatar": IMAGE,
        "theme": {"type": "string", "pattern": r"^[a-z0-9][a-z0-9_-]*$"},
        "base_url": {"type": "string", "pattern": "^(https?://.+)?$"},
        "language": {"type": "string", "pattern": r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$"},
        "keep_location": {"type": "boolean"},
        "per_page": {"type": "integer", "minimum": 1, "maximum": 500},
        "domains": {"type": "array", "items": {"type": "string", "maxLength": 253}},
        "fediverse": FEDIVERSE,
        "navigation": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["title", "url"],
                "properties": {"title": _LINE, "url": {"type": "string", "maxLength": 2000}},
            },
        },
    },
}
"""The one ``site`` record of a site's ``settings`` collection."""
