"""Where things go: output paths of media, and URLs for a given base URL.

Links inside pages are root-relative to the site's base path (so a build for
``http://127.0.0.1:8750/preview/blog/`` works under that prefix); canonical URLs, OpenGraph and
feed links are absolute.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from homeport.content.variants import variant_widths

MediaRef = dict[str, Any]

LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")
_DROPPED = re.compile(r"[\x00-\x20\x7f]")
"""What a browser drops from a URL before reading its scheme (tabs and newlines anywhere, C0
controls and spaces around it), all dropped here to be on the safe side."""


def safe_link(value: object) -> str | None:
    """``value`` if a browser following it runs nothing: an http, https or mailto URL, or a
    relative one; None for anything else (``javascript:``, ``data:``…, however disguised).
    Every link the renderer writes from data (settings, entries) goes through this, whatever
    wrote the data: the GUI's checks do not cover ``/v1`` or a schema the owner replaced."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    probe = _DROPPED.sub("", html.unescape(text))
    found = _SCHEME.match(probe)
    if found is not None and found.group(1).lower() not in LINK_SCHEMES:
        return None
    return text or None


def web_address(value: object) -> str | None:
    """``value`` if it is an absolute http(s) URL (a site's base URL), else None."""
    link = safe_link(value)
    if link is None or not link.lower().startswith(("http://", "https://")):
        return None
    return link


def image_path(ref: MediaRef, width: int, ext: str) -> str:
    """The output path of the variant closest to ``width`` (never upscaled)."""
    widths = variant_widths(int(ref.get("width") or width))
    chosen = next((w for w in widths if w >= width), widths[-1])
    return f"/media/{ref['hash']}/{chosen}.{ext}"


def srcset(ref: MediaRef, ext: str, prefix: str) -> str:
    widths = variant_widths(int(ref.get("width") or 480))
    return ", ".join(f"{prefix}/media/{ref['hash']}/{w}.{ext} {w}w" for w in widths)


@dataclass(frozen=True)
class Urls:
    base_url: str
    """``https://example.org/`` or ``http://127.0.0.1:8750/preview/blog/``: ends with ``/``."""

    @classmethod
    def for_base(cls, base_url: str) -> Urls:
        return cls(base_url.rstrip("/") + "/")

    @property
    def prefix(self) -> str:
        """The base URL's path without the final slash: ``""`` or ``/preview/blog``."""
        return urlsplit(self.base_url).path.rstrip("/")

    def url(self, path: str) -> str:
        """A root-relative link to a site path (``/articles/x/``)."""
        return self.prefix + path

    def absolute(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    def image(self, ref: MediaRef, width: int = 960, ext: str = "jpg") -> str:
        return self.url(image_path(ref, width, ext))

    def srcset(self, ref: MediaRef, ext: str = "webp") -> str:
        return srcset(ref, ext, self.prefix)
