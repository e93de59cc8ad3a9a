"""IndieAuth on the real provider, both engines: the home signs ``passkey`` and
``indieauth-tokens`` delegations and pushes them; a sign-in approved with that passkey gets a
token the provider's own grants accept, a code works once (across the provider's shared nonce
table), and revoking the delegation stops the token."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from homeport.crypto.delegations import INDIEAUTH_TOKENS, sign_delegation
from homeport.interop.indieauth import passkeys as pk
from homeport.interop.indieauth import rules
from homeport.provider.grants import ProviderGrants
from homeport.sync.auth import origin
from homeport.testing.authenticator import SoftAuthenticator
from homeport.testing.indieauth_client import parse_consent

from .conftest import Home, World

HOST = "alice.prov.test"
SITE = f"https://{HOST}/"
CLIENT = "https://app.example/"
REDIRECT = "https://app.example/callback"
VERIFIER = "v" * 50
DAY = 86_400_000


def now() -> int:
    return int(time.time() * 1000)


def delegate(world: World, home: Home, docs: list[dict[str, Any]], revoked: list[str]) -> None:
    body = {"issued": now(), "delegations": docs, "revoked": revoked}
    answer = home.request(world.client, "POST", "/delegations", body)
    assert answer.status_code == 200, answer.text


def grants(world: World) -> ProviderGrants:
    found = world.app.server.config.app.state.ports.grants
    assert isinstance(found, ProviderGrants)
    return found


@pytest.fixture
def owner(world: World, alice: Home) -> tuple[SoftAuthenticator, list[dict[str, Any]]]:
    key = SoftAuthenticator(SITE.rstrip("/"))
    aud = origin(str(world.client.base_url))
    docs = [
        sign_delegation(
            alice.key, alice.did, aud, pk.POWER, key.params(), issued=now(), expires=now() + DAY
        ),
        sign_delegation(
            alice.key,
            alice.did,
            aud,
            INDIEAUTH_TOKENS,
            {"scopes": ["create", "media"]},
            issued=now(),
            expires=now() + DAY,
        ),
    ]
    delegate(world, alice, docs, [])
    return key, docs


def sign_in(world: World, key: SoftAuthenticator) -> str:
    """Through the owner's approval to a code at the client's redirect_uri."""
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT,
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": rules.s256(VERIFIER),
            "code_challenge_method": "S256",
            "scope": "create media",
            "me": SITE,
        }
    )
    page = world.get(HOST, f"/_homeport/indieauth/auth?{query}")
    assert page.status_code == 200, page.text
    consent = parse_consent(page.text)
    assert consent.approve == SITE + "_homeport/indieauth/auth/approve"
    answer = world.client.post(
        "/_homeport/indieauth/auth/approve",
        json={"pending": consent.pending, "credential": key.assert_(consent.challenge)},
        headers={"Host": HOST},
    )
    assert answer.status_code == 200, answer.text
    location = answer.json()["location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)["code"][0]


def redeem(world: World, code: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT,
        "redirect_uri": REDIRECT,
        "code_verifier": VERIFIER,
    }
    return world.client.post("/_homeport/indieauth/token", data=form, headers={"Host": HOST})


def test_metadata_on_the_tenants_host(world: World, alice: Home) -> None:
    answer = world.get(HOST, "/_homeport/indieauth/metadata")
    assert answer.status_code == 200
    assert answer.json()["issuer"] == SITE
    assert answer.json()["token_endpoint"] == SITE + "_homeport/indieauth/token"
    assert world.get("nobody.prov.test", "/_homeport/indieauth/metadata").status_code == 404


def test_passkey_sign_in_issues_a_token_the_grants_accept(
    world: World, alice: Home, owner: tuple[SoftAuthenticator, list[dict[str, Any]]]
) -> None:
    key, docs = owner
    code = sign_in(world, key)
    answer = redeem(world, code)
    assert answer.status_code == 200, answer.text
    token = answer.json()
    assert token["me"] == SITE and set(token["scope"].split()) == {"create", "media"}
    grant = grants(world).token("alice", token["access_token"])
    assert grant is not None and grant.scope == {"create", "media"} and grant.client_id == CLIENT
    # the provider told the home (its inbox), so the home can list and revoke it
    assert [t["client_id"] for t in grants(world).issued_here("alice")] == [CLIENT]

    # Micropub at the same provider takes it (q=config is answered by the provider alone)
    micropub = {"Host": HOST, "Authorization": f"Bearer {token['access_token']}"}
    config = world.client.get("/_homeport/micropub?q=config", headers=micropub)
    assert config.status_code == 200, config.text
    assert config.json()["media-endpoint"] == SITE + "_homeport/media"

    again = redeem(world, code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"

    bearer = {"Host": HOST, "Authorization": f"Bearer {token['access_token']}"}
    seen = world.client.post(
        "/_homeport/indieauth/introspect", data={"token": token["access_token"]}, headers=bearer
    )
    assert seen.json()["active"] is True and seen.json()["client_id"] == CLIENT

    # the home revokes the power to issue tokens: what was issued under it stops at once
    delegate(world, alice, [docs[0]], [docs[1]["id"]])
    assert grants(world).token("alice", token["access_token"]) is None
    assert world.client.get("/_homeport/micropub?q=config", headers=micropub).status_code == 401
    refused = world.client.post(
        "/_homeport/indieauth/introspect", data={"token": token["access_token"]}, headers=bearer
    )
    assert refused.status_code == 401
    # and no new token is issued
    refused = redeem(world, sign_in(world, key))
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"


def test_revocation_by_the_client(
    world: World, alice: Home, owner: tuple[SoftAuthenticator, list[dict[str, Any]]]
) -> None:
    token = redeem(world, sign_in(world, owner[0])).json()["access_token"]
    answer = world.client.post(
        "/_homeport/indieauth/revoke", data={"token": token}, headers={"Host": HOST}
    )
    assert answer.status_code == 200
    assert grants(world).token("alice", token) is None


def test_without_a_passkey_delegation_only_the_home_approves(world: World, alice: Home) -> None:
    query = urlencode(
        {
            "response_type": "code",
            "client_id": CLIENT,
            "redirect_uri": REDIRECT,
            "state": "s",
            "code_challenge": rules.s256(VERIFIER),
            "code_challenge_method": "S256",
        }
    )
    page = world.get(HOST, f"/_homeport/indieauth/auth?{query}")
    # nobody can approve here with a passkey; only the home, through its admin page
    assert page.status_code == 200 and "No passkey is delegated" in page.text
    assert 'id="approve"' not in page.text and 'id="ask-home"' in page.text


def test_the_sealing_key_is_shared_and_kept_out_of_the_database(world: World, alice: Home) -> None:
    once = world.app.server.config.app.state.ports.once
    first = once.secret("indieauth")
    assert len(first) == 32
    assert (world.settings.data_dir / "indieauth.key").read_bytes() == first
    from homeport.provider.onetime import ProviderOnce

    other = ProviderOnce(world.db, world.settings.data_dir, now)  # another worker
    assert other.secret("indieauth") == first
    assert other.first_use("x", now() + 60_000) is True
    assert once.first_use("x", now() + 60_000) is False
