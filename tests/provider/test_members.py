"""The provider's entitlement check (``ports.Members``), on SQLite and PostgreSQL: members are
found by address in what the tenant's last publish carried, a removed member is refused after the
next publish, the document itself is never served, and one tenant's members are not another's."""

from __future__ import annotations

from homeport.interop.ports import Members
from homeport.members import entitlements
from homeport.members.model import MemberFields, new_member
from tests.provider.conftest import BASE, SITE_V1, Home, World

TIERS = {"gold": {"id": "gold"}}


def publish_members(world: World, home: Home, *people: tuple[str, MemberFields]) -> None:
    now = world.app.server.config.app.state.ports.clock()
    doc = entitlements.document(home.did, [new_member(e, f, TIERS, now) for e, f in people], now)
    home.write_site({**SITE_V1, entitlements.PATH: entitlements.canonical_bytes(doc)})
    assert home.publish(world.client, home.snapshot()).status_code == 200


def test_entitlements_follow_each_publish(world: World) -> None:
    members: Members = world.app.server.config.app.state.ports.members
    alice, bob = world.enrolled("alice"), world.enrolled("bob")
    assert members.entitlement("alice", "ann@example.org") is None  # nothing published yet
    now = world.app.server.config.app.state.ports.clock()
    publish_members(world, alice,
                    ("ann@example.org", MemberFields(tier="gold", status="comped")),
                    ("bo@example.org", MemberFields()),
                    ("cy@example.org", MemberFields(tier="gold", status="paid",
                                                    paid_until=now + 3_600_000)))
    publish_members(world, bob, ("dee@example.org", MemberFields()))
    assert members.entitlement("alice", "Ann@Example.org") == "gold"
    assert members.entitlement("alice", "bo@example.org") == ""
    assert members.entitlement("alice", "cy@example.org") == "gold"
    assert members.entitlement("alice", "eve@example.org") is None
    assert members.entitlement("alice", "dee@example.org") is None  # bob's member, not alice's
    assert members.entitlement("bob", "dee@example.org") == ""
    assert members.entitlement("nobody", "ann@example.org") is None

    # The document is in the live tree but never served: /_homeport/ is the provider's.
    answer = world.get(f"alice.{BASE}", "/" + entitlements.PATH)
    assert answer.status_code == 404 and b'"members"' not in answer.content
    assert members.site_file("alice", entitlements.PATH) is not None
    assert members.site_file("alice", "../bob/" + entitlements.PATH) is None

    # Ann removed at home: refused as soon as the next publish is live.
    publish_members(world, alice, ("bo@example.org", MemberFields()))
    assert members.entitlement("alice", "ann@example.org") is None
    assert members.entitlement("alice", "bo@example.org") == ""

    # A publish without members (or with a damaged document) lets nobody in.
    alice.write_site({**SITE_V1, entitlements.PATH: b"{not json"})
    assert alice.publish(world.client, alice.snapshot()).status_code == 200
    assert members.entitlement("alice", "bo@example.org") is None
