"""Rendered pages read by mf2py as an IndieWeb reader would: h-card, h-feed, h-entry."""

from __future__ import annotations

from typing import Any

import mf2py

from tests.render.conftest import BASE, Built


def parse(built: Built, path: str) -> dict[str, Any]:
    html = (built.out / path).read_text()
    return dict(mf2py.parse(doc=html, url=BASE + path.removesuffix("index.html")))


def items_of(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [i for i in doc["items"] if kind in i["type"]]


def test_home_page_has_an_h_card_with_name_url_and_note(built: Built) -> None:
    card = items_of(parse(built, "index.html"), "h-card")[0]
    assert card["properties"]["name"] == ["Ada Lovelace"]
    assert card["properties"]["url"] == [BASE]
    assert card["properties"]["note"] == ["Engines & poetry."]


def test_home_page_has_an_h_feed_of_h_entries(built: Built) -> None:
    feed = items_of(parse(built, "index.html"), "h-feed")[0]
    entries = [c for c in feed["children"] if "h-entry" in c["type"]]
    urls = {e["properties"]["url"][0] for e in entries}
    assert BASE + "articles/notes-on-the-engine/" in urls
    assert BASE + "papers/sketch-of-the-analytical-engine/" in urls
    assert len(entries) == 6  # pages and files are not in the stream


def test_an_article_is_an_h_entry_with_its_properties(built: Built) -> None:
    entry = items_of(parse(built, "articles/notes-on-the-engine/index.html"), "h-entry")[0]
    props = entry["properties"]
    assert props["name"] == ["Notes on the Engine"]
    assert props["published"] == ["2024-03-01T10:00:00Z"]
    assert props["url"] == [BASE + "articles/notes-on-the-engine/"]
    assert props["category"] == ["engines", "Looms & Cards"]
    assert props["summary"] == ["On looms."]
    assert "<em>weaves</em>" in props["content"][0]["html"]
    assert "script" not in props["content"][0]["html"]
    assert props["author"][0]["properties"]["name"] == ["Ada Lovelace"]


def test_a_note_has_photo_and_in_reply_to(built: Built) -> None:
    entry = items_of(parse(built, "notes/tea-with-charles/index.html"), "h-entry")[0]
    props = entry["properties"]
    assert props["in-reply-to"] == ["https://babbage.example/post"]
    assert props["photo"][0]["alt"] == "Two cups of tea"
    assert props["content"][0]["value"] == "Tea with Charles."


def test_a_photo_has_u_photo_with_alt(built: Built) -> None:
    entry = items_of(parse(built, "photos/a-punched-card/index.html"), "h-entry")[0]
    photo = entry["properties"]["photo"][0]
    assert photo["alt"] == "A punched card"
    assert photo["value"].startswith(BASE + "media/")


def test_a_paper_has_its_authors_and_attachment(built: Built) -> None:
    path = "papers/sketch-of-the-analytical-engine/index.html"
    entry = items_of(parse(built, path), "h-entry")[0]
    props = entry["properties"]
    assert props["name"] == ["Sketch of the Analytical Engine"]
    assert props["author"][0]["properties"]["name"] == ["Ada Lovelace"]
    html = (built.out / path).read_text()
    assert '<meta name="citation_title" content="Sketch of the Analytical Engine">' in html
    assert (built.out / "papers/sketch-of-the-analytical-engine/sketch.pdf").read_bytes()[:5] == (
        b"%PDF-")
    assert "@article{" in (built.out / "papers/sketch-of-the-analytical-engine/cite.bib"
                           ).read_text()


def test_a_bookmark_has_bookmark_of(built: Built) -> None:
    entry = items_of(parse(built, "bookmarks/jacquard-looms/index.html"), "h-entry")[0]
    assert entry["properties"]["bookmark-of"] == ["https://example.com/looms"]


def test_an_album_lists_its_photos(built: Built) -> None:
    entry = items_of(parse(built, "albums/cards/index.html"), "h-entry")[0]
    assert len(entry["properties"]["photo"]) == 1


def test_tag_pages_are_h_feeds(built: Built) -> None:
    feed = items_of(parse(built, "tags/engines/index.html"), "h-feed")[0]
    assert len([c for c in feed["children"] if "h-entry" in c["type"]]) == 2


def test_every_page_has_canonical_and_opengraph(built: Built) -> None:
    for page in built.out.rglob("index.html"):
        html = page.read_text()
        if 'http-equiv="refresh"' in html:
            continue
        path = str(page.relative_to(built.out)).removesuffix("index.html")
        assert f'<link rel="canonical" href="{BASE}{path}">' in html
        assert f'<meta property="og:url" content="{BASE}{path}">' in html
        assert '<meta name="viewport"' in html and '<html lang="en">' in html


def test_site_files_are_there(built: Built) -> None:
    sitemap = (built.out / "sitemap.xml").read_text()
    assert f"<loc>{BASE}articles/notes-on-the-engine/</loc>" in sitemap
    assert (built.out / "robots.txt").read_text().endswith(f"Sitemap: {BASE}sitemap.xml\n")
    assert "Page not found" in (built.out / "404.html").read_text()
    assert "Notes on the Engine" in (built.out / "archive/index.html").read_text()
    assert (built.out / "files/table-of-bernoulli-numbers/table.csv").read_bytes() == (
        b"n,B\n0,1\n")
    assert (built.out / "theme/style.css").exists()
