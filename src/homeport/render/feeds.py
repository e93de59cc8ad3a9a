"""Atom, RSS 2.0 and JSON Feed 1.1 documents for a list of entries.

Built with ElementTree and ``json`` rather than templates, so escaping is never a theme's job
and every feed is well-formed whatever the entries contain.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence

from homeport.render.model import EntryView, SiteModel
from homeport.render.urls import image_path

ATOM = "http://www.w3.org/2005/Atom"
FEED_SIZE = 20
ET.register_namespace("atom", ATOM)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _content(entry: EntryView, absolute: Callable[[str], str]) -> str:
    images = "".join(
        f'<p><img src="{absolute(media)}" alt="{_attr(ref.get("alt", ""))}"></p>'
        for ref, media in _image_links(entry)
    )
    return images + str(entry.html)


def _attr(text: object) -> str:
    return (str(text).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _image_links(entry: EntryView) -> list[tuple[dict[str, object], str]]:
    return [(ref, image_path(ref, 960, "jpg")) for ref in entry.images]


def atom(site: SiteModel, title: str, entries: Sequence[EntryView], self_url: str,
         page_url: str, absolute: Callable[[str], str], hub: str | None = None) -> bytes:
    """``hub``: the WebSub hub that announces this feed's updates (a provider's build)."""
    feed = ET.Element("feed", xmlns=ATOM)
    _sub(feed, "title", title)
    _sub(feed, "id", page_url)
    ET.SubElement(feed, "link", rel="self", href=self_url,
                  type="application/atom+xml")
    ET.SubElement(feed, "link", rel="alternate", href=page_url, type="text/html")
    if hub:
        ET.SubElement(feed, "link", rel="hub", href=hub)
    newest = max((e.updated for e in entries), default=dt.datetime(1970, 1, 1, tzinfo=dt.UTC))
    _sub(feed, "updated", _iso(newest))
    author = ET.SubElement(feed, "author")
    _sub(author, "name", str(site.get("author") or site.get("title")))
    for entry in entries:
        item = ET.SubElement(feed, "entry")
        url = absolute(entry.path)
        _sub(item, "title", entry.title)
        _sub(item, "id", url)
        ET.SubElement(item, "link", rel="alternate", href=url, type="text/html")
        _sub(item, "published", _iso(entry.published))
        _sub(item, "updated", _iso(entry.updated))
        for tag in entry.tags:
            ET.SubElement(item, "category", term=tag)
        if entry.summary:
            _sub(item, "summary", entry.summary)
        content = _sub(item, "content", _content(entry, absolute))
        content.set("type", "html")
    body = ET.tostring(feed, encoding="unicode")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body.encode()


def _sub(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, name)
    element.text = text
    return element


def rss(site: SiteModel, title: str, entries: Sequence[EntryView], self_url: str,
        page_url: str, absolute: Callable[[str], str], hub: str | None = None) -> bytes:
    root = ET.Element("rss", version="2.0")
    channel = ET.SubElement(root, "channel")
    ET.SubElement(channel, "title").text = title
    ET.SubElement(channel, "link").text = page_url
    ET.SubElement(channel, "description").text = str(site.get("description") or title)
    ET.SubElement(channel, f"{{{ATOM}}}link", rel="self", href=self_url,
                  type="application/rss+xml")
    if hub:
        ET.SubElement(channel, f"{{{ATOM}}}link", rel="hub", href=hub)
    if site.get("language"):
        ET.SubElement(channel, "language").text = str(site.get("language"))
    for entry in entries:
        item = ET.SubElement(channel, "item")
        url = absolute(entry.path)
        ET.SubElement(item, "title").text = entry.title
        ET.SubElement(item, "link").text = url
        ET.SubElement(item, "guid", isPermaLink="true").text = url
        ET.SubElement(item, "pubDate").text = email.utils.format_datetime(
            entry.published.astimezone(dt.UTC), usegmt=True)
        for tag in entry.tags:
            ET.SubElement(item, "category").text = tag
        ET.SubElement(item, "description").text = _content(entry, absolute)
    body = ET.tostring(root, encoding="unicode")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + body.encode()


def json_feed(site: SiteModel, title: str, entries: Sequence[EntryView], self_url: str,
              page_url: str, absolute: Callable[[str], str], hub: str | None = None) -> bytes:
    items = []
    for entry in entries:
        url = absolute(entry.path)
        item: dict[str, object] = {
            "id": url,
            "url": url,
            "title": entry.title,
            "content_html": _content(entry, absolute),
            "date_published": _iso(entry.published),
            "date_modified": _iso(entry.updated),
        }
        if entry.tags:
            item["tags"] = entry.tags
        if entry.summary:
            item["summary"] = entry.summary
        if entry.images:
            item["image"] = absolute(_image_links(entry)[0][1])
        items.append(item)
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": page_url,
        "feed_url": self_url,
        "language": str(site.get("language") or "en"),
        "authors": [{"name": str(site.get("author") or site.get("title"))}],
        "items": items,
    }
    if hub:
        document["hubs"] = [{"type": "WebSub", "url": hub}]
    return (json.dumps(document, ensure_ascii=False, indent=1) + "\n").encode()
