"""What the exporters share: the site's entries in a stable order, their text and media, and
a writer that never leaves the target folder and rewrites nothing that is already equal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from homeport.content.media import safe_name
from homeport.content.sites import Entry, list_entries
from homeport.files import write_atomically
from homeport.interop.exporters.report import ExportRequest

MEDIA_FIELDS = ("image", "photos", "images", "pdf", "file")
_BODY_MEDIA = re.compile(r"(?:\.\./)+media/([0-9a-f]{64})/[0-9]+\.(?:jpg|webp)")


async def entries(request: ExportRequest) -> list[Entry]:
    """Every entry (drafts and private ones too: it is the owner's own copy), oldest first."""
    found = await list_entries(request.ctx, request.site)
    return sorted(found, key=lambda e: (str(e.data.get("published", "")), e.id))


def media_of(entry: Entry) -> Iterator[dict[str, Any]]:
    for name in MEDIA_FIELDS:
        value = entry.data.get(name)
        for ref in value if isinstance(value, list) else [value]:
            if isinstance(ref, dict) and isinstance(ref.get("hash"), str):
                yield ref


def media_path(ref: dict[str, Any]) -> str:
    """Where a medium is written, relative to the target: ``media/<hash>/<filename>``."""
    return f"media/{ref['hash']}/{safe_name(str(ref.get('filename') or 'file'))}"


def text_of(entry: Entry) -> str:
    """The entry's own words (Markdown), with inline images pointed at the exported copies."""
    data = entry.data
    text = str(data.get("body") or data.get("text") or data.get("caption") or
               data.get("description") or data.get("abstract") or data.get("comment") or "")
    names = {ref["hash"]: media_path(ref) for ref in media_of(entry)}

    def local(found: re.Match[str]) -> str:
        return "/" + names[found.group(1)] if found.group(1) in names else found.group(0)

    return _BODY_MEDIA.sub(local, text)


def title_of(entry: Entry) -> str:
    return str(entry.data.get("title") or "")


class Writer:
    """Writes below ``target`` only; a file whose bytes are already there is left alone, so a
    second export into the same folder changes nothing."""

    def __init__(self, request: ExportRequest) -> None:
        self.root = request.target.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.request = request
        self.files = 0

    def write(self, relative: str, data: bytes) -> None:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"{relative!r} would leave the export folder")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.files += 1
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return
        write_atomically(path, data)

    def media(self, entry: Entry, prefix: str = "") -> None:
        for ref in media_of(entry):
            with self.request.ctx.blobs.open(str(ref["hash"])) as stream:
                self.write(prefix + media_path(ref), stream.read())


def written_into(target: Path) -> list[str]:
    return sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
