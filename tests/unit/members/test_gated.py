"""Members-only entries in a provider's build: a public teaser with the sign-in form, the whole
page sealed with its tier's key (and only that key opens it, only at its path), and the
members-only text in no other file: not in listings, feeds, the sitemap or the teaser."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homeport.content import sites
from homeport.members import store
from homeport.members.sealing import PAGES, members_key, open_page
from homeport.render.build import build_site
from homeport.services import identity
from homeport.services.context import Context

SECRET = "Zanzibar-members-only-sentence"


def test_gated_entries(ctx: Context, tmp_path: Path) -> None:
    identity.create(ctx.settings.data_dir)
    out, preview = tmp_path / "live", tmp_path / "preview"

    async def scenario() -> bytes:
        gold = await store.add_tier(ctx, "Gold", price="5", currency="EUR")
        await sites.add_entry(ctx, "blog", "article", {
            "title": "Gold essay", "body": f"The opening line.\n\n{SECRET} for gold.",
            "visibility": "gold"})
        await sites.add_entry(ctx, "blog", "article", {
            "title": "Members essay", "summary": "A short teaser.",
            "body": f"Not the teaser. {SECRET} for members.", "visibility": "members"})
        await sites.add_entry(ctx, "blog", "note", {"text": "A public note."})
        await build_site(ctx, "blog", out_dir=out, base_url="https://a.example/", live=True)
        await build_site(ctx, "blog", out_dir=preview, base_url="https://a.example/")
        return bytes.fromhex(str(gold["key"]))

    gold_key = asyncio.run(scenario())
    teaser = (out / "articles/gold-essay/index.html").read_text()
    assert "The opening line." in teaser and SECRET not in teaser
    assert 'action="/_homeport/members/signin"' in teaser and 'name="email"' in teaser
    assert "A short teaser." in (out / "articles/members-essay/index.html").read_text()

    holders = [p.relative_to(out).as_posix() for p in out.rglob("*")
               if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert holders == []  # sealed everywhere, feeds and sitemap included
    for listed in ("index.html", "feed.atom", "feed.json", "sitemap.xml"):
        assert "Gold essay" not in (out / listed).read_text(), listed

    path = "articles/gold-essay/index.html"
    sealed = (out / PAGES / path).read_bytes()
    whole = open_page(gold_key, path, sealed)
    assert whole is not None and SECRET in whole.decode()
    data_key = identity.secret(ctx.settings.data_dir, "data.key")
    assert open_page(members_key(data_key), path, sealed) is None  # another tier's key
    assert open_page(gold_key, "articles/other/index.html", sealed) is None  # another path
    other = "articles/members-essay/index.html"
    opened = open_page(members_key(data_key), other, (out / PAGES / other).read_bytes())
    assert opened is not None and SECRET in opened.decode()

    # The home's preview is the public view: no page of a members-only entry at all.
    assert not (preview / "articles/gold-essay/index.html").exists()
    assert not any(SECRET.encode() in p.read_bytes() for p in preview.rglob("*") if p.is_file())
