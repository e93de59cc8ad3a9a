"""What a webmention's source says about its target: pure functions, no I/O.

``links_to`` is the spec's verification (does the fetched source link to the target, by the
rules of its media type); ``classify`` reads the source's microformats (mf2py) for what kind of
response it is and who wrote it. The result is a plain JSON object, the body of the inbox item
the home receives.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from homeport import jsonio

MAX_URL = 2048
MAX_HTML = 20_000
"""A reply's content kept (characters of HTML); longer content is cut, the text kept too."""
MAX_TEXT = 5_000

LINK_ATTRIBUTES = {
    "a": ("href",),
    "area": ("href",),
    "img": ("src",),
    "video": ("src", "poster"),
    "audio": ("src",),
    "source": ("src",),
    "track": ("src",),
    "iframe": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "blockquote": ("cite",),
    "q": ("cite",),
    "ins": ("cite",),
    "del": ("cite",),
}
"""The elements and attributes that link a page to another, as the spec's examples
(``<a href>``, ``<img src>``, ``<video src>``…). Text that merely contains the URL, or a link
inside an HTML comment, is not a link."""

RESPONSE_PROPERTIES = (
    ("in-reply-to", "reply"),
    ("like-of", "like"),
    ("repost-of", "repost"),
    ("bookmark-of", "bookmark"),
)
TYPES = ("reply", "like", "repost", "bookmark", "mention")


class BadURL(ValueError):
    """A source or target that is not an absolute http(s) URL."""


