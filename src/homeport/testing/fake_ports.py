"""In-memory provider ports (``interop.ports``) for protocol tests, and a loopback server that
mounts a protocol's routes over them. They follow the ports' contracts, nothing more: the real
provider's implementations are tested against the same protocols' tests once wired."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from homeport.interop import ports


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class FakeGrants:
    """Tokens and delegations of any number of tenants; also a ``TokenIssuer``."""

    clock: Any = now_ms
    tokens: dict[str, ports.TokenGrant] = field(default_factory=dict)
    delegations: dict[tuple[str, str], ports.Delegation] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @staticmethod
    def _key(tenant: str, token: str) -> str:
        return tenant + "\0" + hashlib.sha256(token.encode()).hexdigest()

    def token(self, tenant: str, token: str) -> ports.TokenGrant | None:
        found = self.tokens.get(self._key(tenant, token))
        if found is None or (found.expires is not None and found.expires <= self.clock()):
            return None
        return found

    def delegation(self, tenant: str, power: str) -> ports.Delegation | None:
        found = self.delegations.get((tenant, power))
        if found is None or (found.expires and found.expires <= self.clock()):
            return None
        return found

    def delegate(
        self, tenant: str, power: str, params: Mapping[str, Any], expires: int = 0
    ) -> ports.Delegation:
        made = ports.Delegation(secrets.token_hex(8), tenant, power, dict(params), expires)
        self.delegations[(tenant, power)] = made
        return made

    def revoke_delegation(self, tenant: str, power: str) -> None:
        self.delegations.pop((tenant, power), None)

    def issue_token(
        self,
        tenant: str,
        scope: Iterable[str],
        *,
        client_id: str | None = None,
        me: str | None = None,
        expires: int | None = None,
    ) -> tuple[str, ports.TokenGrant]:
        """As the provider's: within the ``indieauth-tokens`` delegation in force."""
        parent = self.delegation(tenant, "indieauth-tokens")
        wanted = frozenset(scope)
        if parent is None or not wanted <= set(parent.params.get("scopes", [])):
            raise PermissionError("the home does not let this provider grant that")
        if parent.expires:
            expires = parent.expires if expires is None else min(expires, parent.expires)
        value = secrets.token_urlsafe(32)
        grant = ports.TokenGrant(secrets.token_hex(8), tenant, wanted, expires, client_id, me)
        self.tokens[self._key(tenant, value)] = grant
        return value, grant

    def add_token(self, tenant: str, scope: frozenset[str], expires: int | None) -> str:
        value = secrets.token_urlsafe(32)
        grant = ports.TokenGrant(secrets.token_hex(8), tenant, scope, expires)
        self.tokens[self._key(tenant, value)] = grant
        return value

    def revoke_token(self, tenant: str, token: str) -> bool:
        return self.tokens.pop(self._key(tenant, token), None) is not None

    def expire(self, tenant: str, token: str) -> None:
        key = self._key(tenant, token)
        self.tokens[key] = replace(self.tokens[key], expires=self.clock() - 1)


@dataclass
class FakeOnce:
    seen: dict[str, int] = field(default_factory=dict)
    keys: dict[str, bytes] = field(default_factory=dict)
    clock: Any = now_ms
    lock: threading.Lock = field(default_factory=threading.Lock)

    def secret(self, purpose: str) -> bytes:
        return self.keys.setdefault(purpose, secrets.token_bytes(32))

    def first_use(self, key: str, expires: int) -> bool:
        with self.lock:
            now = self.clock()
            for old in [k for k, v in self.seen.items() if v < now]:
                del self.seen[old]
            if key in self.seen:
                return False
            self.seen[key] = expires
            return True


@dataclass
class FakeSites:
    """Tenants by host (``alice.localhost:8123``)."""

    hosts: dict[str, ports.TenantRef] = field(default_factory=dict)
    files: dict[tuple[str, str], bytes] = field(default_factory=dict)
    """(tenant, path in the live tree) → bytes: what a test publishes."""

    def tenant_for_host(self, host: str) -> ports.TenantRef | None:
        return self.hosts.get(host.lower())

    def live_path(self, tenant: str, path: str) -> bool:
        return False

    def live_file(self, tenant: str, rel: str, limit: int) -> bytes | None:
        found = self.files.get((tenant, rel))
        return found if found is not None and len(found) <= limit else None


