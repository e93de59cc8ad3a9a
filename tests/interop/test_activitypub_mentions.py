"""``@user@host`` typed in an entry becomes a mention (``interop/activitypub/mentions.py``):
before the snapshot the home asks the host's WebFinger (a loopback server here), fetches the
actor it names (signed as the site), keeps the answer in its private record, and the build
gives the entry's object a ``Mention`` tag and the actor in ``cc``, and links the handle to the
person's profile. The entry itself is not rewritten; a host that does not answer is not asked
again before ``RETRY_MS``. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from homeport import jsonio
from homeport.content import sites
from homeport.interop.activitypub import mentions
from homeport.render import activitypub as ap
from homeport.render.variants import build_for_providers
from homeport.services import handles as answers
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.sync.providers import save, variant_name
from homeport.testing.webhost import Answer, Hit, WebHost

pytestmark = pytest.mark.anyio

P = {"url": "https://provider-a.test", "site": "https://ada.provider-a.test/"}
NOW = 1_800_000_000_000


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def peer() -> Iterator[WebHost]:
    """A fediverse server on loopback with one person, bob; WebFinger knows no one else."""
    with WebHost() as host:
        handle = f"bob@127.0.0.1:{host.port}"
        actor = f"{host.url}/users/bob"

        def webfinger(hit: Hit) -> Answer:
            if hit.query.get("resource") != f"acct:{handle}":
                return Answer(404, b"")
            jrd = {"subject": f"acct:{handle}", "links": [
                {"rel": "self", "type": ap.ACTIVITY_JSON, "href": actor},
                {"rel": "http://webfinger.net/rel/profile-page", "type": "text/html",
                 "href": f"{host.url}/@bob"}]}
            return Answer(200, jsonio.dumps(jrd), content_type=ap.JRD_JSON)

        host.routes[ap.WEBFINGER] = webfinger
        host.page("/users/bob", jsonio.dumps({
            "@context": ap.AS_CONTEXT, "id": actor, "type": "Person",
            "preferredUsername": "bob", "inbox": actor + "/inbox",
            "url": f"{host.url}/@bob"}).decode(), content_type=ap.ACTIVITY_JSON)
        yield host


@pytest.fixture
async def ctx(store_url: str, tmp_path: Path) -> AsyncIterator[Context]:
    (tmp_path / "data").mkdir()
    store = open_record_store(store_url)
    await store.initialize()
    settings = Settings(data_dir=tmp_path / "data", storage_url=store_url,
                        fetch_allow_private=True)  # the peer is on loopback
    clock = [NOW]
    yield Context(settings, store, FsBlobStore(tmp_path / "blobs"), clock=lambda: clock[0])
    await store.close()


def built(ctx: Context, path: str, name: str) -> bytes:
    out = ctx.settings.data_dir / "sites" / variant_name("ada", P["url"])
    return (out / path.strip("/") / name).read_bytes()


async def test_a_typed_handle_becomes_a_mention_in_cc_and_a_profile_link(
        ctx: Context, peer: WebHost) -> None:
    save(ctx.settings.data_dir, [P])
    await sites.create_site(ctx, "ada", "Ada", "journal")
    handle = f"bob@127.0.0.1:{peer.port}"
    entry = await sites.add_entry(ctx, "ada", "note", {
        "text": f"Tea with @{handle}, and @nobody@127.0.0.1:{peer.port}; mail me at "
                f"ada@127.0.0.1 or ask @carol."})
    path = "/notes/" + entry.slug + "/"
    await build_for_providers(ctx, [P])  # built before the look-up: no mention yet
    assert json.loads(built(ctx, path, ap.ENTRY_FILE))["tag"] == []

    await mentions.before_snapshot(ctx)
    # the actor was fetched signed as the site (authorized-fetch servers want that)
    (fetched,) = peer.received("/users/bob", "GET")
    assert 'keyId="https://ada.provider-a.test/activitypub/actor#main-key"' in fetched.headers[
        "Signature"]
    record = await answers.read(ctx)
    assert record[handle] == {"actor": f"{peer.url}/users/bob", "url": f"{peer.url}/@bob",
                              "checked": NOW}
    assert record[f"nobody@127.0.0.1:{peer.port}"]["error"] == "WebFinger answered 404"
    assert set(record) == {handle, f"nobody@127.0.0.1:{peer.port}"}  # no email, no @carol

    await build_for_providers(ctx, [P])  # the resolved handle re-renders the entry's files
    obj = json.loads(built(ctx, path, ap.ENTRY_FILE))
    bob = f"{peer.url}/users/bob"
    assert obj["tag"] == [{"type": "Mention", "href": bob, "name": "@" + handle}]
    assert obj["cc"] == ["https://ada.provider-a.test/activitypub/followers", bob]
    link = (f'<span class="h-card" translate="no"><a href="{peer.url}/@bob" '
            f'class="u-url mention">@<span>bob</span></a></span>')
    assert link in obj["content"]
    assert link in built(ctx, path, "index.html").decode()
    assert f"@nobody@127.0.0.1:{peer.port}" in obj["content"]  # unresolved: left as text

    after = await sites.get_entry(ctx, "ada", "note", entry.id)
    assert after.data == entry.data  # the entry is not rewritten (same `updated`, same text)


async def test_a_failed_handle_is_not_asked_again_before_the_retry_delay(
        ctx: Context, peer: WebHost) -> None:
    await sites.create_site(ctx, "ada", "Ada", "journal")
    await sites.add_entry(ctx, "ada", "note", {"text": f"hello @nobody@127.0.0.1:{peer.port}"})
    asked = lambda: len(peer.received(ap.WEBFINGER, "GET"))  # noqa: E731
    await mentions.before_snapshot(ctx)
    assert asked() == 1
    await mentions.before_snapshot(ctx)
    assert asked() == 1  # cached failure
    clock = ctx.clock
    ctx.clock = lambda: clock() + mentions.RETRY_MS  # type: ignore[misc]
    await mentions.before_snapshot(ctx)
    assert asked() == 2


async def test_handles_no_entry_names_any_more_are_forgotten(ctx: Context, peer: WebHost) -> None:
    await sites.create_site(ctx, "ada", "Ada", "journal")
    entry = await sites.add_entry(ctx, "ada", "note", {"text": f"hi @bob@127.0.0.1:{peer.port}"})
    await mentions.before_snapshot(ctx)
    assert list(await answers.read(ctx)) == [f"bob@127.0.0.1:{peer.port}"]
    await sites.delete_entry(ctx, "ada", "note", entry.id)
    await mentions.before_snapshot(ctx)
    assert await answers.read(ctx) == {}


def test_a_handle_is_asked_over_https_unless_private_fetches_are_allowed_on_loopback() -> None:
    assert mentions.webfinger_url("bob@social.example", True) == (
        "https://social.example/.well-known/webfinger?resource=acct:bob@social.example")
    assert mentions.webfinger_url("bob@127.0.0.1:8123", False).startswith("https://127.0.0.1")
    assert mentions.webfinger_url("bob@127.0.0.1:8123", True) == (
        "http://127.0.0.1:8123/.well-known/webfinger?resource=acct:bob@127.0.0.1:8123")




async def test_lookups_are_bounded_in_count_and_time(
        ctx: Context, peer: WebHost, monkeypatch: pytest.MonkeyPatch) -> None:
    await sites.create_site(ctx, "ada", "Ada", "journal")
    names = " ".join(f"@p{i}@127.0.0.1:{peer.port}" for i in range(mentions.MAX_LOOKUPS + 5))
    await sites.add_entry(ctx, "ada", "note", {"text": "hi " + names})
    await mentions.before_snapshot(ctx)
    assert len(peer.received(ap.WEBFINGER, "GET")) == mentions.MAX_LOOKUPS  # the rest next time

    release = threading.Event()
    peer.routes["/.well-known/webfinger"] = lambda hit: (release.wait(30), Answer(404))[1]
    monkeypatch.setattr(mentions, "BUDGET", 0.5)
    await sites.add_entry(ctx, "ada", "note", {"text": f"@slow@127.0.0.1:{peer.port}"})
    started = time.monotonic()
    try:
        await mentions.before_snapshot(ctx)
    finally:
        release.set()
    assert time.monotonic() - started < 5
    record = await answers.read(ctx)
    assert record[f"slow@127.0.0.1:{peer.port}"]["error"] == "no answer within 0.5 s"
