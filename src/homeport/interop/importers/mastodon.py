"""A Mastodon archive (Settings → Import and export → Request your archive: a zip, or a
tar.gz from older servers, or the unpacked folder) → notes.

Reads ``outbox.json`` (an ActivityStreams OrderedCollection of ``Create`` and ``Announce``
activities) and copies each toot's media from ``media_attachments/…`` in the archive. Boosts
of others' posts (``Announce``) are skipped; replies keep ``reply_to``; content warnings
become ``content_warning``; hashtags become tags; followers-only and direct toots become
private. A toot longer than a note holds becomes an article. The toot's old URL (``/@you/ID``)
becomes a redirect. An ``Article`` with a ``name`` (other AS2 outboxes, Homeport's own
``export-to outbox``) becomes an article with that title and its HTML as the body. A video,
GIF (kept as mp4) or audio file becomes a ``file`` entry the note links to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath
from typing import Any

from homeport import jsonio
from homeport.content.media import Upload
from homeport.content.slugs import slugify, valid_slug
from homeport.interop.importers.common import (
    Archive,
    Planned,
    html_to_text,
    image,
    iso,
    old_path,
    tags_of,
    write_all,
)
from homeport.interop.importers.report import ImportFailed, ImportItem, ImportRequest

PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
NOTE_LIMIT = 5000


def _audience(obj: dict[str, Any]) -> str:
    to = obj.get("to") or []
    cc = obj.get("cc") or []
    to = [to] if isinstance(to, str) else to
    cc = [cc] if isinstance(cc, str) else cc
    if PUBLIC in to or "as:Public" in to or PUBLIC in cc or "as:Public" in cc:
        return "public"  # public and unlisted
    return "private"


class MastodonImporter:
    name = "mastodon"
    title = "Mastodon archive"
    accepts = "the archive Mastodon gives you (.zip or .tar.gz), or its unpacked folder"

    async def run(self, request: ImportRequest) -> AsyncIterator[ImportItem]:
        source = Path(request.source)
        if not source.exists():
            raise ImportFailed(f"there is no file or folder {request.source}")
        archive = Archive(source)
        try:
            name = archive.find("outbox.json")
            if name is None:
                raise ImportFailed(f"{source.name} is not a Mastodon archive (no outbox.json)")
            raw = archive.read(name)
            try:
                outbox = jsonio.loads_untrusted(raw or b"")
            except ValueError as exc:
                raise ImportFailed(f"{name} is not readable JSON: {exc}") from None
            items = outbox.get("orderedItems") if isinstance(outbox, dict) else None
            if not isinstance(items, list):
                raise ImportFailed(f"{name} has no orderedItems: not a Mastodon outbox")
            plans = (plan for activity in items for plan in self._one(archive, activity))
            async for item in write_all(request, self.name, plans):
                yield item
        finally:
            archive.close()

    def _one(self, archive: Archive, activity: Any) -> list[Planned | ImportItem]:
        if not isinstance(activity, dict):
            return [ImportItem("?", "failed", "", "", "an outbox item that is not an object")]
        source_id = str(activity.get("id") or "?")
        if activity.get("type") == "Announce":
            return [ImportItem(source_id, "skipped", "boost", "", "a boost of someone's post")]
        obj = activity.get("object")
        if activity.get("type") != "Create" or not isinstance(obj, dict):
            return [ImportItem(source_id, "skipped", str(activity.get("type") or ""), "",
                               "not a post")]
        if obj.get("type") not in ("Note", "Question", "Article"):
            return [ImportItem(source_id, "skipped", str(obj.get("type")), "", "not a post")]
        files: list[Planned | ImportItem] = []
        plan = self._plan(archive, obj, files)
        return [*files, plan]

    def _plan(self, archive: Archive, obj: dict[str, Any],
              files: list[Planned | ImportItem]) -> Planned:
        source_id = str(obj.get("id") or obj.get("url") or "?")
        text = html_to_text(str(obj.get("content") or ""))
        notes: list[str] = []
        fields: dict[str, Any] = {"visibility": _audience(obj)}
        published = iso(str(obj.get("published") or ""))
        if published:
            fields["published"] = published
        if obj.get("summary"):
            fields["content_warning"] = str(obj["summary"])[:500]
        if obj.get("sensitive"):
            fields["sensitive"] = True
        if isinstance(obj.get("inReplyTo"), str) and obj["inReplyTo"].startswith("http"):
            fields["reply_to"] = obj["inReplyTo"][:2000]
        tags = [str(t.get("name") or "") for t in obj.get("tag") or []
                if isinstance(t, dict) and t.get("type") == "Hashtag"]
        if tags:
            fields["tags"] = tags_of(tags)
        url = obj.get("url")
        link = old_path(url) if isinstance(url, str) else None
        if link:
            fields["old_paths"] = [link]
        photos, others = _media(archive, obj, notes)
        for n, (upload, alt) in enumerate(others, 1):  # videos, audio: file entries, linked
            slug = f"{slugify(str(source_id).rsplit('/', 1)[-1], 'toot')[:50]}-media-{n}"
            files.append(Planned(f"{source_id}#media-{n}", "file", {
                "title": (alt or upload.filename)[:300], "slug": slug,
                "visibility": fields["visibility"], "description": alt,
                **({"published": published} if published else {})}, {"file": [upload]}))
            text = (text + f"\n\n[{_link_words(alt or upload.filename)}]"
                           f"(../../files/{slug}/)").strip()
        if len(photos) > 4:
            notes.append(f"{len(photos) - 4} photos beyond the 4 a note holds were left out")
        if not text and not photos:
            text = "…"
        article = _article(obj, text)
        if article is not None:
            if article[0] == str(obj.get("name") or "").strip()[:300] and not obj.get(
                    "sensitive") and obj.get("summary"):  # an Article's summary is no warning
                fields["summary"] = fields.pop("content_warning")[:2000]
            fields.update(title=article[0], body=article[1], slug=article[2])
            plan = Planned(source_id, "article", fields, notes=notes)
            if photos:
                plan.attachments["images"] = photos
            return plan
        fields["text"] = text or " "
        plan = Planned(source_id, "note", fields, notes=notes)
        if photos:
            plan.attachments["photos"] = photos[:4]
        return plan


def _article(obj: dict[str, Any], text: str) -> tuple[str, str, str] | None:
    """Title, body and slug when the post becomes an article: an ``Article`` with a ``name``
    (another AS2 outbox: Homeport's own, WriteFreely, Plume…), its HTML kept and its URL's
    last segment as the slug; or a toot too long for a note."""
    named = str(obj.get("name") or "").strip() if obj.get("type") == "Article" else ""
    if named:
        url = obj.get("url")
        last = url.rstrip("/").rsplit("/", 1)[-1] if isinstance(url, str) else ""
        return (named[:300], str(obj.get("content") or " "),
                last if valid_slug(last) else slugify(named, "article"))
    if len(text) > NOTE_LIMIT:
        title = text.split("\n", 1)[0][:80] or "Untitled"
        return title, text, slugify(title, "toot")
    return None


def _link_words(text: str) -> str:
    return text.replace("[", "(").replace("]", ")").replace("\n", " ")[:200]


def _media(archive: Archive, obj: dict[str, Any], notes: list[str]
           ) -> tuple[list[Upload], list[tuple[Upload, str]]]:
    """The toot's images, and its other media (video, GIF as video, audio) with their
    descriptions, read from the archive's ``media_attachments`` (what is absent or not what
    it says it is is noted)."""
    photos = []
    others: list[tuple[Upload, str]] = []
    for found in obj.get("attachment") or []:
        if not isinstance(found, dict):
            continue
        where = str(found.get("url") or "")
        name = archive.find(where.lstrip("/")) if where else None
        data = archive.read(name) if name else None
        if data is None:
            notes.append(f"media missing: {where or '(no url)'}")
            continue
        alt = str(found.get("name") or "")[:1000]
        if not str(found.get("mediaType", "image/")).startswith("image/"):
            others.append((Upload(PurePosixPath(where).name or "media", data, alt), alt))
            continue
        upload = image(data, where, alt)
        if isinstance(upload, str):
            notes.append(upload)
        else:
            photos.append(upload)
    return photos, others
