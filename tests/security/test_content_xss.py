"""XSS payloads through every way content enters the GUI's origin: the first-run wizard and the
GUI's forms (site settings, notes), the API (an article's title and body), then shown by
``/admin`` and ``/preview`` in real Chromium with the owner logged in. A payload that runs
raises a dialog or sets ``window.__xss``; both are watched on every page.

Also pinned: the headers (a CSP on ``/admin`` and ``/preview`` that allows no script of the
content's), and that a script which slipped into the built site anyway (written straight into
its output folder here) does not run in the preview.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.testing.live import LiveHome, start_home

PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PAYLOAD = (
    'Hi"\'><img src=x onerror="window.__xss=1;alert(1)">'
    "<script>window.__xss=2;alert(2)</script><svg onload=alert(3)>"
)
MARKDOWN = (
    f'{PAYLOAD}\n\n[click](javascript:alert(4))\n\n<iframe src="javascript:alert(5)"></iframe>\n'
)


def csrf(client: httpx.Client, path: str) -> str:
    page = client.get(path)
    found = CSRF.search(page.text)
    assert found, (path, page.status_code, page.text[:200])
    return found.group(1)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveHome, str]]:
    """A home set up with payloads everywhere; yields it and its site's name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOMEPORT_")}
    env.update(
        HOMEPORT_ADMIN_PASSWORD=PASSWORD,
        HOMEPORT_ARGON2_MEMORY_KIB="1024",
        HOMEPORT_ARGON2_TIME_COST="1",
        HOMEPORT_LOG_LEVEL="warning",
    )
    with (
        start_home(tmp_path_factory.mktemp("content-xss") / "data", env) as live,
        httpx.Client(base_url=live.root, timeout=30, follow_redirects=True) as gui,
    ):
        form = {
            "csrf": csrf(gui, "/admin/setup"),
            "name": PAYLOAD,
            "title": PAYLOAD[:200],
            "theme": "journal",
            "password": PASSWORD,
            "password2": PASSWORD,
        }
        shown = gui.post("/admin/setup", data=form)
        assert shown.status_code == 200, shown.text[:300]
        words = re.findall(r"<li>([a-z]+)</li>", shown.text)
        page = gui.get("/admin/setup/confirm")
        token = CSRF.search(page.text)
        assert token
        answers = {
            f"word{n}": words[int(n) - 1] for n in re.findall(r'name="word(\d+)"', page.text)
        }
        assert (
            gui.post("/admin/setup/confirm", data={"csrf": token.group(1), **answers}).status_code
            == 200
        )
        api = httpx.Client(base_url=live.url, auth=("admin", PASSWORD), timeout=30)
        with api:
            (site,) = [b["id"] for b in api.get("/buckets").json()["data"]]
            article = {
                "slug": "hello",
                "visibility": "public",
                "draft": False,
                "published": "2026-01-02",
                "title": PAYLOAD,
                "body": MARKDOWN,
                "summary": PAYLOAD,
                "tags": [PAYLOAD[:60]],
            }
            put = api.put(
                f"/buckets/{site}/collections/articles/records/a1", json={"data": article}
            )
            assert put.status_code == 201, put.text
        note = gui.post("/admin/notes", data={"csrf": csrf(gui, "/admin/notes"), "text": MARKDOWN})
        assert note.status_code == 200, note.text[:300]
        settings = {
            "csrf": csrf(gui, "/admin/settings"),
            "title": PAYLOAD[:200],
            "description": MARKDOWN,
            "author": PAYLOAD[:200],
            "theme": "journal",
            "navigation": "",
            "domains": "",
        }
        saved = gui.post("/admin/settings", data=settings)
        assert saved.status_code == 200, saved.text[:300]
        built = gui.post("/admin/build", data={"csrf": csrf(gui, "/admin/")})
        assert built.status_code == 200, built.text[:300]
        yield live, site



@pytest.fixture(scope="module")
def owner(browser: Any, home: tuple[LiveHome, str]) -> Iterator[Any]:
    """A logged-in browser context."""
    live, _ = home
    context = browser.new_context(base_url=live.root)
    page = context.new_page()
    page.goto("/admin/login")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/$"))
    page.close()
    try:
        yield context
    finally:
        context.close()


def visit(context: Any, path: str) -> tuple[Any, list[str]]:
    """Open ``path``; the page and the dialogs it raised."""
    dialogs: list[str] = []
    page = context.new_page()
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path, wait_until="load")
    page.wait_for_timeout(300)
    return page, dialogs


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/write",
        "/admin/write/a1",
        "/admin/notes",
        "/admin/settings",
        "/admin/media",
        "/preview/",
        "/preview/{site}/articles/hello/",
        "/preview/{site}/tags/",
        "/preview/{site}/archive/",
        "/preview/{site}/notes/",
    ],
)
def test_no_payload_runs_anywhere(owner: Any, home: tuple[LiveHome, str], path: str) -> None:
    _, site = home
    page, dialogs = visit(owner, path.format(site=site))
    try:
        assert page.url.startswith(home[0].root), page.url
        assert "/login" not in page.url
        assert dialogs == []
        assert page.evaluate("() => window.__xss") is None
    finally:
        page.close()


def test_the_payload_reaches_the_pages_as_text(owner: Any, home: tuple[LiveHome, str]) -> None:
    """So the test above is not vacuous: the payloads are there, shown as harmless text."""
    _, site = home
    for path in ("/admin/write", f"/preview/{site}/articles/hello/"):
        page, _ = visit(owner, path)
        try:
            assert "onerror=" in page.inner_text("body"), path
        finally:
            page.close()


def test_admin_and_preview_send_a_strict_csp(home: tuple[LiveHome, str]) -> None:
    live, site = home
    with httpx.Client(base_url=live.root, timeout=10) as anyone:
        for path in ("/admin/login", f"/preview/{site}/", "/preview/"):
            response = anyone.get(path)
            csp = response.headers.get("content-security-policy", "")
            assert "unsafe-inline" not in csp.split("script-src")[-1].split(";")[0], (path, csp)
            assert "object-src 'none'" in csp, (path, csp)
            assert "frame-ancestors" in csp, (path, csp)
    with httpx.Client(base_url=live.root, timeout=10) as anyone:
        login = anyone.get(f"/preview/{site}/")
        assert "script-src 'none'" in login.headers["content-security-policy"]


def test_a_script_that_reaches_the_built_site_does_not_run_in_the_preview(
    owner: Any, home: tuple[LiveHome, str]
) -> None:
    live, site = home
    out = Path(live.data) / "sites" / site
    assert (out / "index.html").is_file()
    (out / "slipped.html").write_text(
        "<!doctype html><title>x</title><script>window.__xss=3;alert(6)</script>"
        '<img src=x onerror="window.__xss=4"><p>slipped</p>'
    )
    (out / "slipped.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(7)</script></svg>'
    )
    for name in ("slipped.html", "slipped.svg"):
        page, dialogs = visit(owner, f"/preview/{site}/{name}")
        try:
            assert dialogs == [], name
            assert page.evaluate("() => window.__xss") is None, name
        finally:
            page.close()
