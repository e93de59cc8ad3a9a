"""WordPress's export (WXR 1.0 to 1.2: RSS 2.0 with ``wp:``, ``content:``, ``excerpt:`` and
``dc:`` elements) → articles and pages.

SOURCE is the ``.xml`` file, or a folder or zip holding it and the uploads folder
(``wp-content/uploads/…`` or ``uploads/…``), from which media are copied (option
``uploads=DIR`` names that folder elsewhere; ``remote_media=yes`` fetches what it lacks from
the old site's ``wp:attachment_url``). Posts keep their slug (``wp:post_name``), date
(``wp:post_date_gmt``), tags and categories, excerpt, featured and inline images; the old
permalink becomes a redirect. Drafts, pending and scheduled posts stay drafts; private and
password-protected ones become private. Block-editor comments are dropped, ``[caption]``
becomes a figure, other shortcodes are removed (and said). Comments become responses to the
entry (approved ones shown, held ones pending, pingbacks as mentions; spam and trash left out).
Attachments, menus, revisions and trashed posts are skipped. XML is parsed with defusedxml
(no entities, no DTD tricks).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
import tempfile
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from homeport.content.media import Upload
from homeport.content.slugs import slugify
from homeport.content.variants import variant_widths
from homeport.interop.importers.common import (
    Archive,
    Planned,
    entry_id,
    fetch_remote,
    image,
    iso,
    old_path,
    remote_media,
    tags_of,
    write,
)
from homeport.interop.importers.report import ImportFailed, ImportItem, ImportRequest

MAX_XML = 512 * 1024 * 1024
BODY_MEDIA = "../../media/"
"""How an article's body points at its images (as the GUI's editor writes them)."""


def _local(tag: str) -> tuple[str, str]:
    """``{http://wordpress.org/export/1.2/}post_id`` → ``("wp", "post_id")``."""
    if not tag.startswith("{"):
        return "", tag
    space, name = tag[1:].split("}", 1)
    if "/excerpt/" in space:
        return "excerpt", name
    if "wordpress.org/export" in space:
        return "wp", name
    if "purl.org/rss/1.0/modules/content" in space:
        return "content", name
    if "purl.org/dc/" in space:
        return "dc", name
    return space, name


def _fields(item: Element) -> dict[str, Any]:
    found: dict[str, Any] = {"categories": [], "meta": {}, "comments": []}
    for child in item:
        prefix, name = _local(child.tag)
        text = child.text or ""
        if prefix == "" and name == "category":
            found["categories"].append(text)
        elif prefix == "wp" and name == "postmeta":
            key = value = ""
            for part in child:
                if _local(part.tag)[1] == "meta_key":
                    key = part.text or ""
                elif _local(part.tag)[1] == "meta_value":
                    value = part.text or ""
            found["meta"][key] = value
        elif prefix == "wp" and name == "comment":
            found["comments"].append({_local(part.tag)[1]: part.text or "" for part in child})
        else:
            found[f"{prefix}:{name}" if prefix else name] = text
    return found


COMMENT_STATUS = {"1": "approved", "0": "pending"}
"""``wp:comment_approved`` → the response's status; ``spam`` and ``trash`` are left out."""


async def _responses(request: ImportRequest, importer: str, plan: Planned,
                     item: dict[str, Any], done: ImportItem) -> ImportItem:
    """The post's comments, pingbacks and trackbacks as responses to its entry (as webmentions
    are kept): approved ones shown, held ones pending in the Responses page."""
    from homeport.content.mentions import keep_imported

    kept = written = 0
    for comment in item["comments"]:
        status = COMMENT_STATUS.get(comment.get("comment_approved", "").strip())
        if status is None:
            continue
        kept += 1
        if request.dry_run:
            continue
        pingback = comment.get("comment_type") in ("pingback", "trackback")
        link = (item.get("link") or "").strip()
        author_url = comment.get("comment_author_url", "").strip()
        payload = {
            "source": (author_url if pingback and author_url else
                       f"{link or 'wordpress:post/' + plan.source_id}"
                       f"#comment-{comment.get('comment_id', '')}"),
            "type": "mention" if pingback else "reply",
            "url": author_url if pingback else "",
            "name": html.unescape(comment.get("comment_author", "")) if pingback else "",
            "author": {"name": comment.get("comment_author", ""), "url": author_url},
            "content": {"html": comment.get("comment_content", ""),
                        "text": comment.get("comment_content", "")},
            "published": iso(comment.get("comment_date_gmt", "")) or "",
        }
        written += await keep_imported(request.ctx, request.site, done.kind,
                                       entry_id(importer, plan.source_id), payload, status)
    left = len(item["comments"]) - kept
    said = [done.message] if done.message else []
    said.append(f"{kept} comments as responses" + (f" ({written} written)" if written else ""))
    if left:
        said.append(f"{left} spam or trashed comments left out")
    action = "updated" if written and done.action == "unchanged" else done.action
    return dataclasses.replace(done, action=action, message="; ".join(said))


@dataclass
class Attachment:
    url: str
    file: str
    parent: str
    alt: str


_BLOCK = re.compile(r"<!--\s*/?wp:[^>]*?-->\n?")
_CAPTION = re.compile(r"\[caption[^\]]*\](.*?)\[/caption\]", re.S)
_SHORTCODE = re.compile(r"\[/?([a-z][a-z0-9_-]*)(?:\s[^\]]*)?/?\]")
_IMG_SRC = re.compile(r"""(<img\b[^>]*?\bsrc=["'])([^"']+)(["'])""", re.I)


def clean_body(body: str) -> tuple[str, list[str]]:
    """Block comments out, captions as figures, other shortcodes out (named in the notes)."""
    body = _BLOCK.sub("", body)

    def caption(found: re.Match[str]) -> str:
        inner = found.group(1).strip()
        end = inner.rfind(">")
        media, words = (inner[:end + 1], inner[end + 1:].strip()) if end >= 0 else (inner, "")
        return f"<figure>{media}<figcaption>{words}</figcaption></figure>"

    body = _CAPTION.sub(caption, body)
    dropped = sorted({m.group(1) for m in _SHORTCODE.finditer(body)})
    body = _SHORTCODE.sub("", body)
    notes = [f"shortcodes removed: {', '.join(dropped)}"] if dropped else []
    return body.strip(), notes


def _root(archive: Archive | None, source: Path) -> tuple[bytes, str]:
    if archive is None:
        if source.stat().st_size > MAX_XML:
            raise ImportFailed(f"{source.name} is larger than {MAX_XML} bytes")
        return source.read_bytes(), source.name
    xmls = [n for n in archive.names() if n.lower().endswith(".xml")
            and "/wp-content/" not in f"/{n}"]
    if not xmls:
        raise ImportFailed(f"{source.name} holds no WordPress export (.xml file)")
    data = archive.read(xmls[0])
    assert data is not None
    return data, xmls[0]


class WordPressImporter:
    name = "wordpress"
    title = "WordPress export (WXR)"
    accepts = ("the .xml file WordPress exports (Tools → Export), or a folder or zip with it "
               "and wp-content/uploads")

    async def run(self, request: ImportRequest) -> AsyncIterator[ImportItem]:
        source = Path(request.source)
        if not source.exists():
            raise ImportFailed(f"there is no file or folder {request.source}")
        archive = None if source.is_file() and source.suffix.lower() == ".xml" else Archive(source)
        uploads = Archive(Path(request.options["uploads"])) if "uploads" in request.options \
            else archive
        try:
            data, name = _root(archive, source)
            items = parse(data, name)
            async for item in self._items(request, items, uploads):
                yield item
        finally:
            for opened in {id(a): a for a in (archive, uploads) if a is not None}.values():
                opened.close()

    async def _items(self, request: ImportRequest, items: list[dict[str, Any]],
                     uploads: Archive | None) -> AsyncIterator[ImportItem]:
        attachments: dict[str, Attachment] = {}
        for item in items:
            if item.get("wp:post_type") == "attachment":
                attachments[item.get("wp:post_id", "")] = Attachment(
                    item.get("wp:attachment_url", ""), item["meta"].get("_wp_attached_file", ""),
                    item.get("wp:post_parent", "0"),
                    item["meta"].get("_wp_attachment_image_alt", "") or item.get("title", ""))
        by_url = {a.url: a for a in attachments.values() if a.url}
        with tempfile.TemporaryDirectory(prefix="homeport-import-") as spool:
            fetched = await self._fetch_missing(request, attachments, uploads, Path(spool))
            async for done in self._posts(request, items, attachments, by_url, uploads,
                                          fetched):
                yield done

    @staticmethod
    async def _fetch_missing(request: ImportRequest, attachments: dict[str, Attachment],
                             uploads: Archive | None, spool: Path) -> dict[str, Path | str]:
        """With ``--option remote_media=yes``, the attachments the uploads folder lacks,
        fetched from their ``wp:attachment_url`` (the old site, if it still answers) into
        ``spool``: url → file, or why not."""
        fetched: dict[str, Path | str] = {}
        if request.dry_run or not remote_media(request):
            return fetched
        for n, found in enumerate(attachments.values()):
            if not found.url or _local_medium(found, uploads) is not None:
                continue
            data = await fetch_remote(request, found.url)
            if isinstance(data, bytes):
                (spool / str(n)).write_bytes(data)
                fetched[found.url] = spool / str(n)
            else:
                fetched[found.url] = data
        return fetched

    async def _posts(self, request: ImportRequest, items: list[dict[str, Any]],
                     attachments: dict[str, Attachment], by_url: dict[str, Attachment],
                     uploads: Archive | None, fetched: dict[str, Path | str]
                     ) -> AsyncIterator[ImportItem]:
        for item in items:
            post_id = item.get("wp:post_id", "")
            kind = item.get("wp:post_type", "post")
            status = item.get("wp:status", "publish")
            source_id = f"post/{post_id}"
            if kind == "attachment":
                continue
            if kind not in ("post", "page"):
                yield ImportItem(source_id, "skipped", kind, "", f"a {kind} is not content")
                continue
            if status in ("trash", "auto-draft", "inherit"):
                yield ImportItem(source_id, "skipped", kind, "", f"status {status}")
                continue
            plan = self._plan(item, attachments, by_url, uploads, fetched)
            done = await write(request, self.name, plan)
            if item["comments"] and done.action != "failed":
                done = await _responses(request, self.name, plan, item, done)
            yield done

    def _plan(self, item: dict[str, Any], attachments: dict[str, Attachment],
              by_url: dict[str, Attachment], uploads: Archive | None,
              fetched: dict[str, Path | str]) -> Planned:
        post_id = item.get("wp:post_id", "")
        kind = "page" if item.get("wp:post_type") == "page" else "article"
        status = item.get("wp:status", "publish")
        body, notes = clean_body(item.get("content:encoded", ""))
        title = (item.get("title") or "").strip() or "Untitled"
        fields: dict[str, Any] = {"title": title[:300]}
        slug = slugify(urllib.parse.unquote(item.get("wp:post_name", "")), "")
        if slug:
            fields["slug"] = slug
        published = iso(item.get("wp:post_date_gmt", "")) or iso(item.get("wp:post_date", ""))
        if published:
            fields["published"] = published
        if status in ("draft", "pending", "future"):
            fields["draft"] = True
        if status == "private" or item.get("wp:post_password"):
            fields["visibility"] = "private"
            if item.get("wp:post_password"):
                notes.append("password-protected: imported as private")
        if kind == "article":
            fields["tags"] = tags_of(item["categories"])
            excerpt = (item.get("excerpt:encoded") or "").strip()
            if excerpt:
                fields["summary"] = excerpt[:2000]
        link = old_path(item.get("link", ""))
        if link and status not in ("draft", "pending", "future"):
            fields["old_paths"] = [link]
        uploads_list: list[Upload] = []
        if kind == "article":
            body, uploads_list = self._images(item, body, attachments, by_url, uploads, notes,
                                              fetched)
        fields["body"] = body or " "
        plan = Planned(source_id=f"post/{post_id}", type=kind, fields=fields, notes=notes)
        if uploads_list:
            plan.attachments["images"] = uploads_list[:200]
        return plan

    def _images(self, item: dict[str, Any], body: str, attachments: dict[str, Attachment],
                by_url: dict[str, Attachment], uploads: Archive | None, notes: list[str],
                fetched: dict[str, Path | str]) -> tuple[str, list[Upload]]:
        """The post's images (featured, attached, shown inline), copied in; the body's
        ``src`` attributes then point at their copies on the new site."""
        post_id = item.get("wp:post_id", "")
        wanted: list[Attachment] = []
        thumb = attachments.get(item["meta"].get("_thumbnail_id", ""))
        if thumb:
            wanted.append(thumb)
        wanted += [a for a in attachments.values() if a.parent == post_id and a is not thumb]
        wanted += [by_url[m.group(2)] for m in _IMG_SRC.finditer(body) if m.group(2) in by_url]
        seen: set[str] = set()
        found_uploads: list[Upload] = []
        for found in wanted:
            if found.url in seen:
                continue
            seen.add(found.url)
            upload = self._medium(found, uploads, fetched.get(found.url))
            if isinstance(upload, str):
                notes.append(upload)
                continue
            found_uploads.append(upload)
            body = body.replace(found.url, body_src(upload.data))
        return body, found_uploads

    def _medium(self, found: Attachment, uploads: Archive | None,
                fetched: Path | str | None) -> Any:
        data = _local_medium(found, uploads)
        if data is None and isinstance(fetched, Path):
            data = fetched.read_bytes()
        if data is None:
            return fetched if isinstance(fetched, str) else (
                f"media missing: {found.file or found.url}")
        return image(data, found.file or "image", found.alt)


def _local_medium(found: Attachment, uploads: Archive | None) -> bytes | None:
    if uploads is not None and found.file:
        for prefix in ("wp-content/uploads/", "uploads/", ""):
            name = uploads.find(prefix + found.file) if prefix else uploads.find(found.file)
            if name:
                return uploads.read(name)
    return None


def body_src(data: bytes) -> str:
    """Where the site serves an image the article shows inline (its 960 px or widest
    variant, the same path the GUI's editor writes)."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(data)) as opened:
        width = opened.width
    widths = variant_widths(width)
    chosen = next((w for w in widths if w >= 960), widths[-1])
    return f"{BODY_MEDIA}{hashlib.sha256(data).hexdigest()}/{chosen}.jpg"


def parse(data: bytes, name: str) -> list[dict[str, Any]]:
    """The export's items as flat dicts; ImportFailed when it is not a readable WXR."""
    try:
        root = SafeET.fromstring(data)
    except DefusedXmlException:
        raise ImportFailed(f"{name} is not a readable WordPress export: it declares XML "
                           "entities or a DTD, which are refused (they can expand without "
                           "bound); WordPress never writes them") from None
    except ParseError as exc:
        raise ImportFailed(f"{name} is not a readable WordPress export: {exc}") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ImportFailed(f"{name} is not a WordPress export (no rss/channel)")
    if not any(_local(c.tag) == ("wp", "wxr_version") for c in channel):
        raise ImportFailed(f"{name} is an RSS feed, not a WordPress export (no wp:wxr_version)")
    return [_fields(item) for item in channel.findall("item")]
