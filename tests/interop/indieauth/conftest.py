"""IndieAuth's endpoints over in-memory provider ports, served on loopback; the site's front
page names the metadata as a provider's pages do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Mount, Route

from homeport.interop.indieauth import PREFIX, TOKENS_POWER, provider_routes
from homeport.interop.indieauth import passkeys as pk
from homeport.testing.authenticator import SoftAuthenticator
from homeport.testing.fake_ports import FakeProvider, serve_routes
from homeport.testing.indieauth_client import localhost_names

SCOPES = ["create", "update", "delete", "media", "profile"]


async def front_page(request: Request) -> HTMLResponse:
    origin = f"http://{request.headers['host']}"
    html = (
        "<!doctype html><html><head><title>Alice</title>"
        f'<link rel="indieauth-metadata" href="{origin}{PREFIX}/metadata">'
        '</head><body><p class="h-card">Alice</p></body></html>'
    )
    return HTMLResponse(html)


async def client_document(request: Request) -> JSONResponse:
    """A native app's client metadata, naming a custom-scheme redirect."""
    return JSONResponse(
        {
            "client_id": str(request.url),
            "client_name": "Test App",
            "redirect_uris": ["com.example.app://callback"],
        }
    )


async def landing(request: Request) -> HTMLResponse:
    """Where a browser lands back: the home's return page, the app's callback."""
    return HTMLResponse("<!doctype html><title>back</title><p>back</p>")


@pytest.fixture(scope="module")
def served() -> Iterator[FakeProvider]:
    routes = [
        Mount("/_homeport", routes=provider_routes()),
        Route("/", front_page),
        Route("/client.json", client_document),
        Route("/home/return", landing),
        Route("/callback", landing),
    ]
    with localhost_names(), serve_routes(routes) as provider:
        yield provider


@pytest.fixture
def provider(served: FakeProvider) -> Iterator[FakeProvider]:
    """Alice's site with a passkey and the power to issue tokens delegated; reset per test."""
    served.skew = 0
    served.grants.tokens.clear()
    served.grants.delegations.clear()
    served.sites.hosts.clear()
    served.once.seen.clear()
    served.inbox.items.clear()
    served.add_tenant("alice")
    served.add_tenant("bob")
    yield served


@pytest.fixture
def site(provider: FakeProvider) -> str:
    return f"http://alice.localhost:{provider.port}/"


@pytest.fixture
def owner(provider: FakeProvider, site: str) -> SoftAuthenticator:
    key = SoftAuthenticator(site.rstrip("/"))
    provider.grants.delegate("alice", pk.POWER, key.params())
    provider.grants.delegate("alice", TOKENS_POWER, {"scopes": SCOPES})
    return key
