"""The site as a WordPress export (WXR 1.2), so WordPress's importer (or any tool that reads
WXR) takes it: articles and notes become posts, pages pages, media attachments under
``wp-content/uploads/homeport/`` beside ``export.xml``. Drafts stay drafts; private and
members-only entries become private posts (WordPress has no tiers)."""

from __future__ import annotations

import datetime as dt

from homeport.content.sites import Entry, get_site
from homeport.interop.exporters.common import Writer, entries, media_of, media_path, text_of
from homeport.interop.exporters.report import ExportRequest, ExportResult
from homeport.render.markdown import render_markdown

UPLOADS = "wp-content/uploads/homeport/"


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _wp_date(value: object) -> str:
    text = str(value or "")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return "0000-00-00 00:00:00"
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


class WxrExporter:
    name = "wxr"
    title = "WordPress export (WXR)"

    async def export(self, request: ExportRequest) -> ExportResult:
        settings = await get_site(request.ctx, request.site)
        base = str(settings.get("base_url") or "https://example.invalid").rstrip("/")
        writer = Writer(request)
        items: list[str] = []
        notes: set[str] = set()
        found = await entries(request)
        for number, entry in enumerate(found, start=1):
            attachments = []
            html = text_of(entry)
            for ref in media_of(entry):
                relative = media_path(ref).removeprefix("media/")
                with request.ctx.blobs.open(ref["hash"]) as stream:
                    writer.write(UPLOADS + relative, stream.read())
                url = f"{base}/{UPLOADS}{relative}"
                html = html.replace("/" + media_path(ref), url)
                attachments.append((ref, relative, url))
            if entry.data.get("visibility") not in (None, "public", "private"):
                notes.add("members-only entries were exported as private posts")
            items.append(self._item(entry, number, base, render_markdown(html)))
            for index, (ref, relative, url) in enumerate(attachments):
                items.append(_attachment(number, index, ref, relative, url))
        channel = (f"<title>{_cdata(str(settings.get('title', request.site)))}</title>"
                   f"<link>{base}</link><wp:wxr_version>1.2</wp:wxr_version>"
                   f"<wp:base_site_url>{base}</wp:base_site_url>")
        document = ('<?xml version="1.0" encoding="UTF-8" ?>\n<rss version="2.0" '
                    'xmlns:excerpt="http://wordpress.org/export/1.2/excerpt/" '
                    'xmlns:content="http://purl.org/rss/1.0/modules/content/" '
                    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
                    'xmlns:wp="http://wordpress.org/export/1.2/">\n<channel>' + channel
                    + "\n" + "\n".join(items) + "\n</channel>\n</rss>\n")
        writer.write("export.xml", document.encode())
        return ExportResult(len(found), writer.files, tuple(sorted(notes)))

    def _item(self, entry: Entry, number: int, base: str, html: str) -> str:
        data = entry.data
        status = "draft" if data.get("draft") else (
            "publish" if data.get("visibility", "public") == "public" else "private")
        tags = "".join(f'<category domain="post_tag" nicename="{_attr(t)}">{_cdata(t)}'
                       "</category>" for t in data.get("tags", []))
        return (f"<item><title>{_cdata(str(data.get('title') or ''))}</title>"
                f"<link>{base}{entry.path}</link>"
                f"<content:encoded>{_cdata(html)}</content:encoded>"
                f"<excerpt:encoded>{_cdata(str(data.get('summary') or ''))}</excerpt:encoded>"
                f"<wp:post_id>{number}</wp:post_id>"
                f"<wp:post_date_gmt>{_wp_date(data.get('published'))}</wp:post_date_gmt>"
                f"<wp:post_name>{_cdata(entry.slug)}</wp:post_name>"
                f"<wp:status>{status}</wp:status>"
                f"<wp:post_type>{'page' if entry.type == 'page' else 'post'}</wp:post_type>"
                f"{tags}</item>")


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _attachment(parent: int, index: int, ref: dict[str, object], relative: str,
                url: str) -> str:
    number = 1_000_000 + parent * 1000 + index
    return (f"<item><title>{_cdata(str(ref.get('filename') or ''))}</title>"
            f"<wp:post_id>{number}</wp:post_id><wp:post_parent>{parent}</wp:post_parent>"
            "<wp:status>inherit</wp:status><wp:post_type>attachment</wp:post_type>"
            f"<wp:attachment_url>{_cdata(url)}</wp:attachment_url>"
            "<wp:postmeta><wp:meta_key>_wp_attached_file</wp:meta_key>"
            f"<wp:meta_value>{_cdata('homeport/' + relative)}</wp:meta_value></wp:postmeta>"
            "<wp:postmeta><wp:meta_key>_wp_attachment_image_alt</wp:meta_key>"
            f"<wp:meta_value>{_cdata(str(ref.get('alt') or ''))}</wp:meta_value>"
            "</wp:postmeta></item>")
