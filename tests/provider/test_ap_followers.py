"""The provider's ActivityPub followers and blocks (``ports.Followers``) on SQLite and
PostgreSQL: saving, states, delivery inboxes (one per shared inbox), the home's list added
when a site arrives, blocks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from homeport.interop.ports import ACCEPTED, PENDING, Follower
from homeport.provider.db import ProviderDB
from homeport.provider.followers import ProviderFollowers


@pytest.fixture
def followers(tmp_path: Path, engine: str) -> Iterator[ProviderFollowers]:
    db = ProviderDB(tmp_path / "provider", engine)
    yield ProviderFollowers(db)
    db.close()


def follower(actor: str, shared: str = "", state: str = ACCEPTED, tenant: str = "alice",
             created: int = 1) -> Follower:
    return Follower(tenant, actor, actor + "/inbox", shared, state, actor + "#follow", created)


def test_followers_saved_listed_and_removed(followers: ProviderFollowers) -> None:
    bob = follower("https://a.example/users/bob", "https://a.example/inbox", created=1)
    assert followers.save(bob) is True
    assert followers.save(bob) is False  # the same follow again changes nothing
    carol = follower("https://a.example/users/carol", "https://a.example/inbox", created=2)
    dave = follower("https://b.example/dave", created=3)
    erin = follower("https://c.example/erin", state=PENDING, created=4)
    for f in (carol, dave, erin):
        followers.save(f)
    followers.save(follower("https://a.example/users/bob", tenant="zoe"))
    assert followers.of("alice") == [bob, carol, dave]
    assert followers.of("alice", PENDING) == [erin]
    assert followers.of("alice", None) == [bob, carol, dave, erin]
    assert followers.count("alice") == 3 and followers.count("alice", None) == 4
    assert followers.get("alice", erin.actor) == erin
    assert followers.inboxes("alice") == ["https://a.example/inbox", "https://b.example/dave/inbox"]
    followers.save(follower(erin.actor, state=ACCEPTED, created=4))  # approved at home
    assert followers.get("alice", erin.actor).state == ACCEPTED  # type: ignore[union-attr]
    assert followers.remove("alice", bob.actor) is True
    assert followers.remove("alice", bob.actor) is False
    assert followers.get("zoe", bob.actor) is not None  # another tenant's list is its own
    assert followers.count("alice") == 3


def test_the_homes_list_added_and_blocks(followers: ProviderFollowers) -> None:
    here = follower("https://old.example/u", created=100)
    followers.save(here)
    moved = [follower(f"https://m.example/u/{n}", "https://m.example/inbox", created=n)
             for n in range(50)]
    assert followers.add_missing("alice", [*moved, follower(here.actor, state=PENDING)]) == 50
    assert followers.of("alice") == [*moved, here]  # the one here already is kept as it is
    assert followers.inboxes("alice") == ["https://m.example/inbox", here.inbox]
    with pytest.raises(ValueError):
        followers.add_missing("alice", [follower("https://x.example/u", tenant="zoe")])
    assert followers.count("alice") == 51  # the refused list changed nothing
    assert followers.blocks("alice") == frozenset()
    followers.set_blocks("alice", ["spam.example", "https://a.example/users/troll"])
    assert followers.blocks("alice") == {"spam.example", "https://a.example/users/troll"}
    followers.set_blocks("alice", ["spam.example"])
    assert followers.blocks("alice") == {"spam.example"}
    assert followers.blocks("zoe") == frozenset()
