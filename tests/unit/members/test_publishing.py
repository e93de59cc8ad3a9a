"""A provider's build carries the entitlements (and never an address); a preview build does
not; a member added or removed rebuilds it even when no entry changed."""

from __future__ import annotations

import asyncio
from pathlib import Path

from homeport import jsonio
from homeport.members import entitlements, store
from homeport.members.model import MemberFields
from homeport.render.build import build_site
from homeport.services import identity
from homeport.services.context import Context


def test_live_builds_carry_entitlements(ctx: Context, tmp_path: Path) -> None:
    did = identity.create(ctx.settings.data_dir)[0].did
    out, preview = tmp_path / "live", tmp_path / "preview"

    async def scenario() -> None:
        await store.add_tier(ctx, "Gold")
        await store.add_member(ctx, "ann@example.org", MemberFields(tier="gold",
                                                                    status="comped"))
        await build_site(ctx, "blog", out_dir=out, base_url="https://a.example/", live=True)
        await build_site(ctx, "blog", out_dir=preview, base_url="https://a.example/")
        doc = jsonio.loads((out / entitlements.PATH).read_bytes())
        assert doc["did"] == did and entitlements.lookup(doc, "ann@example.org", 0) == "gold"
        assert not (preview / entitlements.PATH).exists()
        await store.add_member(ctx, "bo@example.org", MemberFields())
        await build_site(ctx, "blog", out_dir=out, base_url="https://a.example/", live=True)
        doc = jsonio.loads((out / entitlements.PATH).read_bytes())
        assert entitlements.lookup(doc, "bo@example.org", 0) == ""
        await store.remove_member(ctx, "ann@example.org")
        await build_site(ctx, "blog", out_dir=out, base_url="https://a.example/", live=True)
        doc = jsonio.loads((out / entitlements.PATH).read_bytes())
        assert entitlements.lookup(doc, "ann@example.org", 0) is None

    asyncio.run(scenario())
    for path in out.rglob("*"):
        if path.is_file():
            assert b"example.org" not in path.read_bytes(), path
