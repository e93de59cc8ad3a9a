"""A JSON Feed (1.0 or 1.1: micro.blog's export, many blogs' ``feed.json``, or Homeport's own
``export-to jsonfeed``) → notes and articles.

SOURCE is the ``.json`` file or a folder holding ``feed.json`` (media referenced by a relative
URL are copied from beside it; remote ones are fetched with ``--option remote_media=yes``,
else named in the report). An item with
a title becomes an article (its ``content_html`` kept as the body), one without a note (its
``content_text``, or the HTML's words). The ``_homeport`` extension Homeport's exporter writes
(type, slug, visibility, draft) is honoured, so an export comes back as it left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homeport import jsonio
from homeport.content.media import Upload
from homeport.interop.importers.common import (
    Archive,
    Planned,
    fetch_remote,
    html_to_text,
    image,
    iso,
    old_path,
    remote_media,
    tags_of,
    write,
)
from homeport.interop.importers.report import ImportFailed, ImportItem, ImportRequest

MAX_FEED = 256 * 1024 * 1024
NOTE_LIMIT = 5000


class JsonFeedImporter:
    name = "jsonfeed"
    title = "JSON Feed (micro.blog and others)"
    accepts = "a JSON Feed file (.json), or a folder with feed.json and its media"

    async def run(self, request: ImportRequest) -> AsyncIterator[ImportItem]:
        source = Path(request.source)
        if not source.exists():
            raise ImportFailed(f"there is no file or folder {request.source}")
        folder = Archive(source.parent if source.is_file() else source)
        feed_file = source if source.is_file() else source / "feed.json"
        if not feed_file.is_file():
            raise ImportFailed(f"{source} holds no feed.json")
        if feed_file.stat().st_size > MAX_FEED:
            raise ImportFailed(f"{feed_file.name} is larger than {MAX_FEED} bytes")
        try:
            feed = jsonio.loads_untrusted(feed_file.read_bytes())
        except ValueError as exc:
            raise ImportFailed(f"{feed_file.name} is not readable JSON: {exc}") from None
        if not isinstance(feed, dict) or not str(feed.get("version", "")).startswith(
                "https://jsonfeed.org/version/") or not isinstance(feed.get("items"), list):
            raise ImportFailed(f"{feed_file.name} is not a JSON Feed (no version or items)")
        for item in feed["items"]:
            if not isinstance(item, dict) or not item.get("id"):
                yield ImportItem("?", "failed", "", "", "an item without an id")
                continue
            remote: list[tuple[str, str]] = []
            plan = _plan(folder, item, remote if remote_media(request) else None)
            for url, alt in remote:
                data = await fetch_remote(request, url)
                upload = data if isinstance(data, str) else image(data, url, alt)
                if isinstance(upload, str):
                    plan.notes.append(upload)
                else:
                    field_name = "photos" if plan.type == "note" else "images"
                    plan.attachments.setdefault(field_name, []).append(upload)
            if len(plan.attachments.get("photos", [])) > 4:
                plan.attachments["photos"] = plan.attachments["photos"][:4]
            if plan.type not in ("note", "article"):
                plan.attachments.clear()
            yield await write(request, self.name, plan)


def _plan(folder: Archive, item: dict[str, Any], remote: list[tuple[str, str]] | None
          ) -> Planned:
    given = item.get("_homeport")
    own: dict[str, Any] = given if isinstance(given, dict) else {}
    notes: list[str] = []
    html = str(item.get("content_html") or "")
    text = str(item.get("content_text") or "") or html_to_text(html)
    title = str(item.get("title") or "").strip()
    kind = str(own.get("type") or ("article" if title else "note"))
    if kind not in ("article", "note", "page"):
        kind = "article" if title else "note"
    if kind == "note" and len(text) > NOTE_LIMIT:
        kind = "article"
    fields: dict[str, Any] = {}
    if kind == "note":
        fields["text"] = text or "…"
    else:
        fields["title"] = (title or text[:80] or "Untitled")[:300]
        fields["body"] = html or text or " "
        if item.get("summary") and kind == "article":
            fields["summary"] = str(item["summary"])[:2000]
    published = iso(str(item.get("date_published") or ""))
    if published:
        fields["published"] = published
    if kind != "page" and isinstance(item.get("tags"), list):
        fields["tags"] = tags_of([str(t) for t in item["tags"]])
    for key in ("slug", "visibility"):
        if isinstance(own.get(key), str):
            fields[key] = own[key]
    if own.get("draft") is True:
        fields["draft"] = True
    url = item.get("url")
    if isinstance(url, str) and url.startswith("http"):
        link = old_path(url)
        if link:
            fields["old_paths"] = [link]
    plan = Planned(str(item["id"]), kind, fields, notes=notes)
    photos = _photos(folder, item, notes, remote)
    if photos and kind == "note":
        plan.attachments["photos"] = photos[:4]
    elif photos and kind == "article":
        plan.attachments["images"] = photos
    return plan


def _photos(folder: Archive, item: dict[str, Any], notes: list[str],
            remote: list[tuple[str, str]] | None) -> list[Upload]:
    """The item's images beside the feed; those named by URL go into ``remote`` to be
    fetched (``--option remote_media=yes``), else are named in the report."""
    found: list[Upload] = []
    for attachment in item.get("attachments") or []:
        if not isinstance(attachment, dict):
            continue
        url = str(attachment.get("url") or "")
        if not str(attachment.get("mime_type", "")).startswith("image/"):
            continue
        if url.startswith(("http://", "https://")):
            if remote is None:
                notes.append(f"remote media not copied: {url} (--option remote_media=yes "
                             "fetches it)")
            else:
                remote.append((url, str(attachment.get("title") or "")))
            continue
        data = folder.read(url.lstrip("/"))
        if data is None:
            notes.append(f"media missing: {url}")
            continue
        upload = image(data, url, str(attachment.get("title") or ""))
        if isinstance(upload, str):
            notes.append(upload)
        else:
            found.append(upload)
    return found
