"""``/preview/`` serves the built folder as a provider would: index files, redirects to the
slash form, the site's 404 page, content types, byte ranges, and never a file outside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeport.gui.preview import content_type, locate
from homeport.render.build import default_out_dir

Client = Any


@pytest.fixture
def built(gui: Any, client: Client, settings: Any) -> Path:
    """The wizard's site with a hand-made output folder (the builder has its own tests)."""
    gui.wizard(client, title="Preview test")
    root = default_out_dir(type("C", (), {"settings": settings})(), "preview-test")
    (root / "articles" / "hello").mkdir(parents=True, exist_ok=True)
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "404.html").write_text("<h1>the site's own 404</h1>")
    (root / "articles" / "hello" / "index.html").write_text("<h1>hello</h1>")
    (root / "feed.atom").write_text("<feed/>")
    (root / "big.bin").write_bytes(bytes(range(256)) * 4096)
    return root


def test_root_redirects_to_the_site(built: Path, client: Client) -> None:
    response = client.get("/preview/", follow_redirects=False)
    assert response.headers["location"] == "/preview/preview-test/"


def test_directory_serves_its_index(built: Path, client: Client) -> None:
    response = client.get("/preview/preview-test/articles/hello/")
    assert response.status_code == 200
    assert response.text == "<h1>hello</h1>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


def test_directory_without_slash_redirects(built: Path, client: Client) -> None:
    response = client.get("/preview/preview-test/articles/hello", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == "/preview/preview-test/articles/hello/"


def test_missing_page_is_the_sites_404(built: Path, client: Client) -> None:
    response = client.get("/preview/preview-test/nope/")
    assert response.status_code == 404
    assert "the site's own 404" in response.text


def test_feed_has_its_content_type(built: Path, client: Client) -> None:
    response = client.get("/preview/preview-test/feed.atom")
    assert response.headers["content-type"].startswith("application/atom+xml")


def test_large_files_answer_byte_ranges(built: Path, client: Client) -> None:
    response = client.get("/preview/preview-test/big.bin", headers={"Range": "bytes=256-511"})
    assert response.status_code == 206
    assert response.content == bytes(range(256))
    assert response.headers["content-range"] == f"bytes 256-511/{256 * 4096}"


def test_paths_never_leave_the_site(built: Path, client: Client) -> None:
    assert client.get("/preview/preview-test/..%2f..%2fhomeport.sqlite").status_code == 404
    assert locate(built, "../../homeport.sqlite", "/preview/x/") == (None, None)
    assert locate(built, "articles/../index.html", "/preview/x/") == (None, None)


def test_preview_needs_the_owner(built: Path, client: Client) -> None:
    client.cookies.clear()
    response = client.get("/preview/preview-test/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/admin/login?next=/preview/")


def test_content_types() -> None:
    assert content_type(Path("a.webp")) == "image/webp"
    assert content_type(Path("a.pdf")) == "application/pdf"
    assert content_type(Path("feed.json")) == "application/json"
    assert content_type(Path("x.unknownext")) == "application/octet-stream"
