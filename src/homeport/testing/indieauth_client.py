"""A client's side of IndieAuth for tests, as a real app does it: discovery from the site's
address, then authlib's OAuth 2 client (its requests session) with PKCE; the owner's approval
is made by an authenticator."""

from __future__ import annotations

import html
import json
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import mf2py
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session

from homeport.testing.authenticator import SoftAuthenticator, unb64

CLIENT_ID = "http://app.localhost:9/"
REDIRECT_URI = "http://app.localhost:9/callback"


def discover(site: str) -> dict[str, Any]:
    """Site → ``rel="indieauth-metadata"`` (Link header or HTML) → the metadata document."""
    page = httpx.get(site, timeout=10)
    page.raise_for_status()
    links = page.links.get("indieauth-metadata")
    if links:
        url = links["url"]
    else:
        url = mf2py.parse(doc=page.text, url=str(page.url))["rels"]["indieauth-metadata"][0]
    metadata = httpx.get(url, timeout=10)
    metadata.raise_for_status()
    found: dict[str, Any] = metadata.json()
    return found


@dataclass
class Consent:
    """The provider's sign-in page as the owner's browser got it."""

    approve: str
    pending: str
    challenge: bytes
    page: str


def consent_page(url: str) -> Consent:
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200, page.text
    return parse_consent(page.text)


def parse_consent(text: str) -> Consent:
    options = re.search(
        r'<script id="webauthn-options" type="application/json">(.*?)</script>', text
    )
    pending = re.search(r'data-pending="([^"]+)"', text)
    post = re.search(r'data-post="([^"]+)"', text)
    assert options and pending and post, text
    found = json.loads(options.group(1))
    return Consent(
        html.unescape(post.group(1)),
        html.unescape(pending.group(1)),
        unb64(found["challenge"]),
        text,
    )


def approve(
    consent: Consent, owner: SoftAuthenticator, scope: list[str] | None = None
) -> httpx.Response:
    body: dict[str, Any] = {
        "pending": consent.pending,
        "credential": owner.assert_(consent.challenge),
    }
    if scope is not None:
        body["scope"] = scope
    return httpx.post(consent.approve, json=body, timeout=10)


@dataclass
class Started:
    client: OAuth2Session
    metadata: dict[str, Any]
    url: str
    state: str
    verifier: str


def start(
    site: str,
    scope: str = "create media",
    client_id: str = CLIENT_ID,
    redirect_uri: str = REDIRECT_URI,
) -> Started:
    metadata = discover(site)
    client = OAuth2Session(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        timeout=10,
    )
    verifier = generate_token(64)
    url, state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, me=site
    )
    return Started(client, metadata, url, state, verifier)


@contextmanager
def localhost_names() -> Iterator[None]:
    """Resolve ``*.localhost`` to loopback in this process, as browsers do (RFC 6761), so
    tenants can have host names (a passkey cannot be bound to an IP address). Names come as
    ``str`` or, from anyio (``web/outbound.py``), IDNA-encoded ``bytes``."""
    original = socket.getaddrinfo

    def resolve(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, bytes) and host.endswith(b".localhost"):
            host = b"127.0.0.1"
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return original(host, *args, **kwargs)

    socket.getaddrinfo = resolve
    try:
        yield
    finally:
        socket.getaddrinfo = original


def code_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["code"][0]
