"""Finding a page's endpoint for a ``rel`` (``webmention``, ``hub``…), as the Webmention
specification asks of senders (§3.1.2), which the WebSub and IndieAuth discoveries share.

Order: the first HTTP ``Link`` header naming the rel (every ``Link`` header line, each may
hold several comma-separated links; ``rel`` quoted or not, any case, several rels in one);
then, in an HTML body, the first ``<link>`` or ``<a>`` in document order whose ``rel`` holds
it and which has an ``href`` (an empty one is the page itself). Comments and escaped text are
not elements. Relative URLs resolve against the page's final URL (after redirects); a query
string is kept as it is.
"""

from __future__ import annotations

from collections.abc import Iterable
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from homeport.web import outbound

PAGE_LIMIT = 1024 * 1024
"""How much of a target page is read to find its endpoint."""
ACCEPT = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


def link_values(values: Iterable[str]) -> list[tuple[str, dict[str, str]]]:
    """``(uri-reference, params)`` for each link of ``Link`` header values (RFC 8288), params
    named in lower case, values unquoted."""
    found: list[tuple[str, dict[str, str]]] = []
    for value in values:
        for link in _split(value):
            link = link.strip()
            if not link.startswith("<") or ">" not in link:
                continue
            target, _, rest = link[1:].partition(">")
            params: dict[str, str] = {}
            for param in _split(rest, ";"):
                name, eq, raw = param.partition("=")
                name = name.strip().lower()
                if not name or name in params:
                    continue  # RFC 8288: a parameter's first occurrence counts
                raw = raw.strip()
                if eq and len(raw) >= 2 and raw[0] == raw[-1] == '"':
                    raw = raw[1:-1].replace('\\"', '"')
                params[name] = raw
            found.append((target.strip(), params))
    return found


def _split(text: str, sep: str = ",") -> list[str]:
    """``text`` cut at ``sep`` outside ``<…>`` and quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = bracket = False
    for char in text:
        if char == '"' and not bracket:
            quoted = not quoted
        elif char == "<" and not quoted:
            bracket = True
        elif char == ">" and not quoted:
            bracket = False
        if char == sep and not quoted and not bracket:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p.strip()]


def has_rel(value: str | None, rel: str) -> bool:
    return value is not None and rel in value.lower().split()


def from_headers(values: Iterable[str], rel: str) -> str | None:
    """The first ``Link`` header target with ``rel``."""
    for target, params in link_values(values):
        if has_rel(params.get("rel"), rel):
            return target
    return None


class _Finder(HTMLParser):
    def __init__(self, rel: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rel = rel
        self.found: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.found is not None or tag not in ("link", "a"):
            return
        values = dict(attrs)
        href = values.get("href")
        if href is not None and has_rel(values.get("rel"), self.rel):
            self.found = href

    handle_startendtag = handle_starttag


def from_html(body: str, rel: str) -> str | None:
    """The ``href`` of the first ``<link>`` or ``<a>`` with ``rel`` in document order."""
    finder = _Finder(rel)
    finder.feed(body)
    finder.close()
    return finder.found


def from_response(page: outbound.Fetched, rel: str) -> str | None:
    """The endpoint a fetched page names for ``rel``, absolute, or None."""
    found = from_headers(page.headers.get_list("link"), rel)
    if found is None and page.content_type in ("text/html", "application/xhtml+xml"):
        found = from_html(page.body.decode("utf-8", "replace"), rel)
    if found is None:
        return None
    absolute = urljoin(page.url, found.strip())
    if urlsplit(absolute).scheme not in ("http", "https"):
        return None
    return absolute.partition("#")[0]
