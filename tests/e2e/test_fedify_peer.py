"""The fediverse test peer itself (``fedify_support.FedifyPeer``): two Fedify peers, one reached
only by name through the other's route (``https://carol.example.test`` → a loopback port, as
through a TLS proxy), follow and unfollow each other with signed requests that Fedify checks.
If this fails, the fediverse tests' failures say nothing about Homeport."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .fedify_support import FedifyPeer

WITHIN = 20.0


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[FedifyPeer, FedifyPeer]]:
    started: list[FedifyPeer] = []
    try:
        for name in ("bob", "carol"):
            started.append(FedifyPeer(tmp_path / f"{name}.log", name=name).start())
        yield started[0], started[1]
    finally:
        for peer in started:
            peer.stop()


def test_peers_follow_through_a_named_route(peers: tuple[FedifyPeer, FedifyPeer]) -> None:
    bob, carol = peers
    bob.route("carol.example.test", f"127.0.0.1:{carol.port}")

    followed = bob.follow("carol@carol.example.test")
    assert followed["actor"] == "https://carol.example.test/users/carol"
    assert followed["inbox"] == "https://carol.example.test/users/carol/inbox"

    follows = carol.wait_for("the Follow", lambda got: [a for a in got if a["type"] == "Follow"],
                             WITHIN)
    assert follows[0]["actor"] == bob.actor
    assert carol.state()["followers"] == [bob.actor]
    accepts = bob.wait_for("the Accept", lambda got: [a for a in got if a["type"] == "Accept"],
                           WITHIN)
    assert accepts[0]["actor"] == followed["actor"]
    assert bob.state()["following"][followed["actor"]]["accepted"] is True

    assert bob.unfollow(followed["actor"]) is True
    undos = carol.wait_for("the Undo", lambda got: [a for a in got if a["type"] == "Undo"],
                           WITHIN)
    assert undos[0]["json"]["object"]["type"] == "Follow"
    assert bob.state()["following"] == {}
