"""Signed requests and tenant isolation, tried adversarially; enrollment's refusals."""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.core.identity import next_operation, signing_bytes
from homeport.crypto.keys import did_key
from homeport.crypto.signing import sign
from homeport.repo import walk
from homeport.sync.auth import authorization
from tests.provider.conftest import API, BASE, SITE_V1, Home, World


@pytest.fixture
def two(world: World) -> tuple[Home, Home]:
    alice = world.enrolled("alice")
    alice.write_site(SITE_V1)
    assert alice.publish(world.client, alice.snapshot()).status_code == 200
    bob = world.enrolled("bob")
    return alice, bob


def test_unsigned_requests_are_refused(world: World, two: tuple[Home, Home]) -> None:
    for method, path in [("GET", "/tenant"), ("POST", "/publish"), ("GET", "/bundle")]:
        answer = world.client.request(method, API + path)
        assert answer.status_code == 401, path
        assert answer.json()["error"] == "unauthorized"


def test_a_stranger_with_a_valid_signature_is_refused(world: World, two: tuple[Home, Home]) -> None:
    stranger = world.home()  # an identity that never enrolled

    answer = stranger.request(world.client, "GET", "/tenant")

    assert answer.status_code == 401


def test_signing_for_another_tenant_with_ones_own_key_is_refused(
    world: World, two: tuple[Home, Home]
) -> None:
    alice, bob = two
    for method, path, doc in [
        ("GET", "/tenant", None),
        ("POST", "/rollback", {"seq": 1}),
        ("DELETE", "/tenant", None),
        ("GET", "/bundle", None),
    ]:
        body = b"" if doc is None else json.dumps(doc).encode()
        header = authorization(bob.key, alice.did, method, API + path, body, audience=bob.audience)
        answer = world.client.request(
            method, API + path, content=body, headers={"Authorization": header}
        )
        assert answer.status_code == 401, path
    assert world.get(f"alice.{BASE}", "/").status_code == 200


def test_a_tenant_cannot_publish_or_read_another_tenants_objects(
    world: World, two: tuple[Home, Home]
) -> None:
    alice, bob = two
    head = alice.repo.head()
    assert head is not None
    ids = [o.hex() for o in walk.reachable(alice.repo, head.id)]

    fetched = bob.request(world.client, "POST", "/objects/fetch", {"ids": ids})
    missing = bob.request(world.client, "POST", "/objects/missing", {"ids": ids})
    bob.upload(world.client, alice.pack([bytes.fromhex(i) for i in ids]))
    published = bob.request(world.client, "POST", "/publish", alice.publish_doc(head))

    assert fetched.status_code == 200 and fetched.content == b""
    assert len(missing.json()["missing"]) == len(ids)
    assert published.status_code == 400  # alice's commit, signed by alice's identity
    assert world.get(f"bob.{BASE}", "/").status_code == 404
    assert bob.request(world.client, "POST", "/rollback", {"seq": 1}).status_code == 404
    assert bob.request(world.client, "DELETE", "/tenant").status_code == 200
    assert world.get(f"alice.{BASE}", "/").status_code == 200


def test_a_replayed_request_is_refused(world: World, two: tuple[Home, Home]) -> None:
    alice, _ = two
    headers = alice.sign("GET", f"{API}/tenant")

    first = world.client.get(f"{API}/tenant", headers=headers)
    again = world.client.get(f"{API}/tenant", headers=headers)

    assert first.status_code == 200
    assert again.status_code == 401 and again.json()["error"] == "replayed"


def test_a_stale_or_tampered_request_is_refused(world: World, two: tuple[Home, Home]) -> None:
    alice, _ = two
    stale = alice.sign("GET", f"{API}/tenant", now_ms=int(time.time() * 1000) - 600_000)
    body = json.dumps({"seq": 1}).encode()
    signed = alice.sign("POST", f"{API}/rollback", body)

    old = world.client.get(f"{API}/tenant", headers=stale)
    changed = world.client.post(f"{API}/rollback", content=b'{"seq": 2}', headers=signed)
    elsewhere = world.client.post(f"{API}/publish", content=body, headers=signed)

    assert old.status_code == 401
    assert changed.status_code == 401
    assert elsewhere.status_code == 401


def test_a_key_the_identity_never_authorised_is_refused(
    world: World, two: tuple[Home, Home]
) -> None:
    alice, _ = two
    header = authorization(
        Ed25519PrivateKey.generate(), alice.did, "GET", f"{API}/tenant", audience=alice.audience
    )

    assert world.client.get(f"{API}/tenant", headers={"Authorization": header}).status_code == 401


