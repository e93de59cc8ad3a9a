"""Issue F.4 between real processes: the site's address changes (``name.example.test`` at one
provider → ``name.other.test`` at another) and an independent ActivityPub server (Fedify,
reacting to a Move as Mastodon does) that followed the old address follows the new one.

1. The peer follows ``name@name.example.test``.
2. The second provider is added (a second address, no move yet), then made first
   (``homeport providers first``) and the home publishes: the new actor lists the old one in
   ``alsoKnownAs``, the old one names the new one in ``movedTo``, and the old provider sends
   ``Move``; the peer checks it, follows the new actor, and the second provider accepts.
3. The old address sends readers on (301, same path at the new address) but still answers
   ActivityPub clients with the old documents (followers' servers check the Move there).
4. The next post reaches the peer from the new address; a later publish sends no second Move.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from homeport.sync.client import ProviderClient
from homeport.sync.providers import credentials

from .fedify_support import FedifyPeer
from .provider_support import BASE, Provider
from .repo_support import cli_env, init, ok

OTHER = "other.test"
OLD_HOST, NEW_HOST = f"name.{BASE}", f"name.{OTHER}"
OLD, NEW = f"https://{OLD_HOST}/activitypub/actor", f"https://{NEW_HOST}/activitypub/actor"
WITHIN = 60.0
AS2 = "application/activity+json"


@pytest.fixture
def providers(tmp_path: Path) -> Iterator[list[Provider]]:
    started: list[Provider] = []
    try:
        for n, base in enumerate((BASE, OTHER)):
            started.append(Provider(
                tmp_path / f"p{n}", tmp_path / f"p{n}.log",
                env={"HOMEPORT_FETCH_ALLOW_PRIVATE": "true"},
                args=("--workers", "1"), base=base).start())
        yield started
    finally:
        for provider in started:
            provider.stop()


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[FedifyPeer]:
    started = FedifyPeer(tmp_path / "peer.log", name="bob").start()
    try:
        yield started
    finally:
        started.stop()


def get(provider: Provider, host: str, path: str, accept: str = "text/html") -> httpx.Response:
    return httpx.get(provider.url + path, timeout=10, follow_redirects=False,
                     headers={"Host": host, "X-Forwarded-Proto": "https", "Accept": accept})


def followers(provider: Provider, home: Path) -> dict[str, Any]:
    with httpx.Client(timeout=30) as http:
        return ProviderClient(provider.url, credentials(home), http).followers()


@pytest.mark.timeout(420)
def test_the_site_moves_to_a_new_address_and_its_follower_follows(
    tmp_path: Path, providers: list[Provider], peer: FedifyPeer,
) -> None:
    first, second = providers
    home = tmp_path / "home"
    env = cli_env()
    init(home, env)
    ok("add", "note", "Hello", data=home, env=env)
    ok("providers", "add", first.url, first.invite(), "--name", "name", data=home, env=env)
    ok("publish", data=home, env=env)
    peer.route(OLD_HOST, f"127.0.0.1:{first.port}")
    peer.route(NEW_HOST, f"127.0.0.1:{second.port}")

    # 1. followed at the old address
    assert peer.follow(f"name@{OLD_HOST}")["actor"] == OLD
    peer.wait_for("the Accept", lambda got: [a for a in got if a["type"] == "Accept"], WITHIN)

    # 2. a second address is no move; making it first is
    ok("providers", "add", second.url, second.invite(), "--name", "name", data=home, env=env)
    ok("publish", data=home, env=env)
    assert "movedTo" not in get(first, OLD_HOST, "/activitypub/actor", AS2).json()
    assert peer.received("Move") == []
    ok("providers", "first", second.url, data=home, env=env)
    ok("publish", data=home, env=env)
    new = get(second, NEW_HOST, "/activitypub/actor", AS2).json()
    assert new["id"] == NEW and new["alsoKnownAs"] == [OLD]
    (move,) = peer.wait_for("the Move", lambda got: [a for a in got if a["type"] == "Move"],
                            WITHIN)
    assert move["actor"] == OLD
    assert move["json"]["object"] == OLD and move["json"]["target"] == NEW
    peer.wait_for("the Accept of the new follow", lambda got: [
        a for a in got if a["type"] == "Accept" and a["actor"] == NEW], WITHIN)
    assert list(peer.state()["following"]) == [NEW]
    assert followers(second, home) == {"followers": 1, "pending": 0}

    # 3. the old address: readers are sent on, ActivityPub clients get the old actor
    for path in ("/", "/activitypub/actor", "/feed.xml?x=1"):
        moved = get(first, OLD_HOST, path)
        assert moved.status_code == 301, path
        assert moved.headers["location"] == f"https://{NEW_HOST}{path}"
    old = get(first, OLD_HOST, "/activitypub/actor", AS2)
    assert old.status_code == 200 and old.json()["movedTo"] == NEW

    # 4. the next post comes from the new address; no second Move
    ok("add", "note", "Posted at the new address", data=home, env=env)
    ok("publish", data=home, env=env)
    peer.wait_for("the Create from the new address", lambda got: [
        a for a in got if a["type"] == "Create" and a["actor"] == NEW
        and "Posted at the new address" in json.dumps(a["json"])], WITHIN)
    assert len(peer.received("Move")) == 1