def check_url(name: str, value: str) -> str:
    """``value`` if it is an absolute http(s) URL with a host, else BadURL saying why."""
    if not value:
        raise BadURL(f"{name} is missing: send source and target as form fields")
    if len(value) > MAX_URL:
        raise BadURL(f"{name} is longer than {MAX_URL} characters")
    if any(c in value for c in " \t\r\n\x00"):
        raise BadURL(f"{name} must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise BadURL(f"{name} {value!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise BadURL(f"{name} {value!r} must be an http or https URL")
    if not parts.hostname:
        raise BadURL(f"{name} {value!r} has no host")
    return value


def host_of(url: str) -> str:
    """The host a rate limit counts by (lower case, without port)."""
    return (urlsplit(url).hostname or "").lower()


# --- verification --------------------------------------------------------------------------
class _Links(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = base
        self.raw: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "base" and not self.raw:
            href = dict(attrs).get("href")
            if href:
                self.base = urljoin(self.base, href.strip())
            return
        wanted = LINK_ATTRIBUTES.get(tag)
        if wanted:
            self.raw.extend(v for k, v in attrs if k in wanted and v)

    handle_startendtag = handle_starttag


def html_links(html: str, base: str) -> Iterator[str]:
    """Every link of an HTML document, resolved against its ``<base>`` or its URL."""
    parser = _Links(base)
    parser.feed(html)
    parser.close()
    for raw in parser.raw:
        try:
            yield urljoin(parser.base, raw.strip())
        except ValueError:
            continue


def _json_values(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _json_values(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_values(item)


def decode(body: bytes, charset: str = "utf-8") -> str:
    """The text of a body in the charset its Content-Type named (UTF-8 when none, or one
    Python does not know)."""
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def charset_of(content_type: str) -> str:
    """``charset`` of a Content-Type header value, or empty."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return ""


def links_to(body: bytes, content_type: str, url: str, target: str, charset: str = "") -> bool:
    """Whether the source (``body`` as fetched from ``url``) links to ``target``: an exact
    match of a link's resolved URL in HTML, of a string value in JSON, of the text in plain
    text (the spec's per-media-type rules)."""
    text = decode(body, charset)
    if content_type in ("application/json", "application/activity+json") or (
        content_type.endswith("+json")
    ):
        try:
            data = jsonio.loads_untrusted(body)
        except ValueError:
            return False
        return any(v == target for v in _json_values(data))
    if content_type == "text/plain":
        return target in text
    return any(link == target for link in html_links(text, url))


# --- classification ------------------------------------------------------------------------
def _first(props: Mapping[str, Any], name: str) -> Any:
    values = props.get(name)
    return values[0] if isinstance(values, list) and values else None


def _text(value: Any, limit: int = 300) -> str:
    if isinstance(value, Mapping):
        value = value.get("value") or value.get("html") or ""
    return " ".join(str(value or "").split())[:limit]


def _url(value: Any) -> str:
    """A URL property's value: a string, a ``{value, alt}`` (photos) or an embedded item
    (its ``url``)."""
    if isinstance(value, Mapping):
        if "properties" in value:
            found = _first(value["properties"], "url")
            return _url(found) if found is not None else str(value.get("value") or "")
        return str(value.get("value") or "")
    return str(value or "")


def _web(url: str) -> str:
    """``url`` if it is http(s), else empty (no ``javascript:`` in an author's link)."""
    return url if url.startswith(("http://", "https://")) and len(url) <= MAX_URL else ""


def _same(a: str, b: str) -> bool:
    return bool(a) and urldefrag(a)[0] == urldefrag(b)[0]


def _items(items: list[Any]) -> Iterator[Mapping[str, Any]]:
    for item in items:
        if isinstance(item, Mapping):
            yield item
            yield from _items(item.get("children") or [])


def _entry(parsed: Mapping[str, Any], source: str) -> Mapping[str, Any] | None:
    """The h-entry the source is about: the one whose ``url`` is the source, else the first."""
    entries = [i for i in _items(parsed.get("items") or []) if "h-entry" in (i.get("type") or [])]
    for entry in entries:
        if any(_same(_url(u), source) for u in entry.get("properties", {}).get("url", [])):
            return entry
    return entries[0] if entries else None


def _author(entry: Mapping[str, Any] | None, parsed: Mapping[str, Any], source: str) -> dict[
    str, str
]:
    card: Any = _first(entry.get("properties", {}), "author") if entry else None
    if card is None:
        cards = [i for i in _items(parsed.get("items") or []) if "h-card" in (i.get("type") or [])]
        card = cards[0] if cards else None
    author = {"name": "", "url": "", "photo": ""}
    if isinstance(card, Mapping) and "properties" in card:
        props = card["properties"]
        author["name"] = _text(_first(props, "name") or card.get("value"), 100)
        author["url"] = _web(_url(_first(props, "url")))
        author["photo"] = _web(_url(_first(props, "photo")))
    elif card is not None:
        value = _text(card, 300)
        if _web(value):
            author["url"] = value
        else:
            author["name"] = value[:100]
    if not author["name"]:
        author["name"] = host_of(author["url"] or source)
    return author


def _published(value: Any, fallback: str) -> str:
    raw = _text(value, 64)
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return fallback
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def classify(parsed: Mapping[str, Any], source: str, target: str, verified: str) -> dict[str, Any]:
    """The mention as the home stores it, from the source's parsed microformats: its type
    (the first response property naming the target, else a mention), author h-card, content,
    name and date (empty when the source gives none: the home shows when it was verified)."""
    entry = _entry(parsed, source)
    props: Mapping[str, Any] = entry.get("properties", {}) if entry else {}
    kind = "mention"
    for name, found in RESPONSE_PROPERTIES:
        if any(_same(_url(v), target) for v in props.get(name, [])):
            kind = found
            break
    content = _first(props, "content")
    html = str(content.get("html") or "") if isinstance(content, Mapping) else ""
    text = _text(content or _first(props, "summary"), MAX_TEXT)
    name = _text(_first(props, "name"), 300)
    return {
        "source": source,
        "target": target,
        "type": kind,
        "url": _web(_url(_first(props, "url"))) or source,
        "author": _author(entry, parsed, source),
        "name": "" if name == text[:300] else name,
        "content": {"html": html[:MAX_HTML], "text": text},
        "published": _published(_first(props, "published"), ""),
        "verified": verified,
    }


def digest(mention: Mapping[str, Any]) -> str:
    """What identifies a mention's content, so a re-sent unchanged one is not sent again."""
    shown = {k: v for k, v in mention.items() if k != "verified"}
    return hashlib.sha256(jsonio.dumps(shown)).hexdigest()[:32]
