"""A ``javascript:`` link put in through ``/v1`` (where the GUI's checks do not apply, and where
the owner may even replace a collection's schema) must not reach the built site or the preview:
the renderer keeps only http, https, mailto and relative links, whatever wrote the data."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from homeport.testing.live import LiveHome, start_home
from tests.e2e.repo_support import cli_env

PASSWORD = "admin-s3cret-pw"
EVIL = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(2)",
    "java\tscript:alert(3)",
    " \x01javascript:alert(4)",
    "&#106;avascript:alert(5)",
    "data:text/html,<script>alert(6)</script>",
    "vbscript:msgbox(7)",
]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def homeport(data: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "homeport", "--data", str(data), *args],
        capture_output=True,
        timeout=120,
        env={**cli_env(), **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def dangerous(text: str) -> list[str]:
    """Every href/src/srcset/content value in ``text`` whose scheme is not a web one, read as
    a browser would (entities decoded, tabs, newlines and controls dropped)."""
    found = []
    for value in re.findall(r'(?:href|src|srcset|content|action)\s*=\s*"([^"]*)"', text, re.I):
        probe = re.sub(r"[\x00-\x20\x7f]", "", html.unescape(value)).lower()
        if re.match(r"[a-z][a-z0-9+.\-]*:", probe) and not probe.startswith(
            ("http:", "https:", "mailto:")
        ):
            found.append(value)
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home_env(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[LiveHome, dict[str, str]]]:
    data = tmp_path / "data"
    env = {"HOMEPORT_ADMIN_PASSWORD": PASSWORD}
    if request.param == "postgresql":
        env["HOMEPORT_STORAGE_URL"] = request.getfixturevalue("fresh_postgres_url")
    homeport(
        data, "init", env=env
    )  # an identity: the GUI (and so the preview) then needs no wizard
    started = start_home(data, {**cli_env(), **env}, log=tmp_path / "server.log", timeout=20)
    try:
        yield started, env
    finally:
        started.stop()


def test_javascript_links_from_v1_never_reach_the_site(
    home_env: tuple[LiveHome, dict[str, str]],
) -> None:
    home, env = home_env
    with httpx.Client(base_url=home.url, auth=("admin", PASSWORD), timeout=30) as api:
        site = "/buckets/site/collections"
        assert api.get("/").status_code == 200
        # a site made the ordinary way, with a note replying to an https URL
        out = homeport(
            home.data, "add", "note", "Hello", "--reply-to", "https://a.example/", env=env
        )
        assert "Added note" in out
        # the owner may replace a collection's schema through /v1: the GUI's checks are gone
        for collection in ("settings", "notes", "bookmarks"):
            loose = api.patch(f"{site}/{collection}", json={"data": {"schema": {"type": "object"}}})
            assert loose.status_code == 200, loose.text
        navigation = [{"title": f"Evil {n}", "url": url} for n, url in enumerate(EVIL)]
        navigation.append({"title": "Friends", "url": "https://friends.example/"})
        navigation.append({"title": "Write", "url": "mailto:ada@example.org"})
        settings = api.patch(
            f"{site}/settings/records/site",
            json={"data": {"navigation": navigation, "base_url": "javascript:alert(8)//"}},
        )
        assert settings.status_code == 200, settings.text
        (note,) = api.get(f"{site}/notes/records").json()["data"]
        changed = api.patch(
            f"{site}/notes/records/{note['id']}", json={"data": {"reply_to": EVIL[0]}}
        )
        assert changed.status_code == 200, changed.text
        shape = {k: v for k, v in note.items() if k not in ("id", "last_modified", "text")}
        for n, url in enumerate(EVIL):
            bookmark = {**shape, "slug": f"evil-{n}", "url": url, "title": f"Bookmark {n}"}
            del bookmark["reply_to"]
            made = api.post(f"{site}/bookmarks/records", json={"data": bookmark})
            assert made.status_code == 201, made.text

        homeport(home.data, "build", env=env)
        built = home.data / "sites" / "site"
        pages = {
            p: p.read_text(errors="replace")
            for p in built.rglob("*")
            if p.is_file() and p.suffix in (".html", ".xml", ".atom", ".rss", ".json")
        }
        everything = "\n".join(pages.values())
        assert "https://friends.example/" in everything  # the good links are kept
        assert "mailto:ada@example.org" in everything
        assert "Bookmark 3" in everything and "Hello" in everything
        for path, text in pages.items():
            assert dangerous(text) == [], path
            assert "javascript:" not in html.unescape(text).lower(), path

    # the preview serves the same build
    with httpx.Client(base_url=home.root, timeout=30) as gui:
        login = gui.get("/admin/login")
        token = CSRF.search(login.text)
        assert token, login.text[:500]
        gui.post("/admin/login", data={"csrf": token.group(1), "password": PASSWORD})
        for path in ("/preview/site/", "/preview/site/notes/", "/preview/site/bookmarks/"):
            page = gui.get(path, follow_redirects=True)
            assert page.status_code == 200, (path, page.text[:300])
            assert "https://friends.example/" in page.text
            assert dangerous(page.text) == [], path
