"""Custom domains: claimed, proven by TXT record or token file, then served and allowed TLS."""

from __future__ import annotations

import pytest

from tests.provider.conftest import API, BASE, Home, World


def tls(world: World, domain: str) -> int:
    answer = world.client.get(f"{API}/tls-allowed", params={"domain": domain})
    return int(answer.status_code)


def test_a_claimed_domain_is_not_served_until_verified_by_txt(world: World, alice: Home) -> None:
    claim = alice.request(world.client, "POST", "/domains", {"domain": "Alice.Example."})

    assert claim.status_code == 200
    token = claim.json()["token"]
    assert claim.json()["txt"] == f'_homeport.alice.example TXT "homeport={token}"'
    assert claim.json()["file"] == "/.well-known/homeport"
    assert world.get("alice.example", "/").status_code == 404
    assert tls(world, "alice.example") == 404
    early = alice.request(world.client, "POST", "/domains/verify", {"domain": "alice.example"})
    assert early.status_code == 422 and early.json()["error"] == "not-verified"

    world.verifiers.txt["_homeport.alice.example"] = ["v=spf1", f"homeport={token}"]
    done = alice.request(world.client, "POST", "/domains/verify", {"domain": "alice.example"})

    assert done.status_code == 200 and done.json() == {"domain": "alice.example", "verified": True}
    assert "Alice v1" in world.get("alice.example", "/").text
    assert tls(world, "alice.example") == 200
    doc = alice.request(world.client, "GET", "/tenant").json()
    assert doc["domains"] == [{"domain": "alice.example", "verified": True}]


def test_a_domain_can_be_verified_by_its_token_file(world: World, alice: Home) -> None:
    token = alice.request(world.client, "POST", "/domains", {"domain": "a.example"}).json()["token"]
    world.verifiers.files["a.example"] = token + "\n"

    done = alice.request(world.client, "POST", "/domains/verify", {"domain": "a.example"})

    assert done.status_code == 200
    assert world.get("a.example", "/").status_code == 200


def test_a_verified_domain_cannot_be_taken_by_another_tenant(world: World, alice: Home) -> None:
    token = alice.request(world.client, "POST", "/domains", {"domain": "a.example"}).json()["token"]
    world.verifiers.txt["_homeport.a.example"] = [f"homeport={token}"]
    alice.request(world.client, "POST", "/domains/verify", {"domain": "a.example"})
    bob = world.enrolled("bob")

    taken = bob.request(world.client, "POST", "/domains", {"domain": "a.example"})
    not_his = bob.request(world.client, "POST", "/domains/verify", {"domain": "a.example"})

    assert taken.status_code == 409
    assert not_his.status_code == 404
    assert "Alice v1" in world.get("a.example", "/").text


def test_an_unverified_claim_does_not_block_the_real_owner(world: World, alice: Home) -> None:
    squatter = world.enrolled("bob")
    squatter.request(world.client, "POST", "/domains", {"domain": "a.example"})

    token = alice.request(world.client, "POST", "/domains", {"domain": "a.example"}).json()["token"]
    world.verifiers.txt["_homeport.a.example"] = [f"homeport={token}"]
    done = alice.request(world.client, "POST", "/domains/verify", {"domain": "a.example"})

    assert done.status_code == 200
    assert "Alice v1" in world.get("a.example", "/").text


@pytest.mark.parametrize("name", ["", "not a domain", "localhost", f"x.{BASE}", BASE, "a..b"])
def test_names_that_cannot_be_a_tenants_domain_are_400(
    world: World, alice: Home, name: str
) -> None:
    answer = alice.request(world.client, "POST", "/domains", {"domain": name})
    assert answer.status_code == 400


def test_tls_is_allowed_for_tenants_subdomains_only_while_active(world: World, alice: Home) -> None:
    assert tls(world, f"alice.{BASE}") == 200
    assert tls(world, f"nobody.{BASE}") == 404
    assert tls(world, "example.org") == 404
    assert tls(world, "") == 404
    world.db.set_state("alice", "suspended")
    assert tls(world, f"alice.{BASE}") == 404


def test_a_deleted_tenants_domain_answers_410(world: World, alice: Home) -> None:
    token = alice.request(world.client, "POST", "/domains", {"domain": "a.example"}).json()["token"]
    world.verifiers.txt["_homeport.a.example"] = [f"homeport={token}"]
    alice.request(world.client, "POST", "/domains/verify", {"domain": "a.example"})

    alice.request(world.client, "DELETE", "/tenant")

    assert world.get("a.example", "/").status_code == 410
    assert tls(world, "a.example") == 404


def test_www_of_a_verified_domain_redirects_to_it(world: World, alice: Home) -> None:
    token = alice.request(world.client, "POST", "/domains", {"domain": "a.example"}).json()["token"]
    world.verifiers.txt["_homeport.a.example"] = [f"homeport={token}"]
    alice.request(world.client, "POST", "/domains/verify", {"domain": "a.example"})

    answer = world.get("www.a.example", "/posts/hello/?x=1", **{"X-Forwarded-Proto": "https"})

    assert answer.status_code == 301
    assert answer.headers["location"] == "https://a.example/posts/hello/?x=1"
    assert tls(world, "www.a.example") == 200
    assert world.get("www.b.example", "/").status_code == 404


def test_www_of_a_verified_domain_gets_tls_even_when_another_tenant_claimed_it(
    world: World, alice: Home
) -> None:
    """The site server and Caddy's TLS question read one Host rule: a squatter's unverified
    claim on ``www.a.example`` does not stop the redirect, so it must not stop the certificate
    either (it did: TLS was refused for a name the site server redirects)."""
    squatter = world.enrolled("bob")
    squatter.request(world.client, "POST", "/domains", {"domain": "www.a.example"})
    token = alice.request(world.client, "POST", "/domains", {"domain": "a.example"}).json()["token"]
    world.verifiers.txt["_homeport.a.example"] = [f"homeport={token}"]
    alice.request(world.client, "POST", "/domains/verify", {"domain": "a.example"})

    assert world.get("www.a.example", "/").status_code == 301
    assert tls(world, "www.a.example") == 200
