"""The ``TenantStore`` contract (``provider/tenantstore.py``) as a conformance suite; subclass
it and provide a ``tenants`` fixture::

    class TestMemoryTenants(TenantStoreConformance):
        @pytest.fixture
        def tenants(self):
            return MemoryTenants()

Every rule here is one a provider's security or a multi-node deployment leans on: an invite or
a challenge is used once, a nonce is a replay the second time whichever process saw it first,
the older handoff never wins, and a live site tree is never dropped.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

import pytest

from homeport.provider.db import ACTIVE, DELETED, SUSPENDED, HandoffOffer, ProviderStateError
from homeport.provider.tenantstore import TenantStore
from homeport.store.connection import DatabaseError

__all__ = ["TenantStoreConformance"]

REFUSED = (ProviderStateError, DatabaseError, sqlite3.IntegrityError)
"""What a write refused by a rule raises (SQLite's own error is not wrapped)."""
NOW = 1_700_000_000_000
DID = "did:key:z6MkTenantOne"
OPS: list[dict[str, Any]] = [{"op": "genesis", "key": "k1"}]


def _enroll(store: TenantStore, name: str = "alice", did: str = DID, code: str = "") -> None:
    code = code or f"code-{name}"
    store.add_invite(code, None, 1000, NOW, NOW + 60_000)
    store.enroll(code, name, did, OPS, 1000, NOW)


class TenantStoreConformance:
    """Tenants, invites, challenges, nonces, domains, handoffs and site trees."""

    def test_is_a_tenant_store(self, tenants: TenantStore) -> None:
        assert isinstance(tenants, TenantStore)

    def test_enroll_makes_an_active_tenant_and_uses_the_invite(self, tenants: TenantStore) -> None:
        tenants.add_invite("abc", "alice", 1000, NOW, NOW + 60_000)
        invite = tenants.invite("abc")
        assert invite is not None and invite.name == "alice" and invite.used_by is None
        assert tenants.invite("abc ") == invite  # codes are compared trimmed
        tenants.enroll("abc", "alice", DID, OPS, 1000, NOW)
        found = tenants.tenant("alice")
        assert found is not None
        assert (found.did, found.state, found.quota, found.usage) == (DID, ACTIVE, 1000, 0)
        assert found.operations == OPS and found.live_seq is None
        assert tenants.invite("abc").used_by == "alice"  # type: ignore[union-attr]
        assert tenants.tenant_by_did(DID) == found
        assert [t.name for t in tenants.tenants()] == ["alice"]
        with pytest.raises(ProviderStateError):
            tenants.enroll("abc", "bob", "did:key:other", OPS, 1000, NOW)
        assert tenants.tenant("bob") is None

    def test_one_invite_enrolls_one_tenant_under_a_race(self, tenants: TenantStore) -> None:
        tenants.add_invite("race", None, 1000, NOW, NOW + 60_000)
        results: list[str] = []

        def enroll(name: str) -> None:
            try:
                tenants.enroll("race", name, f"did:key:{name}", OPS, 1000, NOW)
                results.append(name)
            except REFUSED:
                results.append("refused")

        threads = [threading.Thread(target=enroll, args=(f"t{i}",)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        winners = [r for r in results if r != "refused"]
        assert len(results) == 6 and len(winners) == 1
        assert [t.name for t in tenants.tenants()] == winners

    def test_a_taken_name_is_refused(self, tenants: TenantStore) -> None:
        _enroll(tenants)
        tenants.add_invite("second", None, 1000, NOW, NOW + 60_000)
        with pytest.raises(REFUSED):
            tenants.enroll("second", "alice", "did:key:someone-else", OPS, 1000, NOW)
        assert tenants.tenant("alice").did == DID  # type: ignore[union-attr]

    def test_a_deleted_tenant_comes_back_under_its_name(self, tenants: TenantStore) -> None:
        _enroll(tenants)
        tenants.claim_domain("alice.example", "alice", "tok", NOW)
        tenants.set_state("alice", DELETED)
        assert tenants.tenant_by_did(DID).state == DELETED  # type: ignore[union-attr]
        _enroll(tenants, code="again")
        back = tenants.tenant("alice")
        assert back is not None and back.state == ACTIVE
        assert tenants.domains_of("alice") == []  # what the old tenant claimed is gone

    def test_state_usage_and_publishes(self, tenants: TenantStore) -> None:
        _enroll(tenants)
        tenants.set_state("alice", SUSPENDED)
        tenants.add_usage("alice", 300)
        tenants.add_usage("alice", 200)
        assert tenants.tenant("alice").usage == 500  # type: ignore[union-attr]
        tenants.set_usage("alice", 42)
        longer = [*OPS, {"op": "rotate", "key": "k2"}]
        tenants.published("alice", longer, 7, "blog", NOW + 5)
        found = tenants.tenant("alice")
        assert found is not None and found.state == SUSPENDED and found.usage == 42
        assert (found.operations, found.live_seq, found.site) == (longer, 7, "blog")
        assert found.last_publish == NOW + 5
        tenants.set_live("alice", None)
        tenants.set_operations("alice", OPS)
        found = tenants.tenant("alice")
        assert found is not None and found.live_seq is None and found.operations == OPS
        assert tenants.tenant("nobody") is None and tenants.tenant_by_did("did:key:x") is None

    def test_a_returned_tenant_is_a_copy(self, tenants: TenantStore) -> None:
        _enroll(tenants)
        found = tenants.tenant("alice")
        assert found is not None
        found.operations.append({"op": "forged"})
        assert tenants.tenant("alice").operations == OPS  # type: ignore[union-attr]

    def test_challenges_are_single_use_and_expire(self, tenants: TenantStore) -> None:
        tenants.add_challenge("c1", NOW + 100, NOW)
        tenants.add_challenge("c2", NOW + 100, NOW)
        assert tenants.challenges_pending(NOW) == 2
        assert tenants.take_challenge("c1", NOW)
        assert not tenants.take_challenge("c1", NOW)
        assert not tenants.take_challenge("c2", NOW + 101)  # expired
        assert not tenants.take_challenge("never", NOW)
        assert tenants.challenges_pending(NOW + 101) == 0

    def test_a_nonce_is_a_replay_the_second_time(self, tenants: TenantStore) -> None:
        assert tenants.remember_nonce("n1", NOW + 1000, NOW)
        assert not tenants.remember_nonce("n1", NOW + 1000, NOW + 1)
        assert tenants.remember_nonce("n2", NOW + 1000, NOW)
        # forgotten only once it has expired: then its timestamp is refused anyway
        assert tenants.remember_nonce("n1", NOW + 5000, NOW + 2000)

    def test_a_nonce_raced_by_many_threads_is_accepted_once(self, tenants: TenantStore) -> None:
        accepted: list[bool] = []

        def remember() -> None:
            accepted.append(tenants.remember_nonce("raced", NOW + 1000, NOW))

        threads = [threading.Thread(target=remember) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        assert sorted(accepted) == [False] * 7 + [True]

    def test_domains(self, tenants: TenantStore) -> None:
        _enroll(tenants)
        tenants.claim_domain("b.example", "alice", "t1", NOW)
        tenants.claim_domain("a.example", "alice", "t2", NOW)
        found = tenants.domain("b.example")
        assert found is not None and (found.tenant, found.token, found.verified) == (
            "alice", "t1", False)
        tenants.verify_domain("b.example")
        assert tenants.domain("b.example").verified  # type: ignore[union-attr]
        assert [d.domain for d in tenants.domains_of("alice")] == ["a.example", "b.example"]
        tenants.claim_domain("b.example", "bob", "t3", NOW)  # a new claim starts unverified
        again = tenants.domain("b.example")
        assert again is not None and again.tenant == "bob" and not again.verified
        assert tenants.domain("c.example") is None

    def test_the_older_handoff_never_wins(self, tenants: TenantStore) -> None:
        _enroll(tenants)
        longer = [*OPS, {"op": "rotate", "key": "k2"}]
        assert tenants.take_handoff(HandoffOffer("alice", 2, "k2", {"epoch": 2}, longer, OPS))
        assert tenants.handoff("alice") == {"epoch": 2}
        assert tenants.tenant("alice").operations == longer  # type: ignore[union-attr]
        older = HandoffOffer("alice", 1, "k1", {"epoch": 1}, longer, longer)
        assert not tenants.take_handoff(older)
        same_epoch = HandoffOffer("alice", 2, "k1", {"epoch": 2, "x": 1}, longer, longer)
        assert not tenants.take_handoff(same_epoch)
        # the log changed since the caller read it: nothing is kept
        assert not tenants.take_handoff(HandoffOffer("alice", 3, "k3", {"epoch": 3}, longer, OPS))
        assert not tenants.take_handoff(HandoffOffer("nobody", 1, "k1", {"epoch": 1}, OPS, OPS))
        assert tenants.handoff("alice") == {"epoch": 2}
        assert tenants.handoff("nobody") is None

    def test_site_trees_and_the_live_pointer(self, tenants: TenantStore) -> None:
        tenants.add_tree("alice", "1-aaaa", 1, 10, '{"seq": 1}')
        tenants.add_tree("alice", "2-bbbb", 2, 20, '{"seq": 2}')
        tenants.add_tree("alice", "2-cccc", 2, 30, '{"seq": 2, "again": true}')
        tenants.add_tree("bob", "1-dddd", 1, 5, "{}")
        assert tenants.tree("alice", "2-cccc") == '{"seq": 2, "again": true}'
        assert tenants.tree("bob", "2-cccc") is None  # another tenant's name sees nothing
        listed = sorted(tenants.trees("alice"), key=lambda t: t[2])
        assert [(s, n) for s, n, _ in listed] == [(1, "1-aaaa"), (2, "2-bbbb"), (2, "2-cccc")]
        assert sorted(tenants.tree_costs("alice")) == [10, 20, 30]
        assert tenants.live_tree("alice") is None
        assert not tenants.set_live_tree("alice", "1-dddd")  # bob's tree
        assert tenants.set_live_tree("alice", "2-bbbb")
        assert tenants.live_tree("alice") == "2-bbbb"
        tenants.drop_trees("alice", ["2-bbbb", "1-aaaa"])  # the live one stays
        assert sorted(n for _, n, _ in tenants.trees("alice")) == ["2-bbbb", "2-cccc"]
        tenants.drop_trees("alice", None)
        assert tenants.trees("alice") == [] and tenants.live_tree("alice") is None
        assert [n for _, n, _ in tenants.trees("bob")] == ["1-dddd"]
