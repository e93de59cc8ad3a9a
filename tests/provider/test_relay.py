"""The inbox relay between a live provider (SQLite and PostgreSQL) and a home's relay driver
(``interop/relay.py``) over loopback HTTP: order, acks and their results, redelivery without
re-applying, rejects, retries, a week's backlog, wake-ups, and acks that are forged or replayed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from homeport.core.errors import HomeportError
from homeport.crypto.boxes import box_key
from homeport.interop.ports import InboxItem
from homeport.interop.relay import AppliedLog, ProviderRelay, Session
from homeport.provider.db import ProviderDB
from homeport.provider.inbox import CONNECTED_MS, ProviderInbox
from homeport.sync.client import Credentials

from .conftest import API, Home, LiveApp, World
from .test_inbox import inbox

WEEK_MS = 7 * 24 * 3600 * 1000


class Calls:
    """A handler that records what it was given (thread-safe), optionally failing."""

    def __init__(self, fail: Callable[[InboxItem], BaseException | None] | None = None) -> None:
        self.items: list[str] = []
        self.fail = fail
        self.lock = threading.Lock()
        self.times: dict[str, float] = {}

    def __call__(self, ctx: Any, item: InboxItem) -> dict[str, Any]:
        problem = self.fail(item) if self.fail else None
        with self.lock:
            self.items.append(item.id)
            self.times.setdefault(item.id, time.monotonic())
        if problem is not None:
            raise problem
        return {"applied": item.id, "body": item.body.decode()}


def relay_for(
    world: World,
    home: Home,
    calls: Calls,
    tmp: Path,
    http: httpx.AsyncClient,
    box: X25519PrivateKey | None = None,
) -> ProviderRelay:
    applied = AppliedLog(tmp)
    return ProviderRelay(
        world.client.base_url.__str__(),
        Credentials(home.did, home.key),
        {"test.note": calls},
        applied,
        types.SimpleNamespace(),
        http,
        Session(wait=2000, rng=lambda: 0.0),
        box=box,
    )


async def drain(relay: ProviderRelay, count: int, seconds: float = 30) -> None:
    """Run the relay until it applied ``count`` items (bounded in time)."""
    task = asyncio.create_task(relay.run())
    try:
        deadline = time.monotonic() + seconds
        while relay.count < count:
            assert time.monotonic() < deadline, f"only {relay.count} of {count} applied"
            assert not task.done(), task
            await asyncio.sleep(0.01)
        # and its last acks reach the provider (they ride on the next poll)
        while relay.session.acks:
            assert time.monotonic() < deadline, "the last acks were not taken"
            await asyncio.sleep(0.01)
    finally:
        task.cancel()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_items_arrive_in_order_and_results_reach_the_provider(world: World, tmp_path: Path) -> None:
    home = world.enrolled("alice")
    box = inbox(world)
    for i in range(5):
        box.put("alice", "test.note", {"n": i}, f"body {i}".encode(), item_id=f"i{i}")
    calls = Calls()

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            await drain(relay_for(world, home, calls, tmp_path, http), 5)

    run(go())
    assert calls.items == [f"i{i}" for i in range(5)]
    assert box.waiting("alice", 10, 1 << 20) == []
    assert box.result("alice", "i3") == {"applied": "i3", "body": "body 3"}


def test_a_redelivered_item_is_not_applied_again(world: World, tmp_path: Path) -> None:
    """The home applied it and was killed before its ack: the provider sends it again, the
    home acknowledges it with the result it recorded, and its handler is not called."""
    home = world.enrolled("alice")
    box = inbox(world)
    box.put("alice", "test.note", {}, b"one", item_id="i1")
    box.put("alice", "test.note", {}, b"two", item_id="i2")
    log = AppliedLog(tmp_path)
    log.record("i1", "test.note", {"applied": "i1", "body": "earlier"}, 1)
    log.close()
    calls = Calls()

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            await drain(relay_for(world, home, calls, tmp_path, http), 2)

    run(go())
    assert calls.items == ["i2"]
    assert box.result("alice", "i1") == {"applied": "i1", "body": "earlier"}
    assert box.waiting("alice", 10, 1 << 20) == []


def test_rejected_items_are_acknowledged_with_the_error(world: World, tmp_path: Path) -> None:
    home = world.enrolled("alice")
    box = inbox(world)
    box.put("alice", "test.note", {}, b"bad", item_id="bad")
    box.put("alice", "test.note", {}, b"good", item_id="good")

    def fail(item: InboxItem) -> BaseException | None:
        return HomeportError("not a note", code=400) if item.id == "bad" else None

    calls = Calls(fail)

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            await drain(relay_for(world, home, calls, tmp_path, http), 2)

    run(go())
    assert calls.items == ["bad", "good"]  # once each: a reject is final
    result = box.result("alice", "bad")
    assert result is not None and result["error"]["status"] == 400
    assert result["error"]["message"] == "not a note"


def test_a_failing_item_is_retried_and_holds_those_after_it(world: World, tmp_path: Path) -> None:
    home = world.enrolled("alice")
    box = inbox(world)
    for name in ("a", "b", "c"):
        box.put("alice", "test.note", {}, name.encode(), item_id=name)
    failures = {"b": 2}

    def fail(item: InboxItem) -> BaseException | None:
        if failures.get(item.id, 0) > 0:
            failures[item.id] -= 1
            return RuntimeError("the disk hiccupped")
        return None

    calls = Calls(fail)

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            await drain(relay_for(world, home, calls, tmp_path, http), 3)

    run(go())
    assert calls.items == ["a", "b", "b", "b", "c"]  # c never overtook b
    assert [box.result("alice", n) is not None for n in "abc"] == [True, True, True]


def test_a_week_off_drains_the_whole_backlog(world: World, tmp_path: Path) -> None:
    home = world.enrolled("alice")
    now = int(time.time() * 1000)
    week_ago = ProviderInbox(world.db, 50_000, 1 << 30, clock=lambda: now - WEEK_MS)
    for i in range(1500):
        week_ago.put("alice", "test.note", {}, b"x" * 50, item_id=f"i{i:05}")
    calls = Calls()

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            await drain(relay_for(world, home, calls, tmp_path, http), 1500, seconds=120)

    run(go())
    assert calls.items == [f"i{i:05}" for i in range(1500)]
    assert inbox(world).usage("alice") == (0, 0)


def test_new_items_reach_a_connected_home_within_a_second(world: World, tmp_path: Path) -> None:
    """A put in the provider's own process wakes the waiting poll; a put by another process
    (another worker: its own connection, its own wake-ups) is found by the re-read."""
    home = world.enrolled("alice")
    other = ProviderDB(world.settings.data_dir, world.settings.provider_database)
    elsewhere = ProviderInbox(other, 1000, 1 << 20, clock=lambda: 0)
    calls = Calls()
    delays: list[float] = []

    async def go() -> None:
        async with httpx.AsyncClient() as http:
            relay = relay_for(world, home, calls, tmp_path, http)
            relay.session.wait = 20_000
            task = asyncio.create_task(relay.run())
            try:
                for n, box in enumerate([inbox(world), elsewhere] * 3):
                    await asyncio.sleep(0.5)  # the relay is waiting in its long poll
                    put_at = time.monotonic()
                    await asyncio.to_thread(
                        box.put, "alice", "test.note", {}, b"x", item_id=f"n{n}"
                    )
                    deadline = put_at + 5
                    while f"n{n}" not in calls.times:
                        assert time.monotonic() < deadline, "the item did not arrive"
                        await asyncio.sleep(0.005)
                    delays.append(calls.times[f"n{n}"] - put_at)
            finally:
                task.cancel()

    try:
        run(go())
    finally:
        other.close()
    assert max(delays) < 1.0, delays


def test_the_provider_knows_when_the_home_is_connected(world: World, tmp_path: Path) -> None:
    """While the home's poll waits, every worker sees it connected; once it hangs up, its
    poll's end is written within moments (and counts for ``CONNECTED_MS`` more)."""
    home = world.enrolled("alice")
    world.enrolled("bob")
    box = inbox(world)
    other = ProviderDB(world.settings.data_dir, world.settings.provider_database)
    elsewhere = ProviderInbox(other, 1000, 1 << 20, clock=box.clock)
    later = ProviderInbox(other, 1000, 1 << 20, clock=lambda: box.clock() + CONNECTED_MS)

    def ended() -> bool:
        with other.reading() as conn:
            row = conn.execute(
                "SELECT started, ended FROM inbox_polls WHERE tenant = 'alice'"
            ).fetchone()
        return row is not None and row[1] >= row[0]

    async def go() -> None:
        assert not elsewhere.connected("alice")
        async with httpx.AsyncClient() as http:
            relay = relay_for(world, home, Calls(), tmp_path, http)
            relay.session.wait = 20_000
            task = asyncio.create_task(relay.run())
            try:
                deadline = time.monotonic() + 5
                while not later.connected("alice"):  # a waiting poll, not a recent one
                    assert time.monotonic() < deadline, "the waiting poll was not recorded"
                    await asyncio.sleep(0.02)
                assert elsewhere.connected("alice") and not elsewhere.connected("bob")
            finally:
                task.cancel()
        deadline = time.monotonic() + 5
        while not ended():
            assert time.monotonic() < deadline, "the poll's end was not recorded"
            await asyncio.sleep(0.02)
        assert elsewhere.connected("alice") and not later.connected("alice")

    try:
        run(go())
    finally:
        other.close()


