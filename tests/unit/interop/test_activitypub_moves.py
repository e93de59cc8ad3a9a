"""Mastodon's rules for Move, as unit cases (``activitypub/moves.py``): what Mastodon refuses to
send (AccountMigration's checks) and what a receiving Mastodon ignores (``Activity::Move``)."""

from __future__ import annotations

from typing import Any

import pytest

from homeport.interop.activitypub import moves as fedmove
from homeport.interop.activitypub.moves import Move, MoveRefused

OLD = "https://alice.provider-a.test/activitypub/actor"
NEW = "https://alice.provider-b.test/activitypub/actor"
NOW = 1_800_000_000_000
DAY = 24 * 3600 * 1000


def actor(id_: str, **extra: Any) -> dict[str, Any]:
    return {"id": id_, "type": "Person", "inbox": f"{id_}/inbox", **extra}


def refused(code: str, call: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(MoveRefused) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code


def test_the_move_is_shaped_as_mastodon_sends_it() -> None:
    move = fedmove.move_activity(OLD, NEW, 3)
    assert move == {
        "@context": "https://www.w3.org/ns/activitystreams",
        "id": f"{OLD}#moves/3",
        "type": "Move",
        "actor": OLD,
        "object": OLD,
        "target": NEW,
    }
    # and it is what a receiver accepts, signed by the old actor
    assert fedmove.parse_incoming(move, OLD) == Move(f"{OLD}#moves/3", OLD, NEW)


def test_sending_needs_the_new_actor_to_name_the_old_one() -> None:
    target = actor(NEW, alsoKnownAs=[OLD])
    assert fedmove.check_outgoing(OLD, target, moved_to=None, last_move=None, now=NOW) == NEW
    # a single alias compacted to a string counts as well
    single = actor(NEW, alsoKnownAs=OLD)
    assert fedmove.check_outgoing(OLD, single, moved_to=None, last_move=None, now=NOW) == NEW
    refused("missing-also-known-as", fedmove.check_outgoing, OLD, actor(NEW),
            moved_to=None, last_move=None, now=NOW)
    other = actor(NEW, alsoKnownAs=["https://someone.else.test/actor"])
    refused("missing-also-known-as", fedmove.check_outgoing, OLD, other,
            moved_to=None, last_move=None, now=NOW)


def test_sending_refuses_self_repeat_and_a_second_move_within_30_days() -> None:
    target = actor(NEW, alsoKnownAs=[OLD])
    refused("move-to-self", fedmove.check_outgoing, OLD, actor(OLD, alsoKnownAs=[OLD]),
            moved_to=None, last_move=None, now=NOW)
    refused("already-moved", fedmove.check_outgoing, OLD, target,
            moved_to=NEW, last_move=NOW - 40 * DAY, now=NOW)
    refused("cooldown", fedmove.check_outgoing, OLD, target,
            moved_to="https://elsewhere.test/actor", last_move=NOW - 29 * DAY, now=NOW)
    assert fedmove.check_outgoing(OLD, target, moved_to="https://elsewhere.test/actor",
                                  last_move=NOW - 30 * DAY, now=NOW) == NEW
    refused("bad-target", fedmove.check_outgoing, OLD, {"type": "Person"},
            moved_to=None, last_move=None, now=NOW)
    refused("bad-target", fedmove.check_outgoing, OLD, actor("ftp://x.test/a"),
            moved_to=None, last_move=None, now=NOW)


@pytest.mark.parametrize(
    ("activity", "signer", "code"),
    [
        ({"type": "Follow", "actor": OLD, "object": OLD, "target": NEW}, OLD, "not-a-move"),
        # signed by someone else than the actor that moves
        ({"type": "Move", "actor": OLD, "object": OLD, "target": NEW}, NEW, "wrong-actor"),
        # moving another account: Mastodon returns unless origin.uri == object
        ({"type": "Move", "actor": OLD, "object": "https://victim.test/u", "target": NEW}, OLD,
         "not-self"),
        ({"type": "Move", "actor": OLD, "object": OLD}, OLD, "bad-target"),
        ({"type": "Move", "actor": OLD, "object": OLD, "target": OLD}, OLD, "bad-target"),
        ({"type": "Move", "actor": OLD, "object": OLD, "target": "javascript:alert(1)"}, OLD,
         "bad-target"),
        ({"type": "Move", "object": OLD, "target": NEW}, OLD, "wrong-actor"),
    ],
)
def test_a_receiver_ignores_moves_that_break_the_rules(
    activity: dict[str, Any], signer: str, code: str
) -> None:
    refused(code, fedmove.parse_incoming, activity, signer)


def test_a_receiver_reads_embedded_objects_as_their_ids() -> None:
    move = {"id": "m", "type": "Move", "actor": {"id": OLD, "type": "Person"},
            "object": {"id": OLD}, "target": {"id": NEW, "type": "Person"}}
    assert fedmove.parse_incoming(move, OLD) == Move("m", OLD, NEW)


def test_a_receiver_checks_the_fetched_target() -> None:
    move = Move("m", OLD, NEW)
    fedmove.check_target(move, actor(NEW, alsoKnownAs=[OLD, "https://x.test/a"]))
    refused("missing-also-known-as", fedmove.check_target, move, actor(NEW))
    refused("bad-target", fedmove.check_target, move, actor("https://other.test/a",
                                                            alsoKnownAs=[OLD]))
    refused("suspended", fedmove.check_target, move,
            actor(NEW, alsoKnownAs=[OLD], suspended=True))


def test_a_receiver_acts_on_one_move_per_origin_in_7_days() -> None:
    assert fedmove.processing_allowed(None, NOW)
    assert not fedmove.processing_allowed(NOW - 6 * DAY, NOW)
    assert fedmove.processing_allowed(NOW - 7 * DAY, NOW)


def test_the_old_address_redirects_to_the_same_path_at_the_new_one() -> None:
    assert fedmove.moved_location(NEW, "/notes/hello/") == (
        "https://alice.provider-b.test/notes/hello/")
    assert fedmove.moved_location(NEW, "feed.atom", "page=2") == (
        "https://alice.provider-b.test/feed.atom?page=2")
    assert fedmove.moved_location("mailto:alice@x.test", "/") is None
