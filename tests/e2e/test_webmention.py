"""A reply from another (loopback) site, end to end: a home publishes a note to a real
``homeport provider serve``; a page on a source site replies to it and sends a webmention to
the provider's endpoint on the tenant's host; the provider verifies it; the home applies the
item (pending), the owner approves it with ``homeport mentions approve``, and after
``homeport publish`` the note's page at the provider shows it as a reply (mf2py).

The inbox relay between the provider and the home is ``e-relay``'s part: here the endpoint
runs over the provider's real database and site (live pages asked from the running provider)
with an in-memory inbox, and the test hands the queued item to the home's handler itself."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import mf2py
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from homeport.interop.ports import InboxItem, ProviderPorts, TenantRef
from homeport.interop.webmention import Limits, home_handlers, provider_routes
from homeport.provider.db import ProviderDB
from homeport.provider.mentions import ProviderMentions
from homeport.provider.receive import now_ms
from homeport.services.context import Context
from homeport.settings import load_settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store
from homeport.testing.webmention import MemoryInbox, SourceServer, ThreadedApp

from .provider_support import BASE, Provider
from .test_providers import homeport

HOST = f"alice.{BASE}"
NOTE = f"http://{HOST}/notes/hello-world/"


@dataclass
class ProviderSites:
    """``ports.Sites`` answered by the running provider: a path is live if it serves it."""

    provider: Provider

    def tenant_for_host(self, host: str) -> TenantRef | None:
        if host != HOST:
            return None
        return TenantRef("alice", "did:key:alice", f"http://{HOST}")

    def live_path(self, tenant: str, path: str) -> bool:
        return self.provider.page(tenant, path).status_code == 200


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    started = Provider(tmp_path / "provider", tmp_path / "provider.log").start()
    try:
        yield started
    finally:
        started.stop()


def apply_at_home(home: Path, item: Any) -> dict[str, Any]:
    """What the relay does at the home: the kind's handler, in a worker thread."""

    async def run() -> dict[str, Any]:
        settings = load_settings(home)
        store = open_record_store(settings.record_store_url)
        await store.initialize()
        ctx = Context(settings, store, FsBlobStore(settings.blobs_dir))
        try:
            given = InboxItem(item.id, item.kind, item.meta, item.body, 0)
            handler = home_handlers()[item.kind]
            return dict(await anyio.to_thread.run_sync(handler, ctx, given))
        finally:
            await store.close()

    return asyncio.run(run())


def comments(provider: Provider) -> list[dict[str, Any]]:
    page = provider.page("alice", "/notes/hello-world/")
    assert page.status_code == 200
    doc = mf2py.parse(doc=page.text, url=NOTE)
    entry = next(i for i in doc["items"] if "h-entry" in i["type"])
    return list(entry["properties"].get("comment", []))


def test_a_reply_from_another_site_shows_on_the_entry_once_approved(
    tmp_path: Path, provider: Provider
) -> None:
    home = tmp_path / "home"
    homeport("init", "--json", data=home)
    homeport("add", "note", "Hello world", data=home)
    homeport("providers", "add", provider.url, provider.invite(), "--name", "alice", data=home)
    assert all(row["ok"] for row in json.loads(homeport("publish", "--json", data=home)))
    assert comments(provider) == []

    db = ProviderDB(tmp_path / "provider")  # the running provider's own database
    inbox = MemoryInbox()
    app = Starlette(routes=[Mount("/_homeport", routes=provider_routes(
        Limits(timeout=2.0, total=5.0, sweep=0.2)))])
    app.state.ports = ProviderPorts(inbox=inbox, grants=None,  # type: ignore[arg-type]
                                    sites=ProviderSites(provider), clock=now_ms,
                                    fetch_allow_private=True,
                                    mentions=ProviderMentions(db, 30))
    with SourceServer() as source, ThreadedApp(app) as endpoint:
        reply = source.page("/replies/1", (
            '<article class="h-entry"><span class="p-author h-card">'
            '<a class="u-url p-name" href="/">Bob Bobson</a></span>'
            f'<p>In reply to <a class="u-in-reply-to" href="{NOTE}">Alice</a></p>'
            '<div class="e-content">Welcome to the <em>IndieWeb</em>!</div></article>'))
        client = httpx.Client(base_url=endpoint.url, headers={"Host": HOST}, timeout=10)
        missing = client.post("/_homeport/webmention",
                              data={"source": reply, "target": f"http://{HOST}/notes/nope/"})
        assert missing.status_code == 400 and "not a page" in missing.json()["message"]
        sent = client.post("/_homeport/webmention", data={"source": reply, "target": NOTE})
        assert sent.status_code == 202, sent.text
        status_url = sent.json()["status_url"]
        assert status_url.startswith(f"http://{HOST}/_homeport/webmention/status/")
        deadline = time.monotonic() + 20
        while (status := client.get(urlsplit(status_url).path).json())["status"] in (
                "queued", "verifying"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.close()
    db.close()
    assert status["status"] == "accepted", status

    [item] = inbox.of("alice")
    applied = apply_at_home(home, item)
    assert applied["status"] == "pending"
    assert apply_at_home(home, item) == applied  # a redelivery changes nothing

    [listed] = json.loads(homeport("mentions", "list", "--json", data=home))
    assert {k: listed[k] for k in ("id", "source", "target", "type", "status")} == {
        "id": applied["id"], "source": reply, "target": NOTE, "type": "reply",
        "status": "pending"}
    homeport("publish", "--json", data=home)
    assert comments(provider) == []  # pending: not published

    assert "Approved" in homeport("mentions", "approve", applied["id"], data=home)
    homeport("publish", "--json", data=home)
    [comment] = comments(provider)
    assert comment["type"] == ["h-cite"]
    assert comment["properties"]["author"][0]["properties"]["name"] == ["Bob Bobson"]
    assert "<em>IndieWeb</em>" in comment["properties"]["content"][0]["html"]

    homeport("mentions", "reject", applied["id"], data=home)
    homeport("publish", "--json", data=home)
    assert comments(provider) == []
    [listed] = json.loads(homeport("mentions", "list", "--json", data=home))
    assert listed["status"] == "rejected"
    error = homeport("mentions", "approve", "wm-nope", data=home, check=False)
    assert "there is no mention 'wm-nope'" in error
