"""A provider's build names the live web's endpoints in every page's head and the WebSub hub
in every feed; the home's preview build names neither (nothing answers there)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import feedparser
import mf2py

from homeport.content import sites
from homeport.render.build import build_site
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

BASE = "https://ada.example.org/"
RELS = {
    "webmention": "https://ada.example.org/_homeport/webmention",
    "micropub": "https://ada.example.org/_homeport/micropub",
    "indieauth-metadata": "https://ada.example.org/_homeport/indieauth/metadata",
}
HUB = "https://ada.example.org/_homeport/websub"


async def _build(data: Path, live: bool) -> Path:
    ctx = Context(Settings(data_dir=data), MemoryRecordStore(), FsBlobStore(data / "blobs"))
    await sites.create_site(ctx, "ada", "Ada's notebook", "journal")
    await sites.add_entry(ctx, "ada", "article", {"title": "Engines", "body": "Looms.",
                                                  "tags": ["engines"]})
    out = data / "out"
    await build_site(ctx, "ada", out, BASE, live=live)
    return out


def _pages(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*.html"))


def test_every_page_of_a_provider_build_names_the_endpoints(tmp_path: Path) -> None:
    out = asyncio.run(_build(tmp_path, live=True))
    pages = [p for p in _pages(out) if "redirect" not in p.read_text()[:200]]
    assert len(pages) >= 5
    for page in pages:
        rels = mf2py.parse(doc=page.read_text(), url=BASE)["rels"]
        for rel, href in RELS.items():
            assert rels.get(rel) == [href], (page, rel)


def test_every_feed_of_a_provider_build_names_the_hub_and_itself(tmp_path: Path) -> None:
    out = asyncio.run(_build(tmp_path, live=True))
    feeds = sorted(out.rglob("feed.*"))
    assert {p.suffix for p in feeds} == {".atom", ".rss", ".json"}
    for feed in feeds:
        url = BASE + feed.relative_to(out).as_posix()
        if feed.suffix == ".json":
            doc = json.loads(feed.read_bytes())
            assert doc["hubs"] == [{"type": "WebSub", "url": HUB}]
            assert doc["feed_url"] == url
            continue
        parsed = feedparser.parse(feed.read_bytes())
        assert not parsed.bozo
        links = {(link["rel"], link["href"]) for link in parsed.feed.links}
        assert ("hub", HUB) in links and ("self", url) in links, feed


def test_the_preview_build_names_no_endpoint_and_no_hub(tmp_path: Path) -> None:
    out = asyncio.run(_build(tmp_path, live=False))
    for page in _pages(out):
        assert "/_homeport/" not in page.read_text(), page
    for feed in out.rglob("feed.*"):
        assert b"/_homeport/" not in feed.read_bytes(), feed


def test_the_endpoints_resolve_on_the_address_the_page_was_reached_at(tmp_path: Path) -> None:
    """Built for ``https://ada.example.org/`` but reached over plain HTTP on a port (a loopback
    provider, a proxy): the ``<link>``s name that address, as the provider's Link headers do."""
    out = asyncio.run(_build(tmp_path, live=True))
    reached = "http://ada.example.org:8080/"
    rels = mf2py.parse(doc=(out / "index.html").read_text(), url=reached)["rels"]
    assert rels["webmention"] == [reached + "_homeport/webmention"]
    assert rels["indieauth-metadata"] == [reached + "_homeport/indieauth/metadata"]
