"""A sign-up relayed from a provider becomes a free member at home, once however often it is
delivered; a member already there is left as they are; a malformed item is refused for good.
On SQLite and PostgreSQL, the handler called from a worker thread as the relay calls it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import anyio.to_thread
import pytest

from homeport.core.errors import HomeportError
from homeport.interop.members import home_handlers
from homeport.interop.members.passkeys import PASSKEY_KIND
from homeport.interop.members.signin import SIGNUP_KIND
from homeport.interop.ports import InboxItem
from homeport.members import store
from homeport.members.model import MemberFields
from homeport.services.context import Context
from homeport.settings import load_settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home.sqlite'}"
    found: str = request.getfixturevalue("fresh_postgres_url")
    return found


def item(body: bytes, n: int = 1) -> InboxItem:
    return InboxItem(f"signup-{n}", SIGNUP_KIND, {}, body, 1)


def test_signups(url: str, tmp_path: Path) -> None:
    handler = home_handlers()[SIGNUP_KIND]

    async def scenario() -> None:
        record_store = open_record_store(url)
        await record_store.initialize()
        ctx = Context(load_settings(tmp_path), record_store, FsBlobStore(tmp_path / "blobs"))
        try:
            async def handle(body: bytes, n: int = 1) -> object:
                return await anyio.to_thread.run_sync(handler, ctx, item(body, n))

            body = json.dumps({"email": "New@Example.org", "site": "https://alice.prov.example",
                               "next": "/"}).encode()
            assert await handle(body) == {"added": True}
            assert await handle(body) == {"added": False}  # redelivered: nothing more
            await store.add_tier(ctx, "Gold")
            await store.add_member(ctx, "ann@example.org",
                                   MemberFields(tier="gold", status="comped"))
            assert await handle(json.dumps({"email": "ann@example.org"}).encode(), 2) == {
                "added": False}
            members = {m["email"]: m for m in await store.list_members(ctx)}
            assert members["new@example.org"]["labels"] == ["signup"]
            assert members["new@example.org"]["provider"] == "https://alice.prov.example"
            assert members["ann@example.org"]["status"] == "comped"  # a sign-up changes none
            for bad in (b"not json", b"{}", json.dumps({"email": "nope"}).encode()):
                with pytest.raises(HomeportError):
                    await handle(bad, 3)
            assert len(await store.list_members(ctx)) == 2

            # A passkey registered at a provider: added to its member once, never to a stranger.
            keyed = home_handlers()[PASSKEY_KIND]

            async def passkey(doc: dict[str, str], n: int) -> object:
                found = InboxItem(f"passkey-{n}", PASSKEY_KIND, {}, json.dumps(doc).encode(), 1)
                return await anyio.to_thread.run_sync(keyed, ctx, found)

            key = {"credential_id": "Y3JlZA", "public_key": "cHVi", "rp_id": "alice.example"}
            assert await passkey({"email": "Ann@example.org", **key}, 1) == {"added": True}
            assert await passkey({"email": "ann@example.org", **key}, 1) == {"added": False}
            assert await passkey({"email": "eve@example.org", **key}, 2) == {"added": False}
            for bad in ({"email": "ann@example.org"}, {"email": "x", **key},
                        {"email": "ann@example.org", **key, "public_key": ""}):
                with pytest.raises(HomeportError):
                    await passkey(bad, 3)
            ann = await store.find_member(ctx, "ann@example.org")
            assert ann is not None and ann["passkeys"] == [key]
            assert ann["status"] == "comped" and ann["tier"] == "gold"
        finally:
            await record_store.close()

    asyncio.run(scenario())
