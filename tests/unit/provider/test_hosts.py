"""The one Host → tenant rule (``provider/hosts.py``) over the reference tenant store."""

from __future__ import annotations

import pytest

from homeport.provider import hosts
from homeport.provider.tenantstore import MemoryTenants

BASE = "hp.example"


@pytest.fixture
def registry() -> MemoryTenants:
    store = MemoryTenants()
    for name, did in (("alice", "did:key:a"), ("bob", "did:key:b")):
        store.add_invite(f"code-{name}", name, 1000, 0, 10**12)
        store.enroll(f"code-{name}", name, did, [], 1000, 1)
    store.claim_domain("alice.example", "alice", "t", 2)
    store.verify_domain("alice.example")
    store.claim_domain("bob.example", "bob", "t", 2)  # claimed, never verified
    return store


@pytest.mark.parametrize(
    ("header", "host"),
    [("Alice.HP.example.:8443", "alice.hp.example"), ("[::1]:80", "[::1]"), (" x ", "x")],
)
def test_host_of_drops_case_port_and_trailing_dot(header: str, host: str) -> None:
    assert hosts.host_of(header) == host


@pytest.mark.parametrize(
    ("host", "tenant"),
    [
        (f"alice.{BASE}", "alice"),
        ("alice.example", "alice"),
        (f"www.alice.{BASE}", None),  # one label under the base, never two
        (f".{BASE}", None),
        (BASE, None),
        ("bob.example", None),  # a claim names no one until verified
        (f"alice.example.{BASE}", None),  # below the base only a label names a tenant
        ("www.alice.example", None),  # an alias, not a name: redirected, see www_alias
    ],
)
def test_which_tenant_a_host_names(registry: MemoryTenants, host: str, tenant: str | None) -> None:
    found = hosts.tenant_for_host(registry, BASE, host)
    assert (found.name if found else None) == tenant


def test_www_of_a_verified_domain_is_its_alias_and_gets_tls(registry: MemoryTenants) -> None:
    assert hosts.www_alias(registry, "www.alice.example") == "alice.example"
    assert hosts.www_alias(registry, "www.bob.example") is None
    assert hosts.serves(registry, BASE, "www.alice.example")
    assert not hosts.serves(registry, BASE, "www.bob.example")


def test_only_an_active_tenant_is_served(registry: MemoryTenants) -> None:
    assert hosts.serves(registry, BASE, f"bob.{BASE}")
    registry.set_state("alice", "suspended")
    assert not hosts.serves(registry, BASE, f"alice.{BASE}")
    assert not hosts.serves(registry, BASE, "www.alice.example")
    assert hosts.tenant_for_host(registry, BASE, "alice.example") is not None  # state: caller's
