"""Where a provider answers the live web for a site, and how pages and feeds say so.

A site served by a provider names its endpoints on every page (``<link rel=…>`` in the head,
and the provider adds the same as ``Link`` headers) and its feeds name the WebSub hub, so a
client needs nothing but the site's address. The paths are those of ``interop.ports``
(``/_homeport/…`` on the site's own host); they live here because the renderer writes them and
sits below ``interop``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

WEBMENTION = "/_homeport/webmention"
MICROPUB = "/_homeport/micropub"
INDIEAUTH_METADATA = "/_homeport/indieauth/metadata"
WEBSUB = "/_homeport/websub"

PAGE_RELS = (
    ("webmention", WEBMENTION),
    ("micropub", MICROPUB),
    ("indieauth-metadata", INDIEAUTH_METADATA),
)
"""What every HTML page of a site served by a provider advertises, in this order."""


def origin_of(url: str) -> str:
    """``https://alice.example.net`` for any URL on that site."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def page_links() -> list[dict[str, str]]:
    """The ``<link rel=… href=…>`` of a page's head, relative to the site's root: a reader
    resolves them against the address it reached the page at (a provider's host, a custom
    domain, a loopback port), which is also what the provider's ``Link`` headers name; an
    absolute href baked at build time would name the address the home built for instead."""
    return [{"rel": rel, "href": path} for rel, path in PAGE_RELS]


def page_link_header(origin: str) -> bytes:
    """The same as one ``Link`` header value (RFC 8288)."""
    return ", ".join(f'<{origin}{path}>; rel="{rel}"' for rel, path in PAGE_RELS).encode()


def hub_url(origin: str) -> str:
    return origin + WEBSUB


def feed_link_header(origin: str, self_url: str) -> bytes:
    """A feed's ``Link`` header: its hub and its own address (the topic), as WebSub asks."""
    return f'<{hub_url(origin)}>; rel="hub", <{self_url}>; rel="self"'.encode()
