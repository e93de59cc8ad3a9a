"""Every Atom and RSS feed parses in feedparser without errors, with the right entries.

feedparser 6.0 (the latest release) does not read JSON Feed, so JSON feeds are checked here
against the JSON Feed 1.1 specification's required members instead."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest

from tests.render.conftest import BASE, Built

TYPES = {".atom": "application/atom+xml", ".rss": "application/rss+xml"}


def parse(path: Path) -> feedparser.FeedParserDict:
    return feedparser.parse(path.read_bytes(),
                            response_headers={"content-type": TYPES[path.suffix]})


def feeds(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("feed.*") if p.suffix in (".atom", ".rss", ".json"))


def test_there_are_site_and_tag_feeds_in_three_formats(built: Built) -> None:
    names = {str(p.relative_to(built.out)) for p in feeds(built.out)}
    for base in ("", "tags/engines/", "tags/looms-cards/"):
        assert {base + "feed.atom", base + "feed.rss", base + "feed.json"} <= names


@pytest.mark.parametrize("suffix", [".atom", ".rss"])
def test_every_feed_parses_without_errors(built: Built, suffix: str) -> None:
    for path in feeds(built.out):
        if path.suffix != suffix:
            continue
        parsed = parse(path)
        assert not parsed.bozo, (path, parsed.get("bozo_exception"))
        assert parsed.entries
        for entry in parsed.entries:
            assert entry.link.startswith(BASE)
            assert entry.title


def test_the_atom_feed_has_content_dates_and_self_link(built: Built) -> None:
    parsed = feedparser.parse((built.out / "feed.atom").read_bytes())
    assert parsed.version == "atom10"
    assert parsed.feed.title == "Ada's notebook"
    links = {link.rel: link.href for link in parsed.feed.links}
    assert links["self"] == BASE + "feed.atom"
    article = next(e for e in parsed.entries if e.title == "Notes on the Engine")
    assert "<em>weaves</em>" in article.content[0].value
    assert "<script" not in article.content[0].value
    assert article.published.startswith("2024-03-01")
    assert [t.term for t in article.tags] == ["engines", "Looms & Cards"]


def test_the_rss_feed_is_rss2(built: Built) -> None:
    parsed = feedparser.parse((built.out / "feed.rss").read_bytes())
    assert parsed.version == "rss20"
    assert len(parsed.entries) == 6


def test_every_json_feed_has_what_json_feed_1_1_requires(built: Built) -> None:
    for path in feeds(built.out):
        if path.suffix != ".json":
            continue
        document = json.loads(path.read_text())
        assert document["version"] == "https://jsonfeed.org/version/1.1"
        assert document["title"] and document["items"]
        for item in document["items"]:
            assert item["id"] and item["url"].startswith(BASE)
            assert isinstance(item["content_html"], str)
            assert item["date_published"].endswith("Z")


def test_the_json_feed_is_json_feed_1_1(built: Built) -> None:
    document = json.loads((built.out / "feed.json").read_text())
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    assert document["feed_url"] == BASE + "feed.json"
    photo = next(i for i in document["items"] if i["url"].endswith("/photos/a-punched-card/"))
    assert photo["image"].startswith(BASE + "media/")


def test_a_tag_feed_holds_only_that_tag(built: Built) -> None:
    parsed = feedparser.parse((built.out / "tags/engines/feed.atom").read_bytes())
    assert sorted(e.title for e in parsed.entries) == ["A punched card", "Notes on the Engine"]
