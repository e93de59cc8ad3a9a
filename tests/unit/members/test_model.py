"""The pure rules of tiers and members: prices, ids, who may read what, and the entitlements a
provider checks (a member found by address, nobody else, a lapsed payment falls back)."""

from __future__ import annotations

import pytest

from homeport.members import csvio, entitlements
from homeport.members.model import (
    MemberError,
    MemberFields,
    entitled_tier,
    new_member,
    new_tier,
    price_minor,
    visible_to,
)

NOW = 1_800_000_000_000
DID = "did:key:z6MkexampleSiteKey"
TIERS = {"gold": {"id": "gold", "name": "Gold"}}


@pytest.mark.parametrize(("given", "minor"), [("5", 500), ("4.99", 499), (12, 1200), (None, 0)])
def test_prices(given: str | int | None, minor: int) -> None:
    assert price_minor(given) == minor


@pytest.mark.parametrize("given", ["-1", "1.001", "abc", "NaN", "Infinity", "1e9"])
def test_bad_prices(given: str) -> None:
    with pytest.raises(MemberError):
        price_minor(given)


def test_tiers() -> None:
    tier = new_tier("Gold Supporters", price="5", currency="eur", key="00", now=NOW)
    assert (tier["id"], tier["amount"], tier["currency"], tier["interval"]) == (
        "gold-supporters", 500, "EUR", "month")
    free = new_tier("Friends", key="00", now=NOW)
    assert (free["amount"], free["currency"], free["interval"]) == (0, None, None)
    for bad in [dict(name="Members"), dict(name="x", price="5"), dict(name="x", currency="EUR"),
                dict(name="x", price="5", currency="EUR", interval="week"), dict(name="!!!")]:
        with pytest.raises(MemberError):
            new_tier(key="00", now=NOW, **bad)  # type: ignore[arg-type]


def test_members_and_what_they_read() -> None:
    comped = new_member(" Ann@Example.ORG ", MemberFields(tier="gold", status="comped"), TIERS, NOW)
    assert comped["email"] == "ann@example.org"
    paid = new_member("bo@example.org", MemberFields(tier="gold", status="paid",
                                                     paid_until=NOW + 10), TIERS, NOW)
    lapsed = new_member("cy@example.org", MemberFields(tier="gold", status="paid",
                                                       paid_until=NOW - 10), TIERS, NOW)
    free = new_member("di@example.org", MemberFields(), TIERS, NOW)
    assert [entitled_tier(m, NOW) for m in (comped, paid, lapsed, free)] == [
        "gold", "gold", "", ""]
    assert visible_to("members", "") and visible_to("gold", "gold") and visible_to("public", None)
    assert not visible_to("gold", "") and not visible_to("members", None)
    assert not visible_to("private", "gold") and not visible_to("silver", "gold")
    for email, fields in [("not-an-address", MemberFields()),
                          ("a@b.org", MemberFields(tier="silver")),
                          ("a@b.org", MemberFields(status="comped")),
                          ("a@b.org", MemberFields(status="owner"))]:
        with pytest.raises(MemberError):
            new_member(email, fields, TIERS, NOW)


def test_entitlements_check_without_a_readable_list() -> None:
    members = [
        new_member("ann@example.org", MemberFields(tier="gold", status="comped"), TIERS, NOW),
        new_member("bo@example.org", MemberFields(tier="gold", status="paid",
                                                  paid_until=NOW + 1000), TIERS, NOW),
        new_member("di@example.org", MemberFields(), TIERS, NOW),
    ]
    doc = entitlements.document(DID, members, NOW)
    text = str(doc)
    assert "example.org" not in text and "ann" not in text
    assert entitlements.lookup(doc, "ANN@example.org", NOW) == "gold"
    assert entitlements.lookup(doc, "bo@example.org", NOW) == "gold"
    assert entitlements.lookup(doc, "bo@example.org", NOW + 1000) == ""  # the period ran out
    assert entitlements.lookup(doc, "di@example.org", NOW) == ""
    assert entitlements.lookup(doc, "eve@example.org", NOW) is None
    assert entitlements.lookup(doc, "not an address", NOW) is None
    # Another site's document does not let its members in here: the hash is keyed by the did.
    other = entitlements.document("did:key:z6MkotherSite", members, NOW)
    assert set(other["members"]).isdisjoint(doc["members"])
    assert entitlements.lookup({**doc, "v": 2}, "ann@example.org", NOW) is None