def _signed_take(
    world: World, home: Home, doc: dict[str, Any], key: Any = None
) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(doc).encode()
    if key is None:
        return body, home.sign("POST", f"{API}/inbox", body)
    from homeport.sync.auth import authorization

    header = authorization(key, home.did, "POST", f"{API}/inbox", body, audience=home.audience)
    return body, {"Authorization": header}


def test_forged_and_replayed_acks_are_refused(world: World) -> None:
    home = world.enrolled("alice")
    bob = world.enrolled("bob")
    box = inbox(world)
    box.put("alice", "test.note", {}, b"x", item_id="i1")
    box.put("alice", "test.note", {}, b"y", item_id="i2")
    ack = {"ack": [{"id": "i1", "result": {"url": "forged"}}], "wait": 0}

    # forged: signed by a key alice never authorised, in her name
    body, headers = _signed_take(world, home, ack, key=Ed25519PrivateKey.generate())
    answer = world.client.post(f"{API}/inbox", content=body, headers=headers)
    assert answer.status_code == 401
    # unsigned
    assert world.client.post(f"{API}/inbox", content=body).status_code == 401
    # bob's own signature acknowledges nothing of alice's
    body, headers = _signed_take(world, bob, ack)
    answer = world.client.post(f"{API}/inbox", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json() == {"acked": 0, "items": []}
    assert box.result("alice", "i1") is None

    # alice's real ack, then the same request again: refused as a replay
    real = {"ack": [{"id": "i1", "result": {"url": "real"}}], "wait": 0}
    body, headers = _signed_take(world, home, real)
    answer = world.client.post(f"{API}/inbox", content=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["acked"] == 1
    assert [i["id"] for i in answer.json()["items"]] == ["i2"]
    again = world.client.post(f"{API}/inbox", content=body, headers=headers)
    assert again.status_code == 401 and again.json()["error"] == "replayed"
    # a new, signed ack of an item already acknowledged changes nothing
    body, headers = _signed_take(
        world, home, {"ack": [{"id": "i1", "result": {"url": "late"}}], "wait": 0}
    )
    answer = world.client.post(f"{API}/inbox", content=body, headers=headers)
    assert answer.json()["acked"] == 0
    assert box.result("alice", "i1") == {"url": "real"}


def test_bad_polls_are_refused_and_change_nothing(world: World) -> None:
    home = world.enrolled("alice")
    box = inbox(world)
    box.put("alice", "test.note", {}, b"x", item_id="i1")
    bad = [
        {"wait": 10**9},
        {"wait": -1},
        {"after": "zero"},
        {"limit": True},
        {"ack": "i1"},
        {"ack": [{"id": "i1"}]},
        {"ack": [{"id": "i1", "result": {"x": "y" * 70_000}}]},
        {"ack": [{"id": 5, "result": {}}]},
        {"ack": [{"id": "", "result": {}}]},
        {"ack": [{"id": "i1", "result": {}}] * 1001},
    ]
    for doc in bad:
        body, headers = _signed_take(world, home, doc)
        answer = world.client.post(f"{API}/inbox", content=body, headers=headers)
        assert answer.status_code == 400, (doc, answer.text)
        assert answer.json()["error"] == "bad-request"
    body = b"[not json"
    answer = world.client.post(
        f"{API}/inbox", content=body, headers=home.sign("POST", f"{API}/inbox", body)
    )
    assert answer.status_code == 400
    assert box.result("alice", "i1") is None
    assert [w.id for w in box.waiting("alice", 10, 1 << 20)] == ["i1"]


def test_bodies_are_sealed_to_the_home_once_it_named_its_key(world: World, tmp_path: Path) -> None:
    """Stored sealed, opened at the home; what came before the home's first poll stays as it
    came; a body the provider swapped between items does not open and is rejected."""
    home = world.enrolled("alice")
    box = inbox(world)
    box.put("alice", "test.note", {}, b"before any poll", item_id="early")
    key = box_key(b"d" * 32)
    calls = Calls()

    async def go(count: int) -> None:
        async with httpx.AsyncClient() as http:
            await drain(relay_for(world, home, calls, tmp_path, http, box=key), count)

    run(go(1))  # the poll named the key
    box.put("alice", "test.note", {"clear": "yes"}, b"my secret reply", item_id="s1")
    box.put("alice", "test.note", {}, b"another secret", item_id="s2")
    box.put("alice", "test.note", {}, b"third secret", item_id="s3")
    with world.db.transaction() as conn:
        rows = dict(conn.execute("SELECT id, body FROM inbox WHERE tenant = 'alice'").fetchall())
        sealed = dict(
            conn.execute("SELECT id, sealed FROM inbox WHERE tenant = 'alice'").fetchall()
        )
        assert b"secret" not in bytes(rows["s1"]) and sealed["s1"] == 1
        # a hostile provider moves s2's box onto s3
        conn.execute("UPDATE inbox SET body = ? WHERE id = 's3'", (rows["s2"],))
    assert box.waiting("alice", 10, 1 << 20)[0].meta == {"clear": "yes"}
    run(go(3))
    assert calls.items == ["early", "s1", "s2"]
    assert box.result("alice", "s1") == {"applied": "s1", "body": "my secret reply"}
    result = box.result("alice", "s3")
    assert result is not None and result["error"]["status"] == 400


def test_a_bad_box_key_is_refused(world: World) -> None:
    home = world.enrolled("alice")
    for seal in ["short", 5, "!" * 43]:
        body, headers = _signed_take(world, home, {"seal": seal, "wait": 0})
        answer = world.client.post(f"{API}/inbox", content=body, headers=headers)
        assert answer.status_code == 400, (seal, answer.text)


def test_a_hostile_provider_cannot_flood_the_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers a home never asked for are refused unread: compressed (a 100 MB gzip bomb in
    100 KB), over the size a home reads, or not JSON; each costs a backoff, nothing applied."""
    import gzip

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from homeport.interop import relay as relay_module

    bomb = gzip.compress(b" " * 100_000_000)
    answers = [
        Response(bomb, headers={"content-encoding": "gzip", "content-type": "application/json"}),
        Response(b'{"items": []' + b" " * 5000 + b"}", media_type="application/json"),
        Response(b"<html>not json</html>", media_type="text/html"),
    ]

    async def inbox(request: Request) -> Response:
        return answers.pop(0)

    app = Starlette(routes=[Route(f"{API}/inbox", inbox, methods=["POST"])])
    monkeypatch.setattr(relay_module, "MAX_ANSWER", 4096)
    calls = Calls()
    key = Ed25519PrivateKey.generate()

    async def go() -> list[float]:
        async with httpx.AsyncClient() as http:
            relay = ProviderRelay(
                live.url,
                Credentials("did:key:zHostile", key),
                {"test.note": calls},
                AppliedLog(tmp_path),
                types.SimpleNamespace(),
                http,
                Session(wait=0, rng=lambda: 1.0),
            )
            return [await relay.step() for _ in range(3)]

    with LiveApp(app) as live:
        delays = run(go())
    assert delays == [0.5, 1.0, 2.0]  # three failures in a row, backing off
    assert calls.items == []
