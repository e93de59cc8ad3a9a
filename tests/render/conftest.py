"""A site with one entry of every type, built once per module for the given theme."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from homeport.content import sites
from homeport.content.media import Upload
from homeport.render.build import build_site
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.memory import MemoryRecordStore

BASE = "https://ada.example.org/"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def jpeg(color: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1000, 750), color).save(buffer, "JPEG")
    return buffer.getvalue()


@dataclass
class Built:
    out: Path
    entries: dict[str, sites.Entry]


async def make_site(data: Path, theme: str) -> Built:
    ctx = Context(Settings(data_dir=data), MemoryRecordStore(), FsBlobStore(data / "blobs"))
    await sites.create_site(ctx, "ada", "Ada's notebook", theme, settings={
        "author": "Ada Lovelace", "description": "Engines & poetry."})
    add = sites.add_entry
    entries = {
        "article": await add(ctx, "ada", "article", {
            "title": "Notes on the Engine", "body": "It *weaves* patterns.\n\n<script>x()</script>",
            "summary": "On looms.", "tags": ["engines", "Looms & Cards"],
            "published": "2024-03-01T10:00:00Z"}),
        "note": await add(ctx, "ada", "note", {
            "text": "Tea with Charles.", "reply_to": "https://babbage.example/post",
            "published": "2024-03-02T10:00:00Z"},
            {"photos": [Upload("tea.jpg", jpeg("brown"), alt="Two cups of tea")]}),
        "photo": await add(ctx, "ada", "photo", {
            "alt": "A punched card", "caption": "Card **42**", "tags": ["engines"],
            "published": "2024-03-03T10:00:00Z"}, {"image": Upload("card.jpg", jpeg("tan"))}),
        "paper": await add(ctx, "ada", "paper", {
            "title": "Sketch of the Analytical Engine", "authors": ["Ada Lovelace"],
            "year": 1843, "venue": "Scientific Memoirs", "abstract": "Translator's notes.",
            "doi": "10.1234/sketch", "published": "2024-03-04T10:00:00Z"},
            {"pdf": Upload("sketch.pdf", PDF)}),
        "bookmark": await add(ctx, "ada", "bookmark", {
            "url": "https://example.com/looms", "title": "Jacquard looms",
            "comment": "Where the idea came from.", "published": "2024-03-05T10:00:00Z"}),
        "page": await add(ctx, "ada", "page", {"title": "About", "body": "Hello.", "nav": 1}),
        "file": await add(ctx, "ada", "file", {"title": "Table of Bernoulli numbers"},
                          {"file": Upload("table.csv", b"n,B\n0,1\n")}),
    }
    photo = entries["photo"]
    entries["album"] = await add(ctx, "ada", "album", {
        "title": "Cards", "photos": [photo.id], "published": "2024-03-06T10:00:00Z"})
    out = data / "out"
    await build_site(ctx, "ada", out, BASE)
    return Built(out, entries)


@pytest.fixture(scope="module", params=["journal", "portfolio"])
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Built:
    data = tmp_path_factory.mktemp(f"site-{request.param}")
    return asyncio.run(make_site(data, str(request.param)))
