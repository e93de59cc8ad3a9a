"""Delegations and tokens at the provider: the list a home pushes, and the ``Grants`` port that
checks each one again on every use (signature, audience, expiry, revocation). Both engines."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from homeport.crypto.delegations import (
    INDIEAUTH_TOKENS,
    TOKEN,
    new_token,
    sign_delegation,
    token_hash,
)
from homeport.interop.ports import Grants
from homeport.provider.grants import ProviderGrants
from homeport.sync.auth import origin

from .conftest import Home, World

DAY = 86_400_000


def now() -> int:
    return int(time.time() * 1000)


def port(world: World) -> ProviderGrants:
    grants = world.app.server.config.app.state.ports.grants
    assert isinstance(grants, ProviderGrants)
    return grants


def token_doc(
    home: Home,
    audience: str,
    secret: str,
    scope: list[str],
    *,
    expires: int | None = None,
    key: Ed25519PrivateKey | None = None,
    **kw: Any,
) -> dict[str, Any]:
    params = {"hash": token_hash(secret), "scope": scope, "client_id": None, "me": None}
    return sign_delegation(
        key or home.key, home.did, audience, TOKEN, params,
        issued=now(), expires=expires, **kw,
    )


def push(
    world: World, home: Home, docs: list[dict[str, Any]], revoked: list[str] | None = None,
    issued: int | None = None,
) -> Any:
    body = {"issued": issued or now(), "delegations": docs, "revoked": revoked or []}
    return home.request(world.client, "POST", "/delegations", body)


@pytest.fixture
def aud(world: World) -> str:
    return origin(str(world.client.base_url))


def test_the_port_is_the_contract(world: World) -> None:
    grants: Grants = port(world)  # mypy checks the protocol; this checks it is wired
    assert grants.token("nobody", "hpt_x") is None


def test_a_pushed_token_works_and_only_its_secret(world: World, alice: Home, aud: str) -> None:
    secret = new_token()
    doc = token_doc(alice, aud, secret, ["create", "update"])
    answer = push(world, alice, [doc])
    assert answer.status_code == 200, answer.text
    assert answer.json()["delegations"] == 1
    grant = port(world).token("alice", secret)
    assert grant is not None
    assert grant.id == doc["id"] and grant.tenant == "alice"
    assert grant.scope == {"create", "update"} and grant.expires is None
    assert port(world).token("alice", new_token()) is None
    assert port(world).token("alice", secret + "x") is None
    assert port(world).token("bob", secret) is None  # another tenant's name


def test_a_forged_signature_is_refused_and_nothing_changes(
    world: World, alice: Home, aud: str
) -> None:
    good = new_token()
    assert push(world, alice, [token_doc(alice, aud, good, ["create"])]).status_code == 200
    secret = new_token()
    forged = token_doc(alice, aud, secret, ["create"])
    forged["params"]["scope"] = ["create", "delete"]  # changed after signing
    answer = push(world, alice, [forged])
    assert answer.status_code == 400
    assert answer.json()["error"] == "bad-delegation"
    assert "bad signature" in answer.json()["message"]
    assert port(world).token("alice", secret) is None
    assert port(world).token("alice", good) is not None  # the old list still holds


def test_signed_by_a_key_that_is_not_the_tenants(world: World, alice: Home, aud: str) -> None:
    stranger = Ed25519PrivateKey.generate()
    secret = new_token()
    answer = push(world, alice, [token_doc(alice, aud, secret, ["create"], key=stranger)])
    assert answer.status_code == 400
    assert "not in force" in answer.json()["message"]
    assert port(world).token("alice", secret) is None


def test_another_tenants_delegation_is_refused(world: World, alice: Home, aud: str) -> None:
    bob = world.enrolled("bob")
    secret = new_token()
    answer = push(world, alice, [token_doc(bob, aud, secret, ["create"])])
    assert answer.status_code == 400
    assert "another identity" in answer.json()["message"]
    assert port(world).token("alice", secret) is None
    assert port(world).token("bob", secret) is None


def test_another_providers_audience_is_refused(world: World, alice: Home) -> None:
    secret = new_token()
    elsewhere = token_doc(alice, "https://other-provider.example:443", secret, ["create"])
    answer = push(world, alice, [elsewhere])
    assert answer.status_code == 400
    assert "not this provider" in answer.json()["message"]
    assert port(world).token("alice", secret) is None


def test_an_audience_no_longer_served_is_refused_on_use(
    world: World, alice: Home, aud: str
) -> None:
    """With public addresses configured, a delegation for an address the provider no longer
    answers as stops working (checked on use, not only on arrival)."""
    secret = new_token()
    assert push(world, alice, [token_doc(alice, aud, secret, ["create"])]).status_code == 200
    settings = world.settings.__class__(
        **{**world.settings.__dict__, "provider_public_url": ("https://new.example",)}
    )
    moved = ProviderGrants(world.db, settings, now)
    assert moved.token("alice", secret) is None
    assert port(world).token("alice", secret) is not None


def test_expired_tokens_and_delegations_are_refused(world: World, alice: Home, aud: str) -> None:
    soon, gone = new_token(), new_token()
    in_a_minute = now() + 60_000
    docs = [
        token_doc(alice, aud, soon, ["create"], expires=in_a_minute),
        token_doc(alice, aud, gone, ["create"], expires=now() - 1),
        sign_delegation(alice.key, alice.did, aud, INDIEAUTH_TOKENS, {"scopes": ["create"]},
                        issued=now(), expires=in_a_minute),
    ]
    answer = push(world, alice, docs)
    assert answer.status_code == 200, answer.text
    assert answer.json()["delegations"] == 2  # the expired one is not kept
    assert port(world).token("alice", gone) is None
    assert port(world).token("alice", soon) is not None
    assert port(world).delegation("alice", INDIEAUTH_TOKENS) is not None
    later = ProviderGrants(world.db, world.settings, lambda: in_a_minute)
    assert later.token("alice", soon) is None
    assert later.delegation("alice", INDIEAUTH_TOKENS) is None


def test_revoked_by_a_newer_list(world: World, alice: Home, aud: str) -> None:
    keep, drop = new_token(), new_token()
    first = [token_doc(alice, aud, keep, ["create"]), token_doc(alice, aud, drop, ["create"])]
    assert push(world, alice, first).status_code == 200
    assert port(world).token("alice", drop) is not None
    second = push(world, alice, [first[0]], revoked=[first[1]["id"]])
    assert second.status_code == 200, second.text
    assert port(world).token("alice", drop) is None
    assert port(world).token("alice", keep) is not None


def test_an_older_list_cannot_undo_a_newer_one(world: World, alice: Home, aud: str) -> None:
    secret = new_token()
    doc = token_doc(alice, aud, secret, ["create"])
    stamp = now()
    assert push(world, alice, [], issued=stamp).status_code == 200
    stale = push(world, alice, [doc], issued=stamp - 1000)
    assert stale.status_code == 409
    assert stale.json()["error"] == "stale-list"
    assert port(world).token("alice", secret) is None


def test_a_suspended_tenants_grants_are_refused(world: World, alice: Home, aud: str) -> None:
    secret = new_token()
    assert push(world, alice, [token_doc(alice, aud, secret, ["create"])]).status_code == 200
    world.db.set_state("alice", "suspended")
    assert port(world).token("alice", secret) is None


def test_tokens_issued_here_hold_only_under_the_delegation(
    world: World, alice: Home, aud: str
) -> None:
    grants = port(world)
    with pytest.raises(PermissionError):
        grants.issue_token("alice", ["create"], client_id="https://app.example/")
    power = sign_delegation(alice.key, alice.did, aud, INDIEAUTH_TOKENS,
                            {"scopes": ["create", "media"]}, issued=now(), expires=now() + DAY)
    assert push(world, alice, [power]).status_code == 200
    with pytest.raises(PermissionError, match="delete"):
        grants.issue_token("alice", ["create", "delete"])
    secret, grant = grants.issue_token(
        "alice", ["create"], client_id="https://app.example/", me="https://alice.prov.test/",
        expires=now() + 10 * DAY,
    )
    assert grant.expires == power["expires"]  # never outlives the delegation
    found = grants.token("alice", secret)
    assert found is not None and found.client_id == "https://app.example/"
    assert found.me == "https://alice.prov.test/" and found.scope == {"create"}
    # the home learns of it with the next push, and can revoke it
    answer = push(world, alice, [power])
    here = answer.json()["issued_here"]
    assert [h["id"] for h in here] == [grant.id]
    assert here[0]["scope"] == ["create"] and here[0]["revoked"] is None
    assert push(world, alice, [power], revoked=[grant.id]).status_code == 200
    assert grants.token("alice", secret) is None
    assert push(world, alice, [power]).json()["issued_here"][0]["revoked"] is not None
    # a second token, then the delegation itself is withdrawn: the token stops with it
    other, _ = grants.issue_token("alice", ["media"])
    assert grants.token("alice", other) is not None
    assert push(world, alice, []).status_code == 200
    assert grants.token("alice", other) is None
    assert grants.delegation("alice", INDIEAUTH_TOKENS) is None


def test_a_client_revokes_its_own_token(world: World, alice: Home, aud: str) -> None:
    secret = new_token()
    doc = token_doc(alice, aud, secret, ["create"])
    assert push(world, alice, [doc]).status_code == 200
    assert port(world).revoke_token("alice", secret) is True
    assert port(world).token("alice", secret) is None
    assert push(world, alice, [doc]).status_code == 200  # the home's list names it again
    assert port(world).token("alice", secret) is None


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"delegations": []}',
        b'{"issued": "soon", "delegations": []}',
        b'{"issued": 1, "delegations": {}}',
        b'{"issued": 1, "delegations": [], "revoked": [1]}',
        b'{"issued": 1, "delegations": [{"type": "homeport-delegation"}]}',
        b'{"issued": 1, "delegations": ["x"]}',
    ],
)
def test_bad_lists_answer_400(world: World, alice: Home, body: bytes) -> None:
    headers = alice.sign("POST", "/_homeport/v1/delegations", body,
                         audience=str(world.client.base_url))
    answer = world.client.post("/_homeport/v1/delegations", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] in ("bad-request", "bad-delegation")


def test_an_unsigned_list_is_refused(world: World, alice: Home) -> None:
    answer = world.client.post(
        "/_homeport/v1/delegations", json={"issued": 1, "delegations": []}
    )
    assert answer.status_code == 401


def test_one_token_per_authorization_code(world: World, alice: Home, aud: str) -> None:
    power = sign_delegation(alice.key, alice.did, aud, INDIEAUTH_TOKENS, {"scopes": ["create"]},
                            issued=now(), expires=now() + DAY)
    assert push(world, alice, [power]).status_code == 200
    grants = port(world)
    first = grants.issue("alice", grant_id="code-1", scope=frozenset({"create"}),
                         expires=now() + DAY, client_id="https://app.example/", me=None)
    assert first is not None and grants.token("alice", first) is not None
    again = grants.issue("alice", grant_id="code-1", scope=frozenset({"create"}),
                         expires=now() + DAY, client_id="https://app.example/", me=None)
    assert again is None
    assert grants.revoke("alice", first) is True
    assert grants.token("alice", first) is None
