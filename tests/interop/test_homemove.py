"""The home asks the old provider for a Move only by Mastodon's rules
(``interop/activitypub/homemove.py``): a move refused now asks no provider and stays pending
(tried after a later publish), one already sent to the same target is not sent again. The Move
that does go out is tested end to end in ``tests/e2e/test_fediverse_address.py``.

The address history is a record of the signed repository (``sync/addresses.py``): a home
restored from its bundle and phrase on a new device keeps ``movedTo`` and ``alsoKnownAs`` at its
next build, and what was sent. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.content import sites
from homeport.interop.activitypub import homemove
from homeport.interop.activitypub import moves as fedmove
from homeport.render.variants import build_for_providers
from homeport.services import identity as ids
from homeport.services import repository
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.sync import addresses
from homeport.sync.providers import save, variant_name

pytestmark = pytest.mark.anyio

A = {"url": "https://provider-a.test", "site": "https://ada.provider-a.test/"}
C = {"url": "https://provider-c.test", "site": "https://ada.provider-c.test/"}
OLD, NEW = addresses.actor_of(A["site"]), addresses.actor_of(C["site"])
NOW = 1_800_000_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def no_request() -> httpx.Client:
    raise AssertionError("no provider is asked for a Move the rules refuse")


@pytest.fixture
async def ctx(store_url: str, tmp_path: Path) -> AsyncIterator[Context]:
    (tmp_path / "data").mkdir()
    store = open_record_store(store_url)
    await store.initialize()
    yield Context(Settings(data_dir=tmp_path / "data", storage_url=store_url), store,
                  FsBlobStore(tmp_path / "blobs"))
    await store.close()


async def _home(ctx: Context, aka: list[str], sent: dict[str, Any]) -> Context:
    data = ctx.settings.data_dir
    save(data, [C, A])
    built = data / "sites" / variant_name("ada", C["url"]) / "activitypub"
    built.mkdir(parents=True)
    (built / "actor.as2").write_text(json.dumps({"id": NEW, "alsoKnownAs": aka}))
    await addresses.write(ctx, "ada", {"address": C["site"], "sent": sent,
                                       "moves": {A["site"]: {"to": C["site"], "sent": None}}})
    return ctx


async def pending(ctx: Context) -> Any:
    return (await addresses.read(ctx, "ada"))["moves"][A["site"]]["sent"]


async def test_within_30_days_of_the_last_move_nothing_is_sent(ctx: Context) -> None:
    last = {A["site"]: {"to": "https://ada.provider-b.test/activitypub/actor",
                        "at": NOW - fedmove.SEND_COOLDOWN_MS + 1, "count": 1}}
    home = await _home(ctx, [OLD], last)
    (sent,) = await homemove.announce(home, "ada", {A["url"], C["url"]}, NOW, http=no_request)
    assert sent.error == "cooldown"
    assert await pending(home) is None  # still pending


async def test_a_target_that_does_not_name_the_old_actor_gets_no_move(ctx: Context) -> None:
    home = await _home(ctx, [], {})
    (sent,) = await homemove.announce(home, "ada", {A["url"], C["url"]}, NOW, http=no_request)
    assert sent.error == "missing-also-known-as"
    assert await pending(home) is None


async def test_a_move_already_sent_to_the_same_target_is_not_sent_again(ctx: Context) -> None:
    home = await _home(ctx, [OLD], {A["site"]: {"to": NEW, "at": NOW - 5, "count": 1}})
    (sent,) = await homemove.announce(home, "ada", {A["url"], C["url"]}, NOW, http=no_request)
    assert sent.error == "already-moved"
    assert await pending(home) == NOW - 5
    assert await homemove.announce(home, "ada", {A["url"], C["url"]}, NOW,
                                   http=no_request) == []


async def test_an_old_provider_that_did_not_take_the_publish_is_not_asked(
        ctx: Context) -> None:
    home = await _home(ctx, [OLD], {})
    (sent,) = await homemove.announce(home, "ada", {C["url"]}, NOW, http=no_request)
    assert sent.error == "not-published"


def _actor(data: Path, provider: dict[str, str]) -> dict[str, Any]:
    path = data / "sites" / variant_name("ada", provider["url"]) / "activitypub" / "actor.as2"
    found: dict[str, Any] = json.loads(path.read_bytes())
    return found


@pytest.fixture
def second_store(store_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty store of the same engine for the restored home."""
    if store_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored.db'}"
    server = request.getfixturevalue("_postgres_server")
    url: str = server.create_database(f"restored_{secrets.token_hex(6)}")
    return url


async def test_a_restored_home_keeps_the_move(
        ctx: Context, second_store: str, tmp_path: Path) -> None:
    """The site moved from A to C and the Move went out; the home is restored on a new device
    from its bundle and phrase (no data dir of the old one): its next build still says
    ``movedTo`` at A (the old provider's redirect follows it) and ``alsoKnownAs`` at C, and the
    Move is not asked for again."""
    data = ctx.settings.data_dir
    _, phrase = ids.create(data)
    await sites.create_site(ctx, "ada", "Ada", "journal")
    await sites.add_entry(ctx, "ada", "note", {"text": "Hello"})
    await build_for_providers(ctx, [A])
    await build_for_providers(ctx, [C, A])
    assert _actor(data, A)["movedTo"] == NEW
    entry = await addresses.read(ctx, "ada")
    entry["sent"] = {A["site"]: {"to": NEW, "at": NOW, "count": 1}}
    entry["moves"][A["site"]]["sent"] = NOW
    await addresses.write(ctx, "ada", entry)
    assert not (data / addresses.FILE).exists()
    await repository.snapshot(ctx.settings, ctx.store, ctx.blobs)
    bundle = tmp_path / "home.bundle"
    repository.export(ctx.settings, bundle)

    device = Settings(data_dir=tmp_path / "device", storage_url=second_store)
    store = open_record_store(second_store)
    await store.initialize()
    try:
        await repository.import_bundle(device, bundle, phrase, store,
                                       FsBlobStore(tmp_path / "device-blobs"))
        restored = Context(device, store, FsBlobStore(tmp_path / "device-blobs"))
        assert await addresses.read(restored, "ada") == entry
        save(device.data_dir, [C, A])
        await build_for_providers(restored, [C, A])
        assert _actor(device.data_dir, A)["movedTo"] == NEW
        assert _actor(device.data_dir, C)["alsoKnownAs"] == [OLD]
        built = device.data_dir / "sites" / variant_name("ada", C["url"]) / "activitypub"
        (built / "actor.as2").write_text(json.dumps({"id": NEW, "alsoKnownAs": [OLD]}))
        assert await homemove.announce(restored, "ada", {A["url"], C["url"]}, NOW + 1,
                                       http=no_request) == []
    finally:
        await store.close()


async def test_the_file_of_earlier_versions_is_taken_over(ctx: Context) -> None:
    """A home whose history is still the data dir's file keeps its move at the next build,
    and from then on the history is the record."""
    data = ctx.settings.data_dir
    (data / addresses.FILE).write_text(json.dumps({"ada": {
        "address": C["site"], "moves": {A["site"]: {"to": C["site"], "sent": 5}}}}))
    links = await addresses.note(ctx, "ada", [C, A])
    assert links[A["site"]].moved_to == NEW
    assert (await addresses.read(ctx, "ada"))["moves"][A["site"]]["sent"] == 5
    (data / addresses.FILE).unlink()
    assert (await addresses.read(ctx, "ada"))["address"] == C["site"]
