"""The built-in entry types (article, note, photo, album, paper, page, file, bookmark)."""

from __future__ import annotations

from homeport.content.schemas import FIELDS
from homeport.content.types import BUILTIN_TYPES, ENTRY_TYPES
from homeport.plugins import hookimpl
from homeport.plugins.kinds import ContentType


@hookimpl
def register_content_types() -> list[ContentType]:
    return [
        ContentType(name, ENTRY_TYPES[name].collection, ENTRY_TYPES[name].title_field,
                    FIELDS[name][0], tuple(FIELDS[name][1]), in_feed=ENTRY_TYPES[name].in_feed)
        for name in sorted(BUILTIN_TYPES)
    ]
