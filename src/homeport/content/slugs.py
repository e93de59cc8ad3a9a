"""Slugs: derived once from the title, unique per site, never silently changed.

A title edit keeps the slug (so links stay valid); an explicit new slug keeps the old one in the
site's ``slugs`` collection, from which the renderer writes redirects.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from homeport.content.schemas import SLUG_PATTERN
from homeport.content.types import RESERVED_SLUGS

MAX_SLUG = 60
_SLUG = re.compile(SLUG_PATTERN)


def slugify(text: str, fallback: str = "entry") -> str:
    """``"Héllo, World!"`` → ``"hello-world"``; ``fallback`` when nothing is left."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    slug = slug[:MAX_SLUG].rstrip("-")
    return slug or fallback


def valid_slug(slug: str) -> bool:
    return bool(_SLUG.match(slug)) and slug not in RESERVED_SLUGS


def candidates(base: str, limit: int = 1000) -> list[str]:
    """``base``, ``base-2``, ``base-3``…: the slugs tried in order for a new entry."""
    return list(iter_candidates(base, limit))


def iter_candidates(base: str, limit: int = 1000) -> Iterator[str]:
    """``candidates`` made as they are asked for: a new entry's slug is nearly always the
    first, and making all 1,000 each time was most of an import's slug choice."""
    if base in RESERVED_SLUGS:
        base = f"{base}-1"
    yield base
    for n in range(2, limit + 1):
        suffix = f"-{n}"
        yield base[: MAX_SLUG - len(suffix)].rstrip("-") + suffix
