"""ActivityPub's outgoing queue at the provider (``ports.Deliveries``) on SQLite and
PostgreSQL: leases, turns between tenants, the per-tenant cap, retries, the circuit breaker of a
failing host, the queue limit; and the sender's choices (give up after 48 h, back off)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from homeport.crypto import httpsig
from homeport.interop.activitypub import delivery
from homeport.interop.ports import ProviderPorts, RateLimited
from homeport.provider.db import ProviderDB
from homeport.provider.deliveries import BREAKER, ProviderDeliveries
from homeport.testing.fake_ports import FakeGrants, FakeInbox, FakeOnce, FakeSites
from homeport.testing.webhost import Answer, WebHost
from homeport.web import outbound

NOW = 1_800_000_000_000
HOUR = 3600_000


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def queue(tmp_path: Path, engine: str) -> Iterator[ProviderDeliveries]:
    db = ProviderDB(tmp_path / "provider", engine)
    yield ProviderDeliveries(db, queue_limit=50)
    db.close()


def test_leases_turns_and_the_cap(queue: ProviderDeliveries) -> None:
    alice = [f"https://a{n}.example/inbox" for n in range(10)]
    assert queue.enqueue("alice", alice + alice[:2], b'{"type":"Create"}', NOW) == 10
    assert queue.enqueue("bob", ["https://b.example/inbox"], b'{"type":"Like"}', NOW) == 1
    taken = queue.claim(NOW, 60_000, limit=4, per_tenant=3)
    assert sorted(d.tenant for d in taken) == ["alice", "alice", "alice", "bob"]  # bob's turn
    assert {d.body for d in taken if d.tenant == "bob"} == {b'{"type":"Like"}'}
    again = queue.claim(NOW, 60_000, limit=100, per_tenant=100)
    assert len(again) == 7 and not {d.id for d in again} & {d.id for d in taken}  # leased
    assert queue.claim(NOW + 60_001, 60_000, 100, 100) != []  # a lease that ran out
    with pytest.raises(RateLimited):
        queue.enqueue("alice", [f"https://x{n}.example/inbox" for n in range(45)], b"{}", NOW)
    assert queue.waiting("alice") == 10  # the refused activity queued nothing


def test_retries_and_the_circuit_breaker(queue: ProviderDeliveries) -> None:
    inboxes = [f"https://down.example/u{n}/inbox" for n in range(BREAKER + 1)]
    queue.enqueue("alice", [*inboxes, "https://up.example/inbox"], b"{}", NOW)
    due = {d.inbox: d for d in queue.claim(NOW, 1000, 100, 100)}
    for inbox in inboxes[:BREAKER]:
        queue.retry(due[inbox].id, "down.example", NOW + 10, NOW)
    queue.done(due["https://up.example/inbox"].id, "up.example", NOW)
    # the host failed BREAKER times in a row: nothing more goes there for a while
    later = queue.claim(NOW + 2000, 1000, 100, 100)
    assert later == []
    reopened = queue.claim(NOW + 5 * 60_000 + 1, 10_000, 100, 100)
    assert len(reopened) == BREAKER + 1 and all(d.attempts in (0, 1) for d in reopened)
    first = reopened[0]
    queue.done(first.id, "down.example", NOW + 5 * 60_000 + 1)  # one success closes it
    queue.retry(reopened[1].id, "down.example", NOW + 5 * 60_000 + 2, NOW + 5 * 60_000 + 1)
    assert len(queue.claim(NOW + 5 * 60_000 + 3000, 1000, 100, 100)) == 1
    for d in reopened[2:]:
        queue.drop(d.id)
    assert queue.waiting("alice") == 1
    queue.retry(reopened[1].id, "", NOW + 10**9, NOW)  # put back, the host not blamed


def test_the_senders_choices() -> None:
    assert 54_000 <= delivery.backoff(0) <= 66_000
    assert delivery.backoff(30) <= delivery.MAX_RETRY * 1.1
    assert delivery.GIVE_UP == 48 * 3600_000
    accept = delivery.accept("https://a.example/actor", {"id": "https://b.example/f/1",
                                                         "type": "Follow", "extra": 1})
    assert accept["type"] == "Accept" and accept["object"] == {"id": "https://b.example/f/1",
                                                                "type": "Follow"}
    public = delivery.PUBLIC
    note = b'{"id": "https://a.example/notes/n/", "type": "Note", "to": ["%s"]}' % (
        public.encode())
    found = delivery.activities({"id": "https://a.example/activitypub/actor"},
                                {"notes/m/index.as2", "notes/gone/index.as2",
                                 "activitypub/actor.as2"},
                                {"notes/n/index.as2": note, "notes/m/index.as2": note,
                                 "notes/gone/index.as2": None,
                                 "notes/private/index.as2": b'{"id": "x", "to": []}',
                                 "activitypub/actor.as2": b'{"id": "https://a.example/activitypub/actor"}'})
    kinds = [(a["type"], a["object"]["id"]) for a in found]
    assert kinds == [
        ("Update", "https://a.example/activitypub/actor"),
        ("Delete", "https://a.example/notes/gone/"),
        ("Update", "https://a.example/notes/n/"),
        ("Create", "https://a.example/notes/n/"),
    ]



def test_a_rounds_outcomes_in_one_write(queue: ProviderDeliveries) -> None:
    inboxes = [f"https://h{n % 3}.example/u{n}/inbox" for n in range(9)]
    queue.enqueue("alice", inboxes, b"{}", NOW)
    due = {d.inbox: d for d in queue.claim(NOW, 1000, 100, 100)}
    for _ in range(BREAKER - 1):  # h0 has failed, one short of opening its circuit
        queue.retry(due[inboxes[0]].id, "h0.example", NOW, NOW)
    done = [(due[i].id, i.split("/")[2]) for i in inboxes[3:7]]  # h0 among them
    queue.finish(done, [due[inboxes[7]].id, due[inboxes[8]].id], NOW)
    queue.finish([], [], NOW)  # nothing to write: no error
    # h0's success closed its count: one more failure does not open its circuit
    queue.retry(due[inboxes[0]].id, "h0.example", NOW, NOW)
    left = queue.claim(NOW + 2000, 1000, 100, 100)
    assert sorted(d.inbox for d in left) == sorted(inboxes[:3])  # the rest are gone
    assert queue.waiting("alice") == 3


def test_the_sender_gives_up_48_hours_after_queueing(
    queue: ProviderDeliveries, key: rsa.RSAPrivateKey
) -> None:
    """Through the real ``Deliverer``: an inbox that keeps answering 503 is retried with
    backoff, still tried just before the 48 hours are over, and forgotten at the first failure
    after them; a server that recovers in time gets its delivery. The clock is the ports'
    (moved by the test), the requests real ones to a loopback server, signed with the site's
    key."""
    clock = [NOW]
    once = FakeOnce()
    box = delivery.box_public(once.secret(delivery.BOX_PURPOSE))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    grants = FakeGrants()
    grants.delegate("alice", delivery.SIGN_POWER,
                    delivery.sign_params(box, "https://a.example/actor#main-key", pem))
    ports = ProviderPorts(inbox=FakeInbox(), grants=grants, sites=FakeSites(),
                          clock=lambda: clock[0], fetch_allow_private=True, once=once,
                          deliveries=queue)
    with WebHost() as down, WebHost() as later:
        down.routes["/inbox"] = lambda hit: Answer(503)
        later.routes["/inbox"] = lambda hit: Answer(503 if clock[0] < NOW + HOUR else 202)
        queue.enqueue("alice", [down.url + "/inbox", later.url + "/inbox"], b'{"type":"Note"}',
                      NOW)

        async def rounds() -> list[tuple[int, int, int]]:
            sender = delivery.Deliverer(ports, rate=1000)
            sender.session = outbound.Session(outbound.anywhere, timeout=5)
            seen = []
            try:
                for at in (0, 30_000, HOUR + 1, 48 * HOUR - 1, 48 * HOUR + 600_000, 60 * HOUR):
                    clock[0] = NOW + at
                    await sender.round()
                    seen.append((len(down.received("/inbox")),
                                 len(later.received("/inbox")), queue.waiting("alice")))
            finally:
                await sender.session.aclose()
            return seen

        seen = asyncio.run(rounds())
    assert seen == [
        (1, 1, 2),  # both failed: retried in about a minute
        (1, 1, 2),  # not due yet (backoff)
        (2, 2, 1),  # an hour on: the second server took it, the first failed again
        (3, 2, 1),  # a try just inside the 48 hours, failed: kept
        (4, 2, 0),  # its next try (minutes later, after them) failed: given up
        (4, 2, 0),  # and never sent again
    ]
    (hit, *_) = down.received("/inbox")
    parsed = httpsig.parse(hit.headers)  # what the server got was signed with the site's key
    httpsig.verify(parsed, key.public_key(), "POST", down.url + "/inbox", hit.headers,
                   hit.body, time.time())
