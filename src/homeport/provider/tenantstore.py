"""The ``TenantStore`` seam: the provider's tenant registry (tenants, invites and enrollment
challenges, request nonces, domains, handoffs, and the shared sites' manifests).

``ProviderDB`` (``db.py``) is the store on SQLite and PostgreSQL, where the rest of the
provider's state (inboxes, queues) lives beside it; ``MemoryTenants`` is the reference the
shipped conformance suite (``testing/conformance_tenants.py``) checks them against. Several
provider nodes share one registry by sharing one PostgreSQL: a nonce seen by one node is a
replay at every other, an invite used on one is used on all.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Protocol, runtime_checkable

from homeport.provider.db import (
    ACTIVE,
    DELETED,
    Domain,
    HandoffOffer,
    Invite,
    ProviderStateError,
    Tenant,
    code_hash,
)
from homeport.store.connection import IntegrityError


@runtime_checkable
class TenantStore(Protocol):
    """Blocking calls (a database round trip): run them off the event loop on PostgreSQL."""

    @property
    def engine(self) -> str:
        """``sqlite``, ``postgresql`` or ``memory``."""

    def tenant(self, name: str) -> Tenant | None: ...
    def tenant_by_did(self, did: str) -> Tenant | None: ...
    def tenants(self) -> list[Tenant]: ...
    def set_state(self, name: str, state: str) -> None: ...
    def add_usage(self, name: str, delta: int) -> None: ...
    def set_usage(self, name: str, usage: int) -> None: ...
    def published(
        self, name: str, operations: list[dict[str, Any]], live_seq: int, site: str, now: int
    ) -> None: ...
    def set_operations(self, name: str, operations: list[dict[str, Any]]) -> None: ...
    def set_live(self, name: str, live_seq: int | None) -> None: ...
    def add_invite(
        self, code: str, name: str | None, quota: int, now: int, expires: int
    ) -> None: ...
    def invite(self, code: str) -> Invite | None: ...
    def enroll(
        self, code: str, name: str, did: str, operations: list[dict[str, Any]], quota: int,
        now: int,
    ) -> None: ...
    def add_challenge(self, challenge: str, expires: int, now: int) -> None: ...
    def take_challenge(self, challenge: str, now: int) -> bool: ...
    def challenges_pending(self, now: int) -> int: ...
    def remember_nonce(self, nonce: str, expires: int, now: int) -> bool: ...
    def domain(self, domain: str) -> Domain | None: ...
    def domains_of(self, tenant: str) -> list[Domain]: ...
    def claim_domain(self, domain: str, tenant: str, token: str, now: int) -> None: ...
    def verify_domain(self, domain: str) -> None: ...
    def handoff(self, name: str) -> dict[str, Any] | None: ...
    def take_handoff(self, offer: HandoffOffer) -> bool:
        """Keep ``offer`` when ``offer.taken`` says so, atomically; False: nothing changed."""
    def add_tree(self, tenant: str, name: str, seq: int, cost: int, manifest: str) -> None: ...
    def tree(self, tenant: str, name: str) -> str | None: ...
    def trees(self, tenant: str) -> list[tuple[int, str, int]]: ...
    def tree_costs(self, tenant: str) -> list[int]: ...
    def live_tree(self, tenant: str) -> str | None: ...
    def set_live_tree(self, tenant: str, name: str) -> bool: ...
    def drop_trees(self, tenant: str, names: list[str] | None) -> None: ...


class MemoryTenants:
    """Everything in dicts behind one lock; each method is one atomic step, as each of
    ``ProviderDB``'s is one transaction."""

    engine = "memory"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tenants: dict[str, Tenant] = {}
        self._invites: dict[str, Invite] = {}
        self._challenges: dict[str, int] = {}
        self._nonces: dict[str, int] = {}
        self._domains: dict[str, Domain] = {}
        self._handoffs: dict[str, tuple[int, dict[str, Any]]] = {}
        self._trees: dict[str, dict[str, tuple[int, int, int, str]]] = {}
        self._live: dict[str, str] = {}
        self._added = 0

    # --- tenants -------------------------------------------------------------------------
    def tenant(self, name: str) -> Tenant | None:
        with self._lock:
            return copy.deepcopy(self._tenants.get(name))

    def tenant_by_did(self, did: str) -> Tenant | None:
        with self._lock:
            found = [t for t in self._tenants.values() if t.did == did]
        found.sort(key=lambda t: (t.state != DELETED, t.created))
        return copy.deepcopy(found[-1]) if found else None

    def tenants(self) -> list[Tenant]:
        with self._lock:
            return [copy.deepcopy(self._tenants[n]) for n in sorted(self._tenants)]

    def _change(self, name: str, **fields: Any) -> None:
        with self._lock:
            found = self._tenants.get(name)
            if found is not None:
                values = {**found.__dict__, **fields}
                if "usage" in fields and callable(fields["usage"]):
                    values["usage"] = fields["usage"](found.usage)
                self._tenants[name] = Tenant(**values)

    def set_state(self, name: str, state: str) -> None:
        self._change(name, state=state)

    def add_usage(self, name: str, delta: int) -> None:
        self._change(name, usage=lambda held: held + delta)

    def set_usage(self, name: str, usage: int) -> None:
        self._change(name, usage=usage)

    def published(
        self, name: str, operations: list[dict[str, Any]], live_seq: int, site: str, now: int
    ) -> None:
        self._change(
            name, operations=copy.deepcopy(operations), live_seq=live_seq, site=site,
            last_publish=now,
        )

    def set_operations(self, name: str, operations: list[dict[str, Any]]) -> None:
        self._change(name, operations=copy.deepcopy(operations))

    def set_live(self, name: str, live_seq: int | None) -> None:
        self._change(name, live_seq=live_seq)

    # --- invites and enrollment ------------------------------------------------------------
    def add_invite(self, code: str, name: str | None, quota: int, now: int, expires: int) -> None:
        with self._lock:
            key = code_hash(code)
            if key in self._invites:
                raise ProviderStateError("this invite code exists already")
            self._invites[key] = Invite(name, quota, expires, None)

    def invite(self, code: str) -> Invite | None:
        with self._lock:
            return self._invites.get(code_hash(code))

    def enroll(
        self, code: str, name: str, did: str, operations: list[dict[str, Any]], quota: int,
        now: int,
    ) -> None:
        with self._lock:
            key = code_hash(code)
            invite = self._invites.get(key)
            if invite is None or invite.used_by is not None:
                raise ProviderStateError("invite already used")
            held = self._tenants.get(name)
            if held is not None and not (held.did == did and held.state == DELETED):
                raise IntegrityError(f"the name {name} is taken")
            self._invites[key] = Invite(invite.name, invite.quota, invite.expires, name)
            for domain in [d for d, v in self._domains.items() if v.tenant == name]:
                del self._domains[domain]
            self._handoffs.pop(name, None)
            self._tenants[name] = Tenant(
                name, did, copy.deepcopy(operations), quota, 0, ACTIVE, now, None, None, None
            )

    def add_challenge(self, challenge: str, expires: int, now: int) -> None:
        with self._lock:
            for value in [c for c, e in self._challenges.items() if e < now]:
                del self._challenges[value]
            self._challenges[challenge] = expires

    def take_challenge(self, challenge: str, now: int) -> bool:
        with self._lock:
            expires = self._challenges.get(challenge)
            if expires is None or expires < now:
                return False
            del self._challenges[challenge]
            return True

    def challenges_pending(self, now: int) -> int:
        with self._lock:
            return sum(1 for e in self._challenges.values() if e >= now)

    # --- replay protection -----------------------------------------------------------------
    def remember_nonce(self, nonce: str, expires: int, now: int) -> bool:
        with self._lock:
            for value in [n for n, e in self._nonces.items() if e < now]:
                del self._nonces[value]
            if nonce in self._nonces:
                return False
            self._nonces[nonce] = expires
            return True

    # --- domains ---------------------------------------------------------------------------
    def domain(self, domain: str) -> Domain | None:
        with self._lock:
            return self._domains.get(domain)

    def domains_of(self, tenant: str) -> list[Domain]:
        with self._lock:
            return sorted((d for d in self._domains.values() if d.tenant == tenant),
                          key=lambda d: d.domain)

    def claim_domain(self, domain: str, tenant: str, token: str, now: int) -> None:
        with self._lock:
            self._domains[domain] = Domain(domain, tenant, token, False)

    def verify_domain(self, domain: str) -> None:
        with self._lock:
            found = self._domains.get(domain)
            if found is not None:
                self._domains[domain] = Domain(found.domain, found.tenant, found.token, True)

    # --- handoffs --------------------------------------------------------------------------
    def handoff(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            found = self._handoffs.get(name)
            return None if found is None else copy.deepcopy(found[1])

    def take_handoff(self, offer: HandoffOffer) -> bool:
        with self._lock:
            tenant = self._tenants.get(offer.tenant)
            held = self._handoffs.get(offer.tenant)
            log = None if tenant is None else tenant.operations
            if tenant is None or not offer.taken(log, None if held is None else held[0]):
                return False
            self._handoffs[offer.tenant] = (offer.epoch, copy.deepcopy(offer.doc))
            operations = copy.deepcopy(offer.operations)
            self._tenants[offer.tenant] = Tenant(**{**tenant.__dict__, "operations": operations})
            return True

    # --- materialised sites ----------------------------------------------------------------
    def add_tree(self, tenant: str, name: str, seq: int, cost: int, manifest: str) -> None:
        with self._lock:
            trees = self._trees.setdefault(tenant, {})
            if name in trees:
                raise ProviderStateError(f"tree {name} exists already")
            self._added += 1
            trees[name] = (seq, self._added, cost, manifest)

    def tree(self, tenant: str, name: str) -> str | None:
        with self._lock:
            found = self._trees.get(tenant, {}).get(name)
            return None if found is None else found[3]

    def trees(self, tenant: str) -> list[tuple[int, str, int]]:
        with self._lock:
            return [(v[0], k, v[1]) for k, v in self._trees.get(tenant, {}).items()]

    def tree_costs(self, tenant: str) -> list[int]:
        with self._lock:
            return [v[2] for v in self._trees.get(tenant, {}).values()]

    def live_tree(self, tenant: str) -> str | None:
        with self._lock:
            return self._live.get(tenant)

    def set_live_tree(self, tenant: str, name: str) -> bool:
        with self._lock:
            if name not in self._trees.get(tenant, {}):
                return False
            self._live[tenant] = name
            return True

    def drop_trees(self, tenant: str, names: list[str] | None) -> None:
        with self._lock:
            trees = self._trees.get(tenant, {})
            if names is None:
                self._trees.pop(tenant, None)
                self._live.pop(tenant, None)
                return
            for name in names:
                if name != self._live.get(tenant):
                    trees.pop(name, None)


__all__ = ["MemoryTenants", "TenantStore"]