def test_entitlements_carry_members_passkeys() -> None:
    key = {"credential_id": "Y3JlZA", "public_key": "cHVi", "rp_id": "alice.example"}
    ann = new_member("ann@example.org", MemberFields(tier="gold", status="comped"), TIERS, NOW)
    plain = entitlements.document(DID, [ann], NOW)
    assert "passkeys" not in plain  # nobody has one: the document is as before
    ann["passkeys"] = [key, {"credential_id": 3}]  # a malformed one is left out
    doc = entitlements.document(DID, [ann], NOW)
    hashed = entitlements.address_hash(DID, "ann@example.org")
    assert doc["passkeys"] == {"Y3JlZA": [hashed, "cHVi", "alice.example"]}
    assert "example.org" not in str(doc["passkeys"]).replace("alice.example", "")
    found = entitlements.passkey(doc, "Y3JlZA")
    assert found == (hashed, "cHVi", "alice.example")
    assert entitlements.lookup_hash(doc, found[0], NOW) == "gold"
    assert entitlements.passkey(doc, "other") is None
    assert entitlements.passkey({**doc, "v": 2}, "Y3JlZA") is None
    assert entitlements.passkey({**doc, "passkeys": {"Y3JlZA": ["x"]}}, "Y3JlZA") is None
    assert entitlements.lookup_hash(doc, "unknown", NOW) is None


def test_ghost_csv_round_trip() -> None:
    members = [
        new_member("ann@example.org", MemberFields(name="Ann, the first", tier="gold",
                                                   status="comped", labels=("vip", "2024"),
                                                   note='said "hi"'), TIERS, NOW),
        new_member("bo@example.org", MemberFields(subscribed=False, payments=(
            {"processor": "stripe", "customer": "cus_123"},)), TIERS, NOW),
    ]
    text = csvio.ghost_csv(members, TIERS)
    header = text.split("\r\n")[0]
    assert header == ("id,email,name,note,subscribed_to_emails,complimentary_plan,"
                      "stripe_customer_id,created_at,deleted_at,labels,tiers")
    assert '"Ann, the first"' in text and ',"2024,vip",Gold' in text
    assert "bo@example.org,,,false,false,cus_123,2027-01-15T08:00:00.000Z,,," in text
    back = csvio.read_csv(text, {"gold": "gold"})
    assert [(e, f.name, f.tier, f.status, f.labels, f.subscribed, f.created) for e, f in back] == [
        ("ann@example.org", "Ann, the first", "gold", "comped", ("2024", "vip"), True, NOW),
        ("bo@example.org", "", None, "free", (), False, NOW)]
    assert back[1][1].payments == ({"processor": "stripe", "customer": "cus_123"},)


def test_substack_csv() -> None:
    text = ("email,active_subscription,expiry,plan,email_disabled,created_at,first_payment_at\n"
            "pat@example.org,false,,free,false,2018-12-25T20:43:22.178Z,\n"
            "sam@example.org,true,2027-03-01T00:00:00Z,yearly,false,2019-01-01T00:00:00Z,\n"
            "kim@example.org,true,,comp,true,2020-01-01T00:00:00Z,\n")
    rows = csvio.read_csv(text, {"substack": "gold", "gold": "gold"})
    assert [(e, f.tier, f.status, f.paid_until, f.subscribed) for e, f in rows] == [
        ("pat@example.org", None, "free", None, True),
        ("sam@example.org", "gold", "paid", 1803859200000, True),
        ("kim@example.org", "gold", "comped", None, False)]


@pytest.mark.parametrize("text", [
    "name\nAnn\n",  # no email column
    "email,tiers\nann@example.org,Platinum\n",  # no such tier
    "email,complimentary_plan\nann@example.org,true\n",  # comped on no tier
    "email,created_at\nann@example.org,yesterday\n",
    "email,subscribed_to_emails\nann@example.org,maybe\n",
])
def test_bad_csv(text: str) -> None:
    with pytest.raises(MemberError):
        csvio.read_csv(text, {"gold": "gold"})