def test_a_rotated_key_is_announced_with_the_longer_log(world: World) -> None:
    home = world.home()
    root = Ed25519PrivateKey.generate()
    home.did = did_key(root.public_key())
    home.operations = _log(root, [home.signer.key_did])
    assert world.enroll(home, "carol").status_code == 201
    new_key = Ed25519PrivateKey.generate()
    longer = _log(root, [home.signer.key_did, did_key(new_key.public_key())])
    old_key, home.key = home.key, new_key

    before = home.request(world.client, "GET", "/tenant")
    announced = home.request(world.client, "POST", "/identity", {"operations": longer})
    after = home.request(world.client, "GET", "/tenant")
    home.key = old_key
    retired = home.request(world.client, "GET", "/tenant")

    assert before.status_code == 401
    assert announced.status_code == 200
    assert after.status_code == 200
    assert retired.status_code == 401
    root_signed = authorization(root, home.did, "GET", f"{API}/tenant", audience=home.audience)
    answer = world.client.get(f"{API}/tenant", headers={"Authorization": root_signed})
    assert answer.status_code == 200


def _log(root: Ed25519PrivateKey, keys: list[str]) -> list[dict[str, object]]:
    ops: list[dict[str, object]] = []
    for key in keys:
        op = next_operation(ops, key, 1_795_400_000_000)  # type: ignore[arg-type]
        op["sig"] = sign(root, signing_bytes(op))
        ops.append(op)
    return ops


# --- enrollment --------------------------------------------------------------------------------
def test_an_invite_is_used_once(world: World) -> None:
    code = world.invite()
    first, second = world.home(), world.home()

    assert (
        world.client.post(f"{API}/enroll", json=world.enroll_doc(first, code, "a")).status_code
        == 201
    )
    again = world.client.post(f"{API}/enroll", json=world.enroll_doc(second, code, "b"))

    assert again.status_code == 403


def test_unknown_and_expired_codes_are_403(world: World) -> None:
    home = world.home()
    world.db.add_invite("old", None, 10, 0, 1)

    unknown = world.client.post(f"{API}/enroll", json=world.enroll_doc(home, "nope", "a"))
    expired = world.client.post(f"{API}/enroll", json=world.enroll_doc(home, "old", "a"))

    assert unknown.status_code == 403 and expired.status_code == 403


def test_a_body_with_nan_is_not_json(world: World) -> None:
    """Bodies go through the one strict JSON parser (homeport.jsonio): NaN is not JSON."""
    home = world.home()
    doc = world.enroll_doc(home, world.invite(), "alice")
    raw = json.dumps(dict(doc, extra=float("nan"))).encode()
    assert b"NaN" in raw

    answer = world.client.post(
        f"{API}/enroll", content=raw, headers={"Content-Type": "application/json"}
    )

    assert answer.status_code == 400
    assert answer.json()["error"] == "bad-request"
    assert "not JSON" in answer.json()["message"]


def test_a_challenge_is_used_once_and_must_be_signed(world: World) -> None:
    home = world.home()
    doc = world.enroll_doc(home, world.invite(), "alice")
    forged = dict(doc, sig=sign(Ed25519PrivateKey.generate(), b"whatever"))

    assert world.client.post(f"{API}/enroll", json=forged).status_code == 401
    doc2 = world.enroll_doc(home, world.invite(), "alice")
    assert world.client.post(f"{API}/enroll", json=doc2).status_code == 201
    replay = dict(doc2, code=world.invite())
    assert world.client.post(f"{API}/enroll", json=replay).status_code == 401


def test_names_and_identities_are_unique(world: World) -> None:
    alice = world.enrolled("alice")
    other = world.home()

    taken = world.client.post(
        f"{API}/enroll", json=world.enroll_doc(other, world.invite(), "alice")
    )
    twice = world.client.post(
        f"{API}/enroll", json=world.enroll_doc(alice, world.invite(), "al2")
    )
    bad = world.client.post(f"{API}/enroll", json=world.enroll_doc(other, world.invite(), "A B"))

    assert taken.status_code == 409 and twice.status_code == 409
    assert bad.status_code == 400


def test_the_invites_name_wins(world: World) -> None:
    home = world.home()
    code = world.invite(name="reserved")

    answer = world.client.post(f"{API}/enroll", json=world.enroll_doc(home, code, "other"))

    assert answer.status_code == 201
    assert answer.json() == {
        "tenant": "reserved",
        "site": f"https://reserved.{BASE}/",
        "quota": 10**9,
    }
