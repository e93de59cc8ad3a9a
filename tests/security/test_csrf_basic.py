"""Cross-site request forgery through Basic credentials the browser remembers.

Once the owner has typed the home's password into the browser's own prompt, the browser answers
the home's 401 challenge by itself for any request to it, also for one a hostile page makes: a
form POST, or a ``fetch`` in ``no-cors`` mode, which needs no CORS permission. The page cannot
read the answer, but the write happens. Playwright's ``http_credentials`` is that remembered
password; the hostile page is served from another site (127.0.0.2) and the home must end up
with nothing written. Cross-origin JavaScript clients (kinto.js in a web app) send ``cors``
requests and keep working.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from homeport.testing.targets import Server, start_homeport
from tests.security.listener import Listener


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = start_homeport(tmp_path_factory.mktemp("csrf"), "sqlite")
    try:
        yield started
    finally:
        started.stop()


def visit(browser: Any, server: Server, html: str) -> None:
    page_server = Listener("127.0.0.2", body=html.encode(), content_type="text/html")
    user, password = server.admin
    context = browser.new_context(
        http_credentials={"username": user, "password": password, "origin": server.root}
    )
    try:
        page = context.new_page()
        page.goto(page_server.url, wait_until="load", timeout=10_000)
        page.wait_for_timeout(1500)  # room for the forged requests and their 401 retries
    finally:
        context.close()
        page_server.close()


def buckets(server: Server) -> list[str]:
    response = server.client("admin").get("/buckets")
    assert response.status_code == 200, response.text
    return sorted(b["id"] for b in response.json()["data"])


def test_the_remembered_password_is_answered_for_the_owners_own_pages(
    browser: Any, server: Server
) -> None:
    """The premise: the browser does send the password by itself when the home asks for it."""
    user, password = server.admin
    context = browser.new_context(
        http_credentials={"username": user, "password": password, "origin": server.root}
    )
    try:
        page = context.new_page()
        page.goto(f"{server.url}/accounts/{user}", timeout=10_000)
        assert f'"id":"{user}"' in page.content().replace(" ", "")
    finally:
        context.close()


def test_a_hostile_form_post_writes_nothing(browser: Any, server: Server) -> None:
    before = buckets(server)
    visit(
        browser,
        server,
        f'<form method="POST" enctype="text/plain" action="{server.url}/buckets"></form>'
        "<script>document.forms[0].submit()</script>",
    )
    assert buckets(server) == before


def test_a_hostile_no_cors_fetch_writes_nothing(browser: Any, server: Server) -> None:
    before = buckets(server)
    visit(
        browser,
        server,
        "<script>"
        f"fetch('{server.url}/buckets', {{method: 'POST', mode: 'no-cors', "
        "credentials: 'include', body: ''});"
        f"fetch('{server.url}/buckets', {{method: 'POST', mode: 'no-cors', "
        "credentials: 'include', headers: {'Content-Type': 'text/plain'}, "
        'body: \'{"data": {"id": "forged"}}\'});'
        "</script>",
    )
    assert buckets(server) == before


def test_a_cross_origin_client_with_its_own_credentials_still_writes(
    browser: Any, server: Server
) -> None:
    """A web app on another origin that holds the password itself (kinto.js in a page) sends
    ``cors`` requests with an ``Authorization`` header: those pass the CORS preflight and work."""
    user, password = server.admin
    visit(
        browser,
        server,
        "<script>"
        f"fetch('{server.url}/buckets/from-app', {{method: 'PUT', mode: 'cors', "
        f"headers: {{'Authorization': 'Basic ' + btoa('{user}:{password}'), "
        "'Content-Type': 'application/json'}, body: '{}'});"
        "</script>",
    )
    assert "from-app" in buckets(server)
