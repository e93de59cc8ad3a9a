"""Followers that move with the site (``provider/fedmove.py``), on SQLite and PostgreSQL: the
home hands its follower list to a provider the site comes to; what is already there (followed
since) stays as it is; bad lists are refused whole; only the tenant itself may do it."""

from __future__ import annotations

from typing import Any

import pytest

from homeport.interop.ports import ACCEPTED, PENDING, Follower

from .conftest import API, Home, World


def follower(n: int, state: str = ACCEPTED, shared: bool = True) -> dict[str, Any]:
    actor = f"https://s{n % 3}.example/users/u{n}"
    return {"actor": actor, "inbox": actor + "/inbox",
            "shared_inbox": f"https://s{n % 3}.example/inbox" if shared else "",
            "state": state, "follow_id": actor + "#follow", "created": 1000 + n}


def followers_port(world: World) -> Any:
    return world.app.server.config.app.state.ports.followers


def test_the_home_hands_over_its_followers_once(world: World) -> None:
    alice = world.enrolled("alice")
    port = followers_port(world)
    answer = alice.request(world.client, "GET", "/activitypub/followers")
    assert answer.status_code == 200 and answer.json() == {"followers": 0, "pending": 0}

    # bob followed at this provider after the site arrived, before the home handed over
    here = Follower("alice", "https://s1.example/users/u1", "https://s1.example/users/u1/inbox",
                    "", PENDING, "https://s1.example/follows/newer", 5000)
    port.save(here)
    listed = [follower(n) for n in range(6)] + [follower(6, PENDING, shared=False)]
    answer = alice.request(world.client, "PUT", "/activitypub/followers", {"followers": listed})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"added": 6, "given": 7}
    assert port.get("alice", here.actor) == here  # what arrived here stands
    assert port.count("alice") == 5 and port.count("alice", None) == 7
    assert port.inboxes("alice") == [f"https://s{n}.example/inbox" for n in range(3)]
    again = alice.request(world.client, "PUT", "/activitypub/followers", {"followers": listed})
    assert again.json() == {"added": 0, "given": 7}
    assert alice.request(world.client, "GET", "/activitypub/followers").json() == {
        "followers": 5, "pending": 2}
    # another tenant's list is its own
    bob = world.enrolled("bob")
    assert bob.request(world.client, "GET", "/activitypub/followers").json() == {
        "followers": 0, "pending": 0}


@pytest.mark.parametrize(
    "doc",
    [
        {},
        {"followers": "all"},
        {"followers": [1]},
        {"followers": [{**follower(1), "actor": "javascript:alert(1)"}]},
        {"followers": [{**follower(1), "inbox": "ftp://s.example/inbox"}]},
        {"followers": [{**follower(1), "shared_inbox": "/inbox"}]},
        {"followers": [{**follower(1), "state": "blocked"}]},
        {"followers": [{**follower(1), "created": -1}]},
        {"followers": [{**follower(1), "actor": "https://s.example/" + "a" * 3000}]},
        {"followers": [follower(2), {**follower(3), "follow_id": 7}]},
    ],
)
def test_bad_lists_are_refused_whole(world: World, doc: dict[str, Any]) -> None:
    alice = world.enrolled("alice")
    answer = alice.request(world.client, "PUT", "/activitypub/followers", doc)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == "bad-followers"
    assert followers_port(world).count("alice", None) == 0


def test_only_the_tenant_itself(world: World, alice: Home) -> None:
    body = b'{"followers": []}'
    unsigned = world.client.put(f"{API}/activitypub/followers", content=body)
    assert unsigned.status_code == 401
    stranger = world.home()  # never enrolled here
    answer = stranger.request(world.client, "PUT", "/activitypub/followers",
                              {"followers": [follower(1)]})
    assert answer.status_code == 401
    assert followers_port(world).count("alice", None) == 0
