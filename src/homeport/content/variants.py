"""Where image variants live and which exist: readable without decoding (or importing) Pillow.

A build only copies cached variants, so this module is all it needs on the common path;
``media.variants`` makes them when the cache has none.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

WIDTHS = (480, 960, 1920)


@dataclass(frozen=True)
class Variant:
    width: int
    height: int
    ext: str
    mimetype: str
    path: Path


def variant_widths(width: int) -> list[int]:
    """The widths made for an image ``width`` wide: never upscaled, at most 1920."""
    widths = [w for w in WIDTHS if w < width]
    return [*widths, min(width, WIDTHS[-1])]


def variant_folder(data_dir: Path, digest: str, keep_location: bool) -> Path:
    return data_dir / "cache" / "media" / (digest + ("-geo" if keep_location else ""))


def cached_variants(data_dir: Path, digest: str, keep_location: bool) -> list[Variant] | None:
    """The variants already made for this image, or None when they have not been made."""
    folder = variant_folder(data_dir, digest, keep_location)
    try:
        lines = (folder / "index.txt").read_text().splitlines()
    except FileNotFoundError:
        return None
    found = []
    for line in lines:
        width, height, ext, mimetype = line.split()
        found.append(Variant(int(width), int(height), ext, mimetype, folder / f"{width}.{ext}"))
    return found


def index_text(variants: list[Variant]) -> str:
    return "".join(f"{v.width} {v.height} {v.ext} {v.mimetype}\n" for v in variants)
