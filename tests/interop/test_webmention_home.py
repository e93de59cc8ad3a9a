"""The home's side of webmentions: the inbox handler (idempotent, pending by default,
auto-approve and trusted domains, blocked domains dropped, updates and removals), moderation,
permissions (only approved ones public), and rendering on the entry (mf2py reads replies as
h-cite in u-comment, likes and reposts as h-cards) — on SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
import mf2py
import pytest

from homeport import jsonio
from homeport.content import mentions, sites
from homeport.content.errors import ContentError
from homeport.core.errors import HomeportError
from homeport.interop.ports import InboxItem
from homeport.interop.webmention import home_handlers
from homeport.interop.webmention.home import apply
from homeport.render.build import build_site
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store

pytestmark = pytest.mark.anyio
BASE = "https://ada.example.org/"
TARGET = BASE + "notes/hello-world/"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Home:
    def __init__(self, ctx: Context, note: sites.Entry) -> None:
        self.ctx = ctx
        self.note = note
        self.n = 0

    def item(self, payload: dict[str, Any], item_id: str | None = None) -> InboxItem:
        self.n += 1
        return InboxItem(item_id or f"webmention-{self.n}", "webmention.received",
                         {"action": payload.get("action", "upsert")},
                         jsonio.dumps(payload), 0)

    async def apply(self, payload: dict[str, Any], item_id: str | None = None) -> dict[str, str]:
        return await apply(self.ctx, self.item(payload, item_id))

    async def build(self) -> dict[str, Any]:
        out = self.ctx.settings.data_dir / "out"
        await build_site(self.ctx, "ada", out, BASE, workers=0)
        html = (out / "notes/hello-world/index.html").read_text()
        return dict(mf2py.parse(doc=html, url=TARGET))


def reply(source: str = "https://bob.example/r/1", **extra: Any) -> dict[str, Any]:
    return {
        "action": "upsert", "source": source, "target": TARGET, "type": "reply",
        "url": source,
        "author": {"name": "Bob", "url": "https://bob.example/",
                   "photo": "https://bob.example/bob.jpg"},
        "name": "",
        "content": {"html": 'Nice <b>post</b><script>alert(1)</script><img src="https://t.example/p.gif">'
                            '<a href="javascript:alert(2)">x</a>',
                    "text": "Nice post"},
        "published": "2026-02-03T04:05:06Z", "verified": "2026-02-03T05:00:00Z", **extra,
    }


@pytest.fixture
async def home(store_url: str, tmp_path: Path) -> AsyncIterator[Home]:
    settings = Settings(data_dir=tmp_path / "data", storage_url=store_url)
    store = open_record_store(store_url)
    await store.initialize()
    ctx = Context(settings, store, FsBlobStore(tmp_path / "blobs"))
    await sites.create_site(ctx, "ada", "Ada", settings={"author": "Ada"})
    note = await sites.add_entry(ctx, "ada", "note", {"text": "Hello world",
                                                      "published": "2026-01-01T00:00:00Z"})
    yield Home(ctx, note)
    await store.close()


def entry_of(doc: dict[str, Any]) -> dict[str, Any]:
    return next(i for i in doc["items"] if "h-entry" in i["type"])


async def test_a_received_reply_is_pending_and_not_public(home: Home) -> None:
    result = await home.apply(reply())
    assert result == {"id": mentions.mention_id("https://bob.example/r/1", TARGET),
                      "status": "pending"}
    [found] = await mentions.list_mentions(home.ctx)
    assert found["status"] == "pending" and found["entry"] == home.note.id
    assert found["type"] == "reply" and found["author"]["name"] == "Bob"
    uri = f"/buckets/ada/collections/mentions/records/{found['id']}"
    assert "read" not in await home.ctx.store.get_permissions(uri)
    assert "comment" not in entry_of(await home.build())["properties"]


async def test_the_same_item_twice_changes_nothing(home: Home) -> None:
    first = await home.apply(reply(), "webmention-x")
    [before] = await mentions.list_mentions(home.ctx)
    again = await home.apply(reply(), "webmention-x")
    [after] = await mentions.list_mentions(home.ctx)
    assert first == again
    assert before["last_modified"] == after["last_modified"]


async def test_an_approved_reply_renders_as_an_h_cite_in_u_comment(home: Home) -> None:
    rid = (await home.apply(reply()))["id"]
    await home.build()
    await mentions.set_status(home.ctx, rid, "approved")
    uri = f"/buckets/ada/collections/mentions/records/{rid}"
    assert "system.Everyone" in (await home.ctx.store.get_permissions(uri))["read"]
    props = entry_of(await home.build())["properties"]  # incremental: the page is re-rendered
    [comment] = props["comment"]
    assert comment["type"] == ["h-cite"]
    cite = comment["properties"]
    assert cite["author"][0]["properties"]["name"] == ["Bob"]
    assert cite["author"][0]["properties"]["url"] == ["https://bob.example/"]
    assert cite["author"][0]["properties"]["photo"][0]["value"] == "https://bob.example/bob.jpg"
    assert cite["url"] == ["https://bob.example/r/1"]
    assert cite["published"] == ["2026-02-03T04:05:06Z"]
    html = cite["content"][0]["html"]
    assert "<b>post</b>" in html
    assert "script" not in html and "alert" not in html and "<img" not in html


async def test_likes_and_reposts_render_as_facepiles_of_h_cards(home: Home) -> None:
    for n, kind in enumerate(["like", "like", "repost", "mention"]):
        payload = reply(f"https://p{n}.example/x", type=kind,
                        author={"name": f"P{n}", "url": f"https://p{n}.example/",
                                "photo": f"https://p{n}.example/me.jpg"})
        rid = (await home.apply(payload))["id"]
        await mentions.set_status(home.ctx, rid, "approved")
    props = entry_of(await home.build())["properties"]
    likes = props["like"]
    assert [c["type"] for c in likes] == [["h-card"], ["h-card"]]
    assert sorted(c["properties"]["url"][0] for c in likes) == ["https://p0.example/",
                                                                "https://p1.example/"]
    assert likes[0]["properties"]["photo"][0]["value"].endswith("/me.jpg")
    assert likes[0]["properties"]["name"] == ["P0"]
    [repost] = props["repost"]
    assert repost["properties"]["url"] == ["https://p2.example/"]
    [mention] = props["mention"]
    assert mention["type"] == ["h-cite"]
    assert "comment" not in props


async def test_a_rejected_mention_is_not_shown_and_stays_rejected(home: Home) -> None:
    rid = (await home.apply(reply()))["id"]
    await mentions.set_status(home.ctx, rid, "approved")
    await mentions.set_status(home.ctx, rid, "rejected")
    assert "comment" not in entry_of(await home.build())["properties"]
    changed = reply(content={"html": "", "text": "edited"}, verified="2026-03-01T00:00:00Z")
    assert (await home.apply(changed))["status"] == "rejected"


async def test_an_approved_mention_that_changes_waits_for_approval_again(home: Home) -> None:
    rid = (await home.apply(reply()))["id"]
    await mentions.set_status(home.ctx, rid, "approved")
    changed = reply(content={"html": "spam", "text": "spam"}, verified="2026-03-01T00:00:00Z")
    assert (await home.apply(changed))["status"] == "pending"
    assert "comment" not in entry_of(await home.build())["properties"]


async def test_an_approved_mention_sent_again_unchanged_stays_approved(home: Home) -> None:
    rid = (await home.apply(reply()))["id"]
    await mentions.set_status(home.ctx, rid, "approved")
    again = reply(verified="2026-03-01T00:00:00Z", published="")
    assert (await home.apply(again))["status"] == "approved"
    assert "comment" in entry_of(await home.build())["properties"]


async def test_an_older_item_does_not_override_a_newer_one(home: Home) -> None:
    await home.apply(reply(content={"html": "", "text": "new"}, verified="2026-03-01T00:00:00Z"))
    await home.apply(reply(content={"html": "", "text": "old"}, verified="2026-02-01T00:00:00Z"))
    [found] = await mentions.list_mentions(home.ctx)
    assert found["content"]["text"] == "new"


async def test_a_removal_deletes_the_mention_and_unpublishes_it(home: Home) -> None:
    rid = (await home.apply(reply()))["id"]
    await mentions.set_status(home.ctx, rid, "approved")
    assert "comment" in entry_of(await home.build())["properties"]
    gone = {"action": "delete", "source": "https://bob.example/r/1", "target": TARGET,
            "verified": "2026-04-01T00:00:00Z"}
    assert await home.apply(gone) == {"id": rid, "status": "removed"}
    assert await mentions.list_mentions(home.ctx) == []
    assert "comment" not in entry_of(await home.build())["properties"]
    assert (await home.apply(gone))["status"] == "dropped"


async def test_auto_approve_and_trusted_domains(home: Home) -> None:
    home.ctx.settings = replace(home.ctx.settings, mentions_auto_approve=True,
                                mentions_trusted_domains=("friends.example",))
    trusted = await home.apply(reply("https://blog.friends.example/a"))
    stranger = await home.apply(reply("https://stranger.example/a"))
    assert trusted["status"] == "approved" and stranger["status"] == "pending"
    home.ctx.settings = replace(home.ctx.settings, mentions_trusted_domains=())
    assert (await home.apply(reply("https://anyone.example/a")))["status"] == "approved"


async def test_a_blocked_domain_is_rejected_and_then_dropped(home: Home) -> None:
    rid = (await home.apply(reply("https://spam.example/1")))["id"]
    await mentions.set_status(home.ctx, rid, "approved")
    assert await mentions.block_domain(home.ctx, "SPAM.example") == 1
    [found] = await mentions.list_mentions(home.ctx)
    assert found["status"] == "rejected"
    assert (await home.apply(reply("https://www.spam.example/2")))["status"] == "dropped"
    assert len(await mentions.list_mentions(home.ctx)) == 1
    with pytest.raises(ContentError):
        await mentions.block_domain(home.ctx, "not a domain/")


async def test_a_mention_of_no_entry_is_dropped(home: Home) -> None:
    payload = reply(target=BASE + "notes/no-such-note/")
    assert (await home.apply(payload))["status"] == "dropped"
    assert await mentions.list_mentions(home.ctx) == []


async def test_a_broken_item_is_rejected_for_good(home: Home) -> None:
    item = InboxItem("webmention-bad", "webmention.received", {}, b"{not json", 0)
    with pytest.raises(HomeportError):
        await apply(home.ctx, item)
    with pytest.raises(ContentError):
        await mentions.set_status(home.ctx, "wm-none", "approved")


async def test_the_handler_runs_from_a_worker_thread(home: Home) -> None:
    handler = home_handlers()["webmention.received"]
    result = await anyio.to_thread.run_sync(handler, home.ctx, home.item(reply()))
    assert result["status"] == "pending"
