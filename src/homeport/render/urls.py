"""Where things go: output paths of media, and URLs for a given base URL.

Links inside pages are root-relative to the site's base path (so a build for
``http://127.0.0.1:8750/preview/blog/`` works under that prefix); canonical URLs, OpenGraph and
feed links are absolute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from homeport.content.variants import variant_widths

MediaRef = dict[str, Any]


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
