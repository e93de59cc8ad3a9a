"""The site as an ActivityStreams 2.0 outbox, laid out as a Mastodon archive is: ``outbox.json``
(an ``OrderedCollection`` of ``Create`` activities, oldest first), ``actor.json`` and the media
under ``media_attachments/`` addressed by root-relative URLs. Tools that read Mastodon archives
(and Homeport's own ``import-from mastodon``) read it.

Notes, photos and bookmarks become ``Note``s, the longer types ``Article``s with their title as
``name``, as the site's own ActivityPub documents have them. Public entries are addressed to
``as:Public``; private and members-only ones only to the followers collection, which readers of
archives take as "not public". Drafts are left out (an outbox holds what was published), as are
pages and files, which are not posts.
"""

from __future__ import annotations

from typing import Any

from homeport import jsonio
from homeport.content.sites import Entry, get_site
from homeport.interop.exporters.common import Writer, entries, media_of, media_path, text_of
from homeport.interop.exporters.report import ExportRequest, ExportResult
from homeport.render.activitypub import (
    ACTOR,
    AS_CONTEXT,
    FOLLOWERS,
    OBJECT_TYPES,
    OUTBOX,
    PUBLIC,
    hashtag,
)
from homeport.render.markdown import render_markdown

MEDIA = "media_attachments/"


class OutboxExporter:
    name = "outbox"
    title = "ActivityStreams outbox (Mastodon archive layout)"

    async def export(self, request: ExportRequest) -> ExportResult:
        settings = await get_site(request.ctx, request.site)
        base = str(settings.get("base_url") or "https://example.invalid").rstrip("/")
        actor = base + ACTOR
        writer = Writer(request)
        activities: list[dict[str, Any]] = []
        left_out = 0
        for entry in await entries(request):
            if entry.type not in OBJECT_TYPES or entry.data.get("draft"):
                left_out += 1
                continue
            writer.media(entry, MEDIA)
            obj = _object(entry, base, actor)
            activities.append({"id": f"{obj['id']}#create", "type": "Create", "actor": actor,
                               "published": obj["published"], "to": obj["to"],
                               "cc": obj["cc"], "object": obj})
        writer.write("outbox.json", jsonio.dumps({
            "@context": AS_CONTEXT, "id": base + OUTBOX, "type": "OrderedCollection",
            "totalItems": len(activities), "orderedItems": activities}))
        writer.write("actor.json", jsonio.dumps({
            "@context": AS_CONTEXT, "id": actor, "type": "Person",
            "preferredUsername": request.site, "name": str(settings.get("title") or ""),
            "summary": str(settings.get("description") or ""), "url": base + "/",
            "outbox": base + OUTBOX, "followers": base + FOLLOWERS}))
        notes = (f"{left_out} drafts, pages and files are not posts and were left out",
                 ) if left_out else ()
        return ExportResult(len(activities), writer.files, notes)


def _object(entry: Entry, base: str, actor: str) -> dict[str, Any]:
    data = entry.data
    url = base + entry.path
    public = data.get("visibility", "public") == "public"
    text = text_of(entry)
    for ref in media_of(entry):  # inline images point at the copies under media_attachments/
        text = text.replace("/" + media_path(ref), "/" + MEDIA + media_path(ref))
    content = render_markdown(text)
    obj: dict[str, Any] = {
        "id": url, "type": OBJECT_TYPES[entry.type], "attributedTo": actor, "url": url,
        "published": data.get("published"),
        "to": [PUBLIC] if public else [base + FOLLOWERS],
        "cc": [base + FOLLOWERS] if public else [],
        "content": content,
        "sensitive": bool(data.get("sensitive") or data.get("content_warning")),
        "attachment": [{"type": "Document", "mediaType": str(ref.get("mimetype") or ""),
                        "url": "/" + MEDIA + media_path(ref), "name": str(ref.get("alt") or ""),
                        **({"width": ref["width"], "height": ref["height"]}
                           if ref.get("width") and ref.get("height") else {})}
                       for ref in media_of(entry)],
        "tag": [{"type": "Hashtag", "name": hashtag(str(tag))} for tag in data.get("tags") or []],
    }
    if obj["type"] == "Article":
        obj["name"] = str(data.get("title") or "")
        if data.get("summary"):
            obj["summary"] = str(data["summary"])
    if data.get("content_warning"):
        obj["summary"] = str(data["content_warning"])
    if data.get("updated"):
        obj["updated"] = data["updated"]
    if data.get("reply_to"):
        obj["inReplyTo"] = data["reply_to"]
    return obj
