"""Everything as one JSON Feed 1.1 (``feed.json``) with the media beside it: readable by any
feed reader and importable by micro.blog and others. Homeport's own fields that JSON Feed has
no name for (type, slug, visibility, draft) are kept under the ``_homeport`` extension key."""

from __future__ import annotations

from typing import Any

from homeport import jsonio
from homeport.content.sites import get_site
from homeport.interop.exporters.common import Writer, entries, media_of, media_path, text_of
from homeport.interop.exporters.report import ExportRequest, ExportResult
from homeport.render.markdown import render_markdown

VERSION = "https://jsonfeed.org/version/1.1"


class JsonFeedExporter:
    name = "jsonfeed"
    title = "JSON Feed of everything"

    async def export(self, request: ExportRequest) -> ExportResult:
        settings = await get_site(request.ctx, request.site)
        base = str(settings.get("base_url") or "").rstrip("/")
        writer = Writer(request)
        items: list[dict[str, Any]] = []
        for entry in await entries(request):
            writer.media(entry)
            url = f"{base}{entry.path}" if base else entry.path
            item: dict[str, Any] = {
                "id": url if base else f"{request.site}:{entry.type}:{entry.id}",
                "url": url,
                "content_html": render_markdown(text_of(entry)),
                "date_published": entry.data.get("published"),
                "_homeport": {"type": entry.type, "slug": entry.slug,
                              "visibility": entry.data.get("visibility", "public"),
                              "draft": bool(entry.data.get("draft"))},
            }
            if entry.data.get("title"):
                item["title"] = entry.data["title"]
            for key, name in (("summary", "summary"), ("updated", "date_modified"),
                              ("tags", "tags"), ("url", "external_url")):
                if entry.data.get(key):
                    item[name] = entry.data[key]
            attachments = [{"url": media_path(ref), "mime_type": ref.get("mimetype", ""),
                            "size_in_bytes": ref.get("size", 0),
                            **({"title": ref["alt"]} if ref.get("alt") else {})}
                           for ref in media_of(entry)]
            if attachments:
                item["attachments"] = attachments
                if attachments[0]["mime_type"].startswith("image/"):
                    item["image"] = attachments[0]["url"]
            items.append(item)
        feed: dict[str, Any] = {"version": VERSION, "title": settings.get("title", request.site),
                                "items": list(reversed(items))}
        if base:
            feed["home_page_url"] = base + "/"
        if settings.get("description"):
            feed["description"] = settings["description"]
        writer.write("feed.json", jsonio.dumps(feed))
        return ExportResult(len(items), writer.files)
