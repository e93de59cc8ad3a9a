"""The tenants' inboxes at the provider, and what the live-web protocols see of the provider
(``app.state.ports``, routes mounted on tenants' hosts), on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import types
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport.interop import hosting
from homeport.interop.ports import InboxFull, ProviderPorts
from homeport.provider.app import create_provider_app
from homeport.provider.db import SUSPENDED, ProviderDB
from homeport.provider.inbox import CONNECTED_MS, POLL_MAX_MS, ProviderInbox, drop

from .conftest import BASE, LiveApp, World


def ports(world: World) -> ProviderPorts:
    found: ProviderPorts = world.app.server.config.app.state.ports
    return found


def inbox(world: World) -> ProviderInbox:
    found = ports(world).inbox
    assert isinstance(found, ProviderInbox)
    return found


def test_put_is_durable_ordered_and_idempotent(world: World) -> None:
    world.enrolled("alice")
    box = inbox(world)
    assert box.put("alice", "test.note", {"source": "a"}, b"one", item_id="i1") == "i1"
    assert box.put("alice", "test.note", {}, b"two", item_id="i2") == "i2"
    # the same id again changes nothing (a client retrying its request)
    assert box.put("alice", "test.note", {"source": "other"}, b"changed", item_id="i1") == "i1"
    waiting = box.waiting("alice", 100, 1 << 20)
    assert [(w.id, w.body, w.meta) for w in waiting] == [
        ("i1", b"one", {"source": "a"}),
        ("i2", b"two", {}),
    ]
    assert box.usage("alice")[0] == 2
    # survives a restart of the provider: a new connection to the same database
    again = ProviderDB(world.settings.data_dir, world.settings.provider_database)
    try:
        reopened = ProviderInbox(again, 10, 1 << 20, lambda: 0)
        assert [w.id for w in reopened.waiting("alice", 100, 1 << 20)] == ["i1", "i2"]
    finally:
        again.close()


def test_results_are_kept_once_acknowledged(world: World) -> None:
    world.enrolled("alice")
    world.enrolled("bob")
    box = inbox(world)
    box.put("alice", "test.note", {}, b"x", item_id="i1")
    assert box.result("alice", "i1") is None
    # bob cannot acknowledge alice's item, even knowing its id
    assert box.ack("bob", {"i1": {"url": "forged"}}) == 0
    assert box.result("alice", "i1") is None
    assert box.ack("alice", {"i1": {"url": "https://alice/notes/1/"}}) == 1
    assert box.result("alice", "i1") == {"url": "https://alice/notes/1/"}
    # a second ack (a replay, a redelivery) changes nothing
    assert box.ack("alice", {"i1": {"url": "other"}}) == 0
    assert box.result("alice", "i1") == {"url": "https://alice/notes/1/"}
    assert box.waiting("alice", 10, 1 << 20) == []
    # acknowledged, it no longer counts; putting its id again does not queue it again
    assert box.usage("alice") == (0, 0)
    box.put("alice", "test.note", {}, b"x", item_id="i1")
    assert box.waiting("alice", 10, 1 << 20) == []


def test_a_full_inbox_refuses_for_that_tenant_only(world: World) -> None:
    world.enrolled("alice")
    world.enrolled("bob")
    box = ProviderInbox(world.db, max_items=3, max_bytes=1000, clock=lambda: 1)
    for i in range(3):
        box.put("alice", "test.note", {}, b"x", item_id=f"a{i}")
    with pytest.raises(InboxFull):
        box.put("alice", "test.note", {}, b"x", item_id="a3")
    box.put("bob", "test.note", {}, b"x", item_id="b0")  # bob's inbox is his own
    # an id already queued is still answered (idempotent), not refused
    assert box.put("alice", "test.note", {}, b"x", item_id="a0") == "a0"
    box.ack("alice", {"a0": {}})
    box.put("alice", "test.note", {}, b"x", item_id="a3")  # room again
    with pytest.raises(InboxFull):  # bytes count too
        box.put("bob", "test.note", {}, b"y" * 1000, item_id="b1")
    assert [w.id for w in box.waiting("alice", 10, 1 << 20)] == ["a1", "a2", "a3"]


def test_connected_follows_the_polls_and_forgets_a_dead_one(world: World) -> None:
    """A poll that waits counts as connected until it ends, then for ``CONNECTED_MS``; one
    whose end was never written (the provider was killed) stops counting after
    ``POLL_MAX_MS``. Another worker (its own connection) sees the same."""
    world.enrolled("alice")
    world.enrolled("bob")
    now = [1_000_000]
    box = ProviderInbox(world.db, 10, 1000, clock=lambda: now[0])
    other = ProviderDB(world.settings.data_dir, world.settings.provider_database)
    try:
        elsewhere = ProviderInbox(other, 10, 1000, clock=lambda: now[0])
        assert not box.connected("alice")  # never polled
        box.poll_waits("alice")
        now[0] += POLL_MAX_MS - 1
        assert box.connected("alice") and elsewhere.connected("alice")
        assert not box.connected("bob")
        now[0] += 2  # still "waiting" past any poll's length: its provider died
        assert not elsewhere.connected("alice")
        box.poll_ended("alice")
        now[0] += CONNECTED_MS - 1
        assert elsewhere.connected("alice")  # between two polls
        now[0] += 2
        assert not elsewhere.connected("alice")
        box.poll_waits("alice")
        assert elsewhere.connected("alice")
        drop(world.db, "alice")  # a tenant that leaves takes its record with it
        assert not elsewhere.connected("alice")
    finally:
        other.close()


def test_waiting_is_bounded_in_count_and_bytes(world: World) -> None:
    world.enrolled("alice")
    box = inbox(world)
    for i in range(5):
        box.put("alice", "test.note", {}, bytes(100), item_id=f"i{i}")
    assert [w.id for w in box.waiting("alice", 2, 1 << 20)] == ["i0", "i1"]
    assert [w.id for w in box.waiting("alice", 10, 250)] == ["i0", "i1"]
    assert [w.id for w in box.waiting("alice", 10, 1)] == ["i0"]  # at least one


def test_sites_port(world: World, alice: Any) -> None:
    sites = ports(world).sites
    found = sites.tenant_for_host(f"alice.{BASE}:8443")
    assert found is not None
    assert (found.name, found.did, found.origin) == ("alice", alice.did, f"https://alice.{BASE}")
    assert sites.tenant_for_host(f"nobody.{BASE}") is None
    assert sites.tenant_for_host("example.org") is None
    for path in ("/", "/posts/hello/", "/posts/hello", "/index.html", "/photo.jpg"):
        assert sites.live_path("alice", path), path
    for path in ("/nope/", "/posts/", "/posts/hello/../../x", "/404"):
        assert not sites.live_path("alice", path), path
    world.db.set_state("alice", SUSPENDED)
    world.app.server.config.app.site.hosts._items.clear()
    assert sites.tenant_for_host(f"alice.{BASE}") is None


def test_grants_refuse_until_delegations_land(world: World) -> None:
    world.enrolled("alice")
    grants = ports(world).grants
    assert grants.token("alice", "anything") is None
    assert grants.delegation("alice", "indieauth") is None


async def _queue(request: Request) -> Response:
    """A protocol endpoint as a module would write one: tenant by Host, item into the inbox."""
    tenant = await hosting.tenant_of(request)
    if tenant is None:
        return JSONResponse({"error": "not-found"}, 404)
    body = await request.body()
    item = hosting.ports_of(request).inbox.put(
        tenant.name, "test.note", {"origin": tenant.origin}, body, item_id=body.decode()
    )
    return JSONResponse({"item": item, "tenant": tenant.name}, 202)


FAKE = types.ModuleType("fake_protocol")
FAKE.provider_routes = lambda: [Route("/fake", _queue, methods=["POST"])]  # type: ignore[attr-defined]
FAKE.home_handlers = lambda: {}  # type: ignore[attr-defined]


def test_protocol_routes_are_mounted_on_tenant_hosts(world: World) -> None:
    world.enrolled("alice")
    world.enrolled("bob")
    settings = dataclasses.replace(world.settings, inbox_max_items=2)
    app = create_provider_app(settings, db=world.db, protocols=(FAKE,))
    with LiveApp(app) as live, httpx.Client(base_url=live.url, timeout=10) as client:

        def post(host: str, body: str) -> httpx.Response:
            return client.post("/_homeport/fake", content=body, headers={"Host": host})

        answer = post(f"alice.{BASE}", "a1")
        assert answer.status_code == 202, answer.text
        assert answer.json() == {"item": "a1", "tenant": "alice"}
        assert post(f"alice.{BASE}", "a2").status_code == 202
        full = post(f"alice.{BASE}", "a3")
        assert full.status_code == 507
        assert full.json()["error"] == "inbox-full"
        assert post(f"bob.{BASE}", "b1").status_code == 202  # only alice is full
        assert post(f"nobody.{BASE}", "x").status_code == 404
        other = client.get("/_homeport/nothing-here", headers={"Host": f"alice.{BASE}"})
        assert other.status_code == 404
        assert other.json()["error"] == "not-found"
        # the sync protocol is still where it was
        assert client.get("/_homeport/v1/").json()["homeport"] == "provider"
    box = inbox(world)
    assert [w.id for w in box.waiting("alice", 10, 1 << 20)] == ["a1", "a2"]
    assert box.waiting("alice", 10, 1 << 20)[0].meta == {"origin": f"https://alice.{BASE}"}


def test_a_tenant_that_leaves_takes_its_inbox_with_it(world: World) -> None:
    home = world.enrolled("alice")
    world.enrolled("bob")
    box = inbox(world)
    box.put("alice", "test.note", {}, b"private to alice", item_id="a1")
    box.put("bob", "test.note", {}, b"bob's", item_id="b1")
    assert home.request(world.client, "DELETE", "/tenant").status_code == 200
    assert box.usage("alice") == (0, 0)
    assert box.waiting("alice", 10, 1 << 20) == []
    assert [w.id for w in box.waiting("bob", 10, 1 << 20)] == ["b1"]
