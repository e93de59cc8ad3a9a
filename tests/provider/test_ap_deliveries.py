"""ActivityPub's outgoing queue at the provider (``ports.Deliveries``) on SQLite and
PostgreSQL: leases, turns between tenants, the per-tenant cap, retries, the circuit breaker of a
failing host, the queue limit; and the sender's choices (give up after 48 h, back off)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.interop.activitypub import delivery
from homeport.interop.ports import RateLimited
from homeport.provider.db import ProviderDB
from homeport.provider.deliveries import BREAKER, ProviderDeliveries

NOW = 1_800_000_000_000


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
