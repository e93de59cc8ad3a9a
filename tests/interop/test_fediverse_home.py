"""The home's side of ActivityPub: what the provider relays (``activitypub.*`` items) becomes
followers (kept privately, accepted or pending) and responses moderated like webmentions
(replies, likes, boosts: pending, shown under the entry once approved, with their HTML
cleaned); undo, delete, block and move take them back; every item is idempotent (SQLite and
PostgreSQL stores)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import mf2py
import pytest

from homeport import jsonio
from homeport.content import followers, mentions, sites
from homeport.core.errors import HomeportError
from homeport.interop.activitypub import home as fediverse
from homeport.interop.ports import InboxItem
from homeport.interop.registry import home_handlers
from homeport.render.build import build_site
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store

pytestmark = pytest.mark.anyio
BASE = "https://ada.example.org/"
ACTOR = BASE + "activitypub/actor"
TARGET = BASE + "notes/hello-world/"
BOB = "https://social.example/users/bob"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Home:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def send(self, activity: dict[str, Any], **meta: Any) -> dict[str, str]:
        kind = "activitypub." + str(activity["type"]).lower()
        item = InboxItem("ap-" + str(activity.get("id")), kind,
                         {"type": activity["type"], "actor": BOB, **meta},
                         jsonio.dumps(activity), 1_800_000_000_000)
        return await fediverse.APPLY[kind.removeprefix("activitypub.")](self.ctx, item)

    async def build(self) -> dict[str, Any]:
        out = self.ctx.settings.data_dir / "out"
        await build_site(self.ctx, "ada", out, BASE, workers=0)
        html = (out / "notes/hello-world/index.html").read_text()
        doc = mf2py.parse(doc=html, url=TARGET)
        return dict(next(i for i in doc["items"] if "h-entry" in i["type"]))


@pytest.fixture
async def home(store_url: str, tmp_path: Path) -> AsyncIterator[Home]:
    store = open_record_store(store_url)
    await store.initialize()
    ctx = Context(Settings(data_dir=tmp_path / "data", storage_url=store_url), store,
                  FsBlobStore(tmp_path / "blobs"))
    await sites.create_site(ctx, "ada", "Ada", settings={"author": "Ada"})
    await sites.add_entry(ctx, "ada", "note", {"text": "Hello world", "slug": "hello-world",
                                               "published": "2026-01-01T00:00:00Z"})
    yield Home(ctx)
    await store.close()


def follow(n: int = 1) -> dict[str, Any]:
    return {"id": f"https://social.example/follows/{n}", "type": "Follow", "actor": BOB,
            "object": ACTOR}


def reply(content: str = "<p>Lovely <script>alert(1)</script><b>post</b></p>") -> dict[str, Any]:
    note = {"id": "https://social.example/users/bob/statuses/9", "type": "Note",
            "attributedTo": BOB, "inReplyTo": TARGET, "content": content,
            "url": "https://social.example/@bob/9", "published": "2026-02-01T10:00:00Z"}
    return {"id": note["id"] + "/activity", "type": "Create", "actor": BOB, "object": note}


async def test_a_follow_is_kept_privately_with_the_state_the_provider_gave(home: Home) -> None:
    result = await home.send(follow(), state="pending", inbox="https://social.example/users/bob/inbox",
                             shared_inbox="https://social.example/inbox")
    assert result == {"id": followers.follower_id(BOB), "status": "pending"}
    assert await home.send(follow(), state="pending") == result  # redelivered: the same
    [kept] = await followers.list_followers(home.ctx, "ada")
    assert kept["actor"] == BOB and kept["handle"] == "@bob@social.example"
    assert kept["inbox"] == "https://social.example/users/bob/inbox"
    assert kept["follow_id"] == "https://social.example/follows/1"
    uri = f"/buckets/ada/collections/followers/records/{kept['id']}"
    assert "read" not in await home.ctx.store.get_permissions(uri)
    await followers.set_state(home.ctx, "ada", BOB, "accepted")
    assert (await home.send(follow(2), state="pending"))["status"] == "accepted"
    undo = {"id": "https://social.example/undo/1", "type": "Undo", "actor": BOB,
            "object": follow(2)}
    assert await home.send(undo) == {"status": "removed"}
    assert await followers.list_followers(home.ctx, "ada") == []


async def test_a_reply_waits_for_approval_then_shows_cleaned_under_the_entry(home: Home) -> None:
    result = await home.send(reply())
    assert result["status"] == "pending"
    assert "comment" not in (await home.build())["properties"]
    [found] = await mentions.list_mentions(home.ctx)
    assert found["type"] == "reply" and found["author"]["url"] == BOB
    await mentions.set_status(home.ctx, str(found["id"]), mentions.APPROVED)
    [comment] = (await home.build())["properties"]["comment"]
    html = comment["properties"]["content"][0]["html"]
    assert "<b>post</b>" in html and "script" not in html
    assert comment["properties"]["url"] == ["https://social.example/@bob/9"]
    delete = {"id": "https://social.example/d/1", "type": "Delete", "actor": BOB,
              "object": {"id": reply()["object"]["id"], "type": "Tombstone"}}
    assert await home.send(delete) == {"status": "removed"}
    assert await mentions.list_mentions(home.ctx) == []


async def test_likes_and_boosts_are_responses_and_undo_takes_them_back(home: Home) -> None:
    like = {"id": "https://social.example/users/bob#likes/1", "type": "Like", "actor": BOB,
            "object": TARGET}
    boost = {"id": "https://social.example/users/bob/statuses/10/activity",
             "type": "Announce", "actor": BOB, "object": TARGET}
    assert (await home.send(like))["status"] == "pending"
    assert (await home.send(boost))["status"] == "pending"
    kinds = sorted(str(m["type"]) for m in await mentions.list_mentions(home.ctx))
    assert kinds == ["like", "repost"]
    for record in await mentions.list_mentions(home.ctx):
        await mentions.set_status(home.ctx, str(record["id"]), mentions.APPROVED)
    props = (await home.build())["properties"]
    assert props["like"][0]["properties"]["url"] == [BOB]
    assert props["repost"][0]["properties"]["url"] == [BOB]
    undo = {"id": "https://social.example/undo/2", "type": "Undo", "actor": BOB, "object": like}
    assert await home.send(undo) == {"status": "removed"}
    assert [m["type"] for m in await mentions.list_mentions(home.ctx)] == ["repost"]


async def test_what_is_not_ours_or_not_theirs_is_dropped(home: Home) -> None:
    elsewhere = {**reply(), "object": {**reply()["object"],
                                       "inReplyTo": "https://other.example/post/1"}}
    assert (await home.send(elsewhere))["status"] == "dropped"
    forged = {**reply(), "object": {**reply()["object"],
                                    "attributedTo": "https://social.example/users/eve"}}
    assert (await home.send(forged))["status"] == "dropped"
    not_an_object = {"id": "https://social.example/x", "type": "Create", "actor": BOB,
                     "object": "https://social.example/x/1"}
    assert (await home.send(not_an_object))["status"] == "dropped"
    assert await mentions.list_mentions(home.ctx) == []


async def test_a_blocked_actor_follows_and_replies_no_more(home: Home) -> None:
    await home.send(follow(), state="accepted")
    await followers.block(home.ctx, "ada", "social.example")
    assert await followers.list_followers(home.ctx, "ada") == []
    assert (await home.send(follow(3), state="accepted"))["status"] == "dropped"
    assert (await home.send(reply()))["status"] == "dropped"
    assert await followers.blocked(home.ctx, "ada") == ["social.example"]


async def test_a_follower_who_moves_is_followed_by_the_new_account(home: Home) -> None:
    await home.send(follow(), state="accepted")
    new = "https://other.example/users/robert"
    move = {"id": "https://social.example/move/1", "type": "Move", "actor": BOB,
            "object": BOB, "target": new}
    ignored = {**move, "id": "https://social.example/move/0", "target": BOB + "2"}
    # the provider ignored this one (a Move within its 7-day cooldown): the home keeps bob
    assert await home.send(ignored, moved=False) == {"status": "dropped"}
    [kept] = await followers.list_followers(home.ctx, "ada")
    assert kept["actor"] == BOB
    assert await home.send(move, moved=True, target=new) == {"status": "moved"}
    [kept] = await followers.list_followers(home.ctx, "ada")
    assert kept["actor"] == new and kept["state"] == "accepted"
    block = {"id": "https://other.example/b/1", "type": "Block", "actor": new, "object": ACTOR}
    item = InboxItem("ap-b", "activitypub.block", {"actor": new}, jsonio.dumps(block), 0)
    assert await fediverse.block(home.ctx, item) == {"status": "removed"}
    assert await followers.list_followers(home.ctx, "ada") == []


async def test_malformed_items_are_rejected_for_good(home: Home) -> None:
    handler = home_handlers()["activitypub.like"]
    for body in (b"not json", b"[1, 2]"):
        item = InboxItem("ap-bad", "activitypub.like", {}, body, 0)
        with pytest.raises(HomeportError):
            await anyio.to_thread.run_sync(handler, home.ctx, item)
    assert await mentions.list_mentions(home.ctx) == []
