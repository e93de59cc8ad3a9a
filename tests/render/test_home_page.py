"""The home page reads like a magazine's, not a list of headings: an excerpt of each article
(its summary, else the start of its text), the site's title and the author shown once, while
the microformats keep every entry's name and author."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import mf2py
import pytest
from PIL import Image

from homeport.content import sites
from homeport.content.media import Upload
from homeport.render.build import build_site
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

BODY = "The engine **weaves** algebraic patterns. " + "As the loom weaves flowers. " * 40


async def _build(data: Path, theme: str) -> str:
    ctx = Context(Settings(data_dir=data), MemoryRecordStore(), FsBlobStore(data / "blobs"))
    await sites.create_site(ctx, "ada", "Ada's notebook", theme,
                            settings={"author": "Ada Lovelace"})
    for n in range(3):
        await sites.add_entry(ctx, "ada", "article", {
            "title": f"Essay {n}", "body": BODY, "published": f"2024-03-0{n + 1}T10:00:00Z"})
    out = data / "out"
    await build_site(ctx, "ada", out, "https://ada.example.org/")
    return (out / "index.html").read_text()


def _visible(html: str) -> str:
    html = re.sub(r"<(\w+)[^>]*class=\"[^\"]*visually-hidden[^\"]*\"[^>]*>.*?</\1>", "", html,
                  flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


@pytest.mark.parametrize("theme", ["journal", "portfolio"])
def test_the_home_page_shows_excerpts_and_each_name_once(tmp_path: Path, theme: str) -> None:
    html = asyncio.run(_build(tmp_path / theme, theme))
    text = " ".join(_visible(html).split())
    assert text.count("The engine weaves algebraic patterns") == 3  # an excerpt per article
    assert text.count("Read “Essay") == 3
    assert text.count("Ada Lovelace") <= 2  # the h-card and the footer, not every card
    assert text.count("Ada&#39;s notebook") + text.count("Ada's notebook") <= 2
    feed = next(i for i in mf2py.parse(doc=html)["items"] if "h-feed" in i["type"])
    entries = feed["children"]
    assert len(entries) == 3
    for entry in entries:
        assert entry["properties"]["author"], entry
        assert entry["properties"]["name"][0].startswith("Essay")



def _jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, "JPEG")
    return buffer.getvalue()


async def _build_with_image(data: Path, theme: str) -> Path:
    ctx = Context(Settings(data_dir=data), MemoryRecordStore(), FsBlobStore(data / "blobs"))
    await sites.create_site(ctx, "ada", "Ada's notebook", theme)
    image = Upload("loom.jpg", _jpeg(2400, 1600), alt="A loom with punched cards")
    await sites.add_entry(ctx, "ada", "article", {
        "title": "The loom", "body": "Cards tell it what to weave.\n\n![A loom](loom.jpg)",
        "published": "2024-03-01T10:00:00Z"}, {"images": [image]})
    await sites.add_entry(ctx, "ada", "article", {
        "title": "No picture", "body": BODY, "published": "2024-03-02T10:00:00Z"})
    out = data / "out"
    await build_site(ctx, "ada", out, "https://ada.example.org/")
    return out


@pytest.mark.parametrize("theme", ["journal", "portfolio"])
def test_cards_show_featured_images_in_every_width_and_nothing_blocks_rendering(
    tmp_path: Path, theme: str
) -> None:
    out = asyncio.run(_build_with_image(tmp_path / theme, theme))
    home = (out / "index.html").read_text()
    figures = re.findall(r'<figure class="featured">(.*?)</figure>', home, re.S)
    assert len(figures) == 1, home  # the article with an image, not the one without
    img = re.search(r"<img[^>]*>", figures[0])
    assert img and 'alt="A loom with punched cards"' in img.group(0)
    assert 'class="u-featured"' in img.group(0) and 'loading="lazy"' in img.group(0)
    for srcset in re.findall(r'srcset="([^"]+)"', figures[0]):
        widths = {int(part.split()[1][:-1]) for part in srcset.split(", ")}
        assert widths == {480, 960, 1920}, srcset
        for part in srcset.split(", "):  # every variant the browser may pick is in the build
            assert (out / part.split()[0].removeprefix("/")).is_file(), part
    feed = next(i for i in mf2py.parse(doc=home)["items"] if "h-feed" in i["type"])
    featured = [e["properties"].get("featured") for e in feed["children"]]
    assert sum(1 for f in featured if f) == 1

    pages = [p for p in out.rglob("*.html") if "<head>" in p.read_text()]
    assert len(pages) > 5
    for page in pages:
        head = page.read_text().split("</head>")[0]
        assert 'rel="stylesheet"' not in head, page  # the theme's CSS is inline
        assert "<style>" in head and "--accent" in head, page
        for script in re.findall(r"<script[^>]*>", head):
            assert "src=" not in script or re.search(r"\b(defer|async)\b", script), page
