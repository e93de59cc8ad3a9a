"""Stored XSS through attachments: a file anyone with write access uploads must never run as a
page on the home's origin (where the GUI, its session and the API live).

The attack: an SVG with a script, or ``x.txt`` sent as ``text/html``, came back inline with the
uploader's type, so opening its link ran the script as the home. Header checks on both storage
backends with httpx; the script itself in real Chromium, which tells whether it ran by writing
a record (only a script that runs with the home's origin can read that origin back).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from homeport.testing.targets import Server, start_homeport

RECORDS = "/buckets/b/collections/c/records"
SCRIPT = (
    "fetch('/v1/buckets/b/collections/c/records/ran-' + document.title, {method: 'PUT', "
    "headers: {'Content-Type': 'application/json', 'Authorization': 'Basic ' + btoa('{auth}')}, "
    "body: JSON.stringify({data: {origin: location.origin}})})"
)
SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><title>svg</title>'
    "<script>{script}</script><rect width='10' height='10'/></svg>"
)
HTML = "<!doctype html><title>html</title><script>{script}</script><p>hello</p>"
XHTML = (
    '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>xhtml</title>'
    "<script>{script}</script></head><body/></html>"
)


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 40, 40)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    backend: str = request.param
    url = request.getfixturevalue("postgres_url") if backend == "postgresql" else None
    started = start_homeport(tmp_path_factory.mktemp(f"xss-{backend}"), backend, url)
    try:
        admin = started.client("admin")
        # The session's PostgreSQL database may hold them from an earlier suite: 200 then.
        assert admin.put("/buckets/b").status_code in (200, 201)
        assert admin.put("/buckets/b/collections/c").status_code in (200, 201)
        yield started
    finally:
        started.stop()


def upload(server: Server, rid: str, name: str, content: bytes, mimetype: str) -> str:
    admin = server.client("admin")
    r = admin.post(f"{RECORDS}/{rid}/attachment", files={"attachment": (name, content, mimetype)})
    assert r.status_code in (200, 201), r.text
    return server.absolute(r.json()["location"])


def payload(template: str, server: Server) -> bytes:
    auth = ":".join(server.admin)
    return template.replace("{script}", SCRIPT.replace("{auth}", auth)).encode()


def assert_not_a_page(response: httpx.Response) -> None:
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"
    csp = response.headers["content-security-policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp


def test_an_svg_with_a_script_is_a_download_in_a_sandbox(server: Server) -> None:
    url = upload(server, "svg", "x.svg", payload(SVG, server), "image/svg+xml")
    assert_not_a_page(httpx.get(url))


def test_text_declared_as_html_is_a_download(server: Server) -> None:
    url = upload(server, "html", "x.txt", payload(HTML, server), "text/html")
    assert_not_a_page(httpx.get(url))


def test_an_image_is_shown_inline_with_the_type_its_bytes_prove(server: Server) -> None:
    url = upload(server, "png", "x.png", png_bytes(), "text/html")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"].startswith("inline")
    assert "sandbox" in response.headers["content-security-policy"]
    assert response.content == png_bytes()


def test_an_image_name_does_not_make_html_an_image(server: Server) -> None:
    url = upload(server, "fake", "x.png", payload(HTML, server), "image/png")
    assert_not_a_page(httpx.get(url))


def test_a_forged_type_or_name_cannot_add_headers(server: Server) -> None:
    """The record's ``attachment`` field is data its writers may PATCH: changing it is refused
    (kinto-attachment's rule), but dropping it and then setting it is not."""
    url = upload(server, "forged", "x.txt", b"plain", "text/plain")
    forged = {"mimetype": "text/html\r\nX-Injected: 1", "filename": 'a"\r\nX-Injected: 2.txt'}
    admin = server.client("admin")
    record = admin.get(f"{RECORDS}/forged").json()["data"]
    assert admin.patch(f"{RECORDS}/forged", json={"data": {"attachment": None}}).status_code == 200
    patched = admin.patch(
        f"{RECORDS}/forged", json={"data": {"attachment": {**record["attachment"], **forged}}}
    )
    assert patched.status_code == 200, patched.text
    response = httpx.get(url)
    assert response.status_code == 200
    assert "x-injected" not in response.headers
    assert response.headers["content-type"] == "application/octet-stream"
    assert_not_a_page(response)


# --- in Chromium ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The browser's behaviour does not depend on the storage backend: one home is enough."""
    started = start_homeport(tmp_path_factory.mktemp("xss-browser"), "sqlite")
    try:
        admin = started.client("admin")
        assert admin.put("/buckets/b").status_code == 201
        assert admin.put("/buckets/b/collections/c").status_code == 201
        yield started
    finally:
        started.stop()



@pytest.mark.parametrize(
    ("name", "template", "mimetype"),
    [
        ("x.svg", SVG, "image/svg+xml"),
        ("x.txt", HTML, "text/html"),
        ("y.xml", XHTML, "application/xhtml+xml"),
    ],
)
def test_the_script_of_an_attachment_does_not_run_in_chromium(
    sqlite_server: Server, browser: Any, name: str, template: str, mimetype: str
) -> None:
    server = sqlite_server
    rid = "b-" + name.replace(".", "-")
    url = upload(server, rid, name, payload(template, server), mimetype)
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        try:
            page.goto(url, wait_until="load", timeout=10_000)
            page.wait_for_timeout(500)  # room for the script's request, had it run
        except Exception as exc:  # a download aborts the navigation: what we want
            assert "Download is starting" in str(exc) or "ERR_ABORTED" in str(exc), exc
    finally:
        context.close()
    records = server.client("admin").get(RECORDS)
    assert records.status_code == 200
    ran = [r for r in records.json()["data"] if r["id"].startswith("ran-")]
    assert ran == [], json.dumps(ran)