@dataclass
class FakeInbox:
    items: dict[tuple[str, str], tuple[str, Mapping[str, Any], bytes]] = field(default_factory=dict)
    results: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    homes: set[str] = field(default_factory=set)
    """Tenants whose home counts as connected (a test that answers for the home adds it)."""

    def put(
        self, tenant: str, kind: str, meta: Mapping[str, Any], body: bytes, *, item_id: str
    ) -> str:
        self.items.setdefault((tenant, item_id), (kind, meta, body))
        return item_id

    def result(self, tenant: str, item_id: str) -> Mapping[str, Any] | None:
        return self.results.get((tenant, item_id))

    def connected(self, tenant: str) -> bool:
        return tenant in self.homes


@dataclass
class FakeFollowers:
    rows: dict[tuple[str, str], ports.Follower] = field(default_factory=dict)
    blocked: dict[str, frozenset[str]] = field(default_factory=dict)

    def save(self, follower: ports.Follower) -> bool:
        key = (follower.tenant, follower.actor)
        new = key not in self.rows
        if not new:
            follower = replace(follower, created=self.rows[key].created)
        self.rows[key] = follower
        return new

    def remove(self, tenant: str, actor: str) -> bool:
        return self.rows.pop((tenant, actor), None) is not None

    def get(self, tenant: str, actor: str) -> ports.Follower | None:
        return self.rows.get((tenant, actor))

    def of(self, tenant: str, state: str | None = ports.ACCEPTED) -> list[ports.Follower]:
        found = [f for f in self.rows.values()
                 if f.tenant == tenant and (state is None or f.state == state)]
        return sorted(found, key=lambda f: (f.created, f.actor))

    def count(self, tenant: str, state: str | None = ports.ACCEPTED) -> int:
        return len(self.of(tenant, state))

    def inboxes(self, tenant: str) -> list[str]:
        return sorted({f.delivery_inbox for f in self.of(tenant)})

    def add_missing(self, tenant: str, followers: Iterable[ports.Follower]) -> int:
        given = list(followers)
        if any(f.tenant != tenant for f in given):
            raise ValueError("every follower must be of this tenant")
        fresh = {(f.tenant, f.actor): f for f in given if (f.tenant, f.actor) not in self.rows}
        self.rows.update(fresh)
        return len(fresh)

    def set_blocks(self, tenant: str, blocked: Iterable[str]) -> None:
        self.blocked[tenant] = frozenset(blocked)

    def blocks(self, tenant: str) -> frozenset[str]:
        return self.blocked.get(tenant, frozenset())


@dataclass
class FakeProvider:
    """One provider's ports, all in memory, and where its server listens."""

    grants: FakeGrants
    sites: FakeSites
    once: FakeOnce
    inbox: FakeInbox
    port: int = 0
    followers: FakeFollowers = field(default_factory=FakeFollowers)
    skew: int = 0
    """Milliseconds added to the clock: a test moves time forward with it."""

    def __post_init__(self) -> None:
        self.grants.clock = self.once.clock = self.now

    def now(self) -> int:
        return now_ms() + self.skew

    def provider_ports(self, fetch_allow_private: bool = True) -> ports.ProviderPorts:
        return ports.ProviderPorts(
            inbox=self.inbox,
            grants=self.grants,
            sites=self.sites,
            clock=self.now,
            fetch_allow_private=fetch_allow_private,
            tokens=self.grants,
            once=self.once,
            followers=self.followers,
        )

    def add_tenant(self, name: str, did: str = "did:key:z6Mk-test") -> ports.TenantRef:
        host = f"{name}.localhost:{self.port}"
        ref = ports.TenantRef(name, did, f"http://{host}")
        self.sites.hosts[host] = ref
        return ref


@contextmanager
def serve_routes(routes: list[Any]) -> Iterator[FakeProvider]:
    """``routes`` over fake ports, served by uvicorn on a free loopback port in a thread."""
    from starlette.applications import Starlette

    from homeport.testing.live import free_port, serving_in_thread

    provider = FakeProvider(FakeGrants(), FakeSites(), FakeOnce(), FakeInbox(), free_port())
    app = Starlette(routes=routes)
    app.state.ports = provider.provider_ports()
    with serving_in_thread(app, provider.port, "the loopback server"):
        yield provider
