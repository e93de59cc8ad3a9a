"""What a client says of itself at its ``client_id`` URL: its name and the redirect URIs it
publishes (a JSON client metadata document, or ``<link rel="redirect_uri">`` in HTML). Fetched
only when the redirect_uri is not on the client_id's own origin (spec §4.2.2: native apps with
custom schemes, clients on two hosts), through the SSRF-safe fetcher."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin

import httpx

from homeport import jsonio
from homeport.web import outbound

LIMIT = 256 * 1024


@dataclass
class ClientInfo:
    name: str | None = None
    redirect_uris: list[str] = field(default_factory=list)


class _Links(HTMLParser):
    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base
        self.info = ClientInfo()
        self._in_name = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        rels = (found.get("rel") or "").split()
        href = found.get("href")
        if tag == "link" and "redirect_uri" in rels and href:
            self.info.redirect_uris.append(urljoin(self.base, href))
        classes = (found.get("class") or "").split()
        if "p-name" in classes and self.info.name is None:
            self._in_name = True

    def handle_data(self, data: str) -> None:
        if self._in_name and data.strip():
            self.info.name = data.strip()[:100]
            self._in_name = False


def parse(url: str, body: bytes) -> ClientInfo:
    """Either form; anything else says nothing."""
    text = body.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        try:
            document = jsonio.loads_untrusted(body)
        except ValueError:
            return ClientInfo()
        if not isinstance(document, dict):
            return ClientInfo()
        uris = document.get("redirect_uris")
        name = document.get("client_name")
        return ClientInfo(
            name if isinstance(name, str) else None,
            [u for u in uris if isinstance(u, str)] if isinstance(uris, list) else [],
        )
    parser = _Links(url)
    parser.feed(text)
    return parser.info


async def fetch(url: str, allow_private: bool) -> ClientInfo:
    """The client's own description, or nothing if it cannot be fetched."""
    try:
        found = await outbound.fetch(url, permitted=outbound.policy(allow_private), limit=LIMIT)
    except (outbound.FetchRefused, httpx.HTTPError, OSError, TimeoutError):
        return ClientInfo()  # an unreachable client publishes nothing
    if found.status != 200:
        return ClientInfo()
    return parse(found.url, found.body)
