"""The newsletter at home: choosing the provider that sends (its delegation, the archive not
sent), the mails of entries published since (public ones to every subscribed member,
members-only ones to those they are for), each entry once, and unsubscribes applied.
SQLite and PostgreSQL stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from homeport.content import sites
from homeport.interop import newsletter_home
from homeport.interop.newsletter import SEND_POWER, UNSUBSCRIBE_KIND, email_hash
from homeport.interop.ports import InboxItem
from homeport.interop.registry import home_handlers
from homeport.members import store
from homeport.members.model import MemberFields
from homeport.services import grants, identity
from homeport.services.context import Context
from homeport.settings import Settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store

pytestmark = pytest.mark.anyio
PROVIDERS = [{"url": "https://p1.example", "site": "https://ada.p1.example"},
             {"url": "https://p2.example", "site": "https://ada.p2.example"}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def ctx(store_url: str, tmp_path: Path) -> AsyncIterator[Context]:
    settings = Settings(data_dir=tmp_path / "data", storage_url=store_url)
    identity.create(settings.data_dir)
    db = open_record_store(store_url)
    await db.initialize()
    context = Context(settings, db, FsBlobStore(tmp_path / "blobs"))
    await sites.create_site(context, "ada", "Ada")
    await sites.add_entry(context, "ada", "article", {"title": "Old news", "body": "x"})
    await store.add_tier(context, "Gold", price="5", currency="EUR", interval="month")
    await store.add_member(context, "free@example.com", MemberFields())
    await store.add_member(context, "gold@example.com", MemberFields(tier="gold",
                                                                     status="comped"))
    await store.add_member(context, "quiet@example.com", MemberFields(subscribed=False))
    yield context
    await db.close()


class Outbox:
    def __init__(self) -> None:
        self.batches: list[tuple[str, dict[str, Any]]] = []
        self.answer: dict[str, Any] = {}

    def __call__(self, url: str, batch: dict[str, Any]) -> Mapping[str, Any]:
        self.batches.append((url, batch))
        return {"queued": len(batch["to"]), "suppressed": [], **self.answer}

    def to(self, subject: str) -> list[str]:
        return sorted(to for _, batch in self.batches for to in batch["to"]
                      if batch["subject"] == subject)


async def test_new_entries_go_to_the_members_they_are_for(ctx: Context) -> None:
    outbox = Outbox()
    assert (await newsletter_home.send_new(ctx, PROVIDERS, outbox))["queued"] == 0  # not set
    await newsletter_home.choose(ctx, "https://p2.example")
    active = [g for g in await grants.list_grants(ctx) if g["power"] == SEND_POWER]
    assert [g["audience"] for g in active] == ["https://p2.example"]
    assert (await newsletter_home.send_new(ctx, PROVIDERS, outbox))["queued"] == 0  # archive
    await sites.add_entry(ctx, "ada", "article", {"title": "For all",
                                                  "body": "Hello *all*\n\n<script>x()</script>"})
    await sites.add_entry(ctx, "ada", "article", {"title": "For gold", "body": "Secret",
                                                  "visibility": "gold"})
    await sites.add_entry(ctx, "ada", "article", {"title": "Mine", "body": "private",
                                                  "visibility": "private"})
    await sites.add_entry(ctx, "ada", "article", {"title": "Draft", "body": "d", "draft": True})
    done = await newsletter_home.send_new(ctx, PROVIDERS, outbox)
    assert done == {"queued": 3, "entries": 2, "stopped": 0}
    assert {url for url, _ in outbox.batches} == {"https://p2.example"}
    assert outbox.to("For all") == ["free@example.com", "gold@example.com"]
    assert outbox.to("For gold") == ["gold@example.com"]
    mail = next(b for _, b in outbox.batches if b["subject"] == "For all")
    assert "Hello *all*" in mail["text"] and "https://ada.p2.example/articles/" in mail["text"]
    # the HTML part is the theme's email.html around the body rendered as on the page
    html = mail["html"]
    assert html.startswith("<!doctype html>") and "<p>Hello <em>all</em></p>" in html
    assert "<h1" in html and "For all" in html and "<script" not in html
    assert 'href="https://ada.p2.example/articles/' in html and ">Ada</a>" in html
    # each entry once
    assert (await newsletter_home.send_new(ctx, PROVIDERS, outbox))["queued"] == 0


async def test_unsubscribes_reach_the_member(ctx: Context) -> None:
    handler = home_handlers()[UNSUBSCRIBE_KIND]
    item = InboxItem("unsubscribe-1", UNSUBSCRIBE_KIND,
                     {"email_hash": email_hash("Free@Example.com"), "reason": "unsubscribed"},
                     b"", 0)
    assert await _in_thread(handler, ctx, item) == {"stopped": True, "reason": "unsubscribed"}
    member = await store.find_member(ctx, "free@example.com")
    assert member is not None and member["subscribed"] is False
    # an address the provider has suppressed, named in its answer, stops the member too
    await newsletter_home.choose(ctx, "https://p1.example")
    await sites.add_entry(ctx, "ada", "note", {"text": "A note"})
    outbox = Outbox()
    outbox.answer = {"suppressed": [email_hash("gold@example.com")]}
    assert (await newsletter_home.send_new(ctx, PROVIDERS, outbox))["stopped"] == 1
    gold = await store.find_member(ctx, "gold@example.com")
    assert gold is not None and gold["subscribed"] is False


async def _in_thread(handler: Any, ctx: Context, item: InboxItem) -> Any:
    import anyio.to_thread

    return await anyio.to_thread.run_sync(handler, ctx, item)
