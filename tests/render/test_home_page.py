"""The home page reads like a magazine's, not a list of headings: an excerpt of each article
(its summary, else the start of its text), the site's title and the author shown once, while
the microformats keep every entry's name and author."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import mf2py
import pytest

from homeport.content import sites
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
