"""A folder of Markdown files with YAML front matter, ready for Hugo or Jekyll:
``content/<type>s/<slug>.md`` and the media under ``static/media/`` (Hugo serves ``static/``
at the site root). Earlier URLs become ``aliases`` (Hugo) and ``redirect_from`` (Jekyll's
redirect plugin), so links into the old site keep working there too."""

from __future__ import annotations

from typing import Any

from homeport import jsonio
from homeport.content.sites import Entry
from homeport.content.types import ENTRY_TYPES
from homeport.interop.exporters.common import Writer, entries, media_of, media_path, text_of
from homeport.interop.exporters.report import ExportRequest, ExportResult


def _yaml(value: Any) -> str:
    """A YAML scalar or flow list; JSON strings are valid YAML and escape everything."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    return jsonio.dumps_text(str(value))


def front_matter(entry: Entry) -> str:
    data = entry.data
    fields: dict[str, Any] = {"title": data.get("title") or "", "date": data.get("published"),
                              "slug": entry.slug, "type": entry.type}
    for key in ("summary", "tags", "updated", "visibility", "content_warning", "reply_to",
                "url"):
        if data.get(key):
            fields["lastmod" if key == "updated" else key] = data[key]
    if data.get("draft"):
        fields["draft"] = True
    old = [ENTRY_TYPES[entry.type].path(str(s)) for s in data.get("old_slugs", [])]
    old += [str(p) for p in data.get("old_paths", [])]
    if old:
        fields["aliases"] = old
        fields["redirect_from"] = old
    images = ["/" + media_path(ref) for ref in media_of(entry)]
    if images:
        fields["images"] = images
    lines = [f"{key}: {_yaml(value)}" for key, value in fields.items() if value is not None]
    return "---\n" + "\n".join(lines) + "\n---\n"


class MarkdownExporter:
    name = "markdown"
    title = "Markdown folder (Hugo, Jekyll)"

    async def export(self, request: ExportRequest) -> ExportResult:
        writer = Writer(request)
        count = 0
        for entry in await entries(request):
            writer.media(entry, "static/")
            text = front_matter(entry) + "\n" + text_of(entry).rstrip() + "\n"
            collection = ENTRY_TYPES[entry.type].collection
            writer.write(f"content/{collection}/{entry.slug}.md", text.encode())
            count += 1
        return ExportResult(count, writer.files)
