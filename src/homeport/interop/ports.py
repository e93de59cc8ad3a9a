"""What the protocols need from a provider, and what an inbox item is at the home.

These are contracts between the protocol modules and the provider / the home's relay. The
provider implements ``Inbox``, ``Grants`` and ``Sites`` over its own database and live sites and
puts a ``ProviderPorts`` on ``app.state.ports``; the home's relay calls a ``Handler`` for each
item it receives, once per item id as far as it can tell, and handlers are written so that a
second call with the same item changes nothing (record ids derived from ``item.id``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

TENANT_PREFIX = "/_homeport"
"""Where, on a tenant's own host, the live endpoints are: ``/_homeport/micropub``,
``/_homeport/media``, ``/_homeport/webmention``, ``/_homeport/indieauth/…``,
``/_homeport/websub``. (``/_homeport/v1/`` stays the sync protocol, the same on every host.)"""


class InboxFull(Exception):
    """This tenant's inbox holds as much as the provider keeps for one tenant: answer 507,
    for this tenant only."""


@dataclass(frozen=True)
class TenantRef:
    """A tenant as the protocols see it: its name, identity, and its site's origin here."""

    name: str
    did: str
    origin: str
    """``https://alice.example.net`` (or the verified custom domain): where its site is served."""


class Inbox(Protocol):
    def put(
        self,
        tenant: str,
        kind: str,
        meta: Mapping[str, Any],
        body: bytes,
        *,
        item_id: str,
    ) -> str:
        """Queue an item for the home; durable when it returns. Idempotent on ``item_id``
        (a second put with the same id changes nothing and returns the same id). ``meta`` is
        what the provider may read and keep in clear (say which fields in docs/protocol.md);
        ``body`` is for the home only. Raises ``InboxFull``."""
        ...

    def result(self, tenant: str, item_id: str) -> Mapping[str, Any] | None:
        """What the home said when it acknowledged the item (its handler's return value), or
        None while it is not yet applied."""
        ...

    def connected(self, tenant: str) -> bool:
        """Whether the tenant's home is taking its inbox now (a relay poll open, or one that
        ended a few seconds ago): only then is it worth waiting for ``result``."""
        ...


@dataclass(frozen=True)
class TokenGrant:
    """A bearer token the home (or the provider, under a delegation) issued for a tenant."""

    id: str
    tenant: str
    scope: frozenset[str]
    expires: int | None
    """Milliseconds since the epoch, or None for no expiry."""
    client_id: str | None = None
    me: str | None = None


@dataclass(frozen=True)
class Delegation:
    """A power the home granted this provider for one tenant, checked on every use."""

    id: str
    tenant: str
    power: str
    params: Mapping[str, Any] = field(default_factory=dict)
    expires: int = 0


class Grants(Protocol):
    def token(self, tenant: str, token: str) -> TokenGrant | None:
        """The grant behind a bearer token, or None if unknown, revoked or expired."""
        ...

    def delegation(self, tenant: str, power: str) -> Delegation | None:
        """The delegation in force for ``power``, or None if none, revoked or expired."""
        ...


class TokenIssuer(Protocol):
    """At the provider: bearer tokens the provider mints itself, under the home's
    ``indieauth-tokens`` delegation (IndieAuth). What it issues passes ``Grants.token``
    (``provider.grants.ProviderGrants`` is one)."""

    def issue_token(
        self,
        tenant: str,
        scope: Iterable[str],
        *,
        client_id: str | None = None,
        me: str | None = None,
        expires: int | None = None,
    ) -> tuple[str, TokenGrant]:
        """A new token and its grant; PermissionError when the delegation in force does not
        allow this scope (or there is none). The expiry is cut to the delegation's."""
        ...

    def revoke_token(self, tenant: str, token: str) -> bool:
        """Revoke a token of this tenant; False when it was unknown or already revoked."""
        ...


class OneTime(Protocol):
    """The provider's memory for single-use values, shared by all its worker processes."""

    def secret(self, purpose: str) -> bytes:
        """A random key for ``purpose``, made once and the same in every worker: it seals
        what the provider hands out and takes back (codes, pending requests)."""
        ...

    def first_use(self, key: str, expires: int) -> bool:
        """True the first time ``key`` is seen before ``expires`` (ms), False afterwards."""
        ...


class Sites(Protocol):
    def tenant_for_host(self, host: str) -> TenantRef | None:
        """The tenant a ``Host`` header names (same rule as the site server), or None."""
        ...

    def live_path(self, tenant: str, path: str) -> bool:
        """Whether the tenant's live site serves ``path`` (``/notes/hello/``) right now."""
        ...

    def live_file(self, tenant: str, rel: str, limit: int) -> bytes | None:
        """The bytes of the file ``rel`` (``activitypub/actor.as2``) of the tenant's live
        tree, or None when it has none or it is larger than ``limit``."""
        ...


class RateLimited(Exception):
    """Too many requests from one source for now: answer 429 with ``Retry-After``."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        """Seconds."""


class Rates(Protocol):
    """Counters shared by every worker process of a provider (``provider serve --workers N``
    runs one app per process): how many of something one key took in the current window, so a
    limit holds for the provider as a whole, not once per process."""

    def take(self, key: str, limit: int, window: int, now: int) -> int:
        """Count one for ``key`` in the fixed window of ``window`` ms that holds ``now`` (ms
        since the epoch); 0 when that keeps it within ``limit`` (``limit`` 0: no limit), else
        the seconds until the window ends (at least 1)."""
        ...


@dataclass(frozen=True)
class MentionJob:
    """One received webmention as the provider's verification queue keeps it."""

    id: str
    tenant: str
    source: str
    target: str
    state: str
    """``queued``, ``verifying``, then ``accepted`` (queued for the home), ``unchanged``
    (the same as the last accepted one), ``removed`` (a removal queued for the home) or
    ``rejected`` (``detail`` says why)."""
    detail: str
    created: int
    updated: int


class Mentions(Protocol):
    """The provider's durable queue of webmentions to verify, one row each, shared by every
    worker process (``webmention.py`` holds the protocol; this is only storage)."""

    def submit(self, tenant: str, source: str, target: str, domain: str, now: int) -> MentionJob:
        """Record a new webmention, ``queued``. Raises ``RateLimited`` when ``domain`` (the
        source's host) sent more than the provider allows in the last minute."""
        ...

    def get(self, tenant: str, job_id: str) -> MentionJob | None: ...

    def claim(
        self, now: int, lease: int, limit: int, job_id: str | None = None
    ) -> list[MentionJob]:
        """Take up to ``limit`` jobs to verify (``job_id``: that one only): queued ones and
        ones whose verifier's lease (ms) ran out, e.g. a worker that died."""
        ...

    def finish(
        self, job_id: str, state: str, detail: str, digest: str, now: int, retry_at: int = 0
    ) -> None:
        """Record the outcome; ``queued`` with ``retry_at`` (ms) puts it back for later."""
        ...

    def prune(self, before: int) -> int:
        """Forget finished rows last changed before ``before`` (ms) that no answer needs;
        how many."""
        ...

    def last_digest(self, tenant: str, source: str, target: str) -> str | None:
        """The digest of the mention the home was last sent for this pair, or None when
        it was never sent one or was last told to remove it."""
        ...


@dataclass(frozen=True)
class Subscription:
    """A verified WebSub subscription to one of a tenant's feeds."""

    tenant: str
    topic: str
    """The feed's URL as the subscriber named it (``https://alice.example.net/feed.atom``)."""
    path: str
    """That URL's path on the tenant's site (``/feed.atom``): what a publish changes."""
    callback: str
    secret: str
    """The subscriber's ``hub.secret`` for signing deliveries, or ``""``."""
    expires: int
    """Milliseconds since the epoch: the end of the lease."""


class Subscriptions(Protocol):
    """The WebSub hub's subscriptions, durable in the provider's database (``websub.py`` holds
    the protocol; this is only storage)."""

    def save(self, sub: Subscription, limit: int, now: int) -> bool:
        """Add or renew (same tenant, topic and callback), dropping the tenant's expired ones;
        False when it already has ``limit`` other subscriptions in force."""
        ...

    def remove(self, tenant: str, topic: str, callback: str) -> bool: ...

    def for_paths(self, tenant: str, paths: Collection[str], now: int) -> list[Subscription]:
        """The subscriptions in force (lease not over) to any of ``paths``."""
        ...


@dataclass(frozen=True)
class Follower:
    """A remote actor following a tenant's site (ActivityPub), as the provider keeps it for
    delivery. The home keeps the same list (a private record), and hands it to a new provider
    when the site moves."""

    tenant: str
    actor: str
    """The follower's actor id (``https://social.example/users/bob``)."""
    inbox: str
    shared_inbox: str
    """Its server's shared inbox, or ``""``: deliveries go there, once per server."""
    state: str
    """``accepted`` (delivered to) or ``pending`` (awaiting the owner's approval)."""
    follow_id: str
    """The id of the ``Follow`` activity: what an ``Accept`` or ``Reject`` names."""
    created: int
    """Milliseconds since the epoch."""

    @property
    def delivery_inbox(self) -> str:
        return self.shared_inbox or self.inbox


ACCEPTED = "accepted"
PENDING = "pending"


class Followers(Protocol):
    """A tenant's followers and blocks, durable in the provider's database (every worker sees
    the same list)."""

    def save(self, follower: Follower) -> bool:
        """Add or update (same tenant and actor); True when the actor was not there before."""
        ...

    def remove(self, tenant: str, actor: str) -> bool: ...

    def get(self, tenant: str, actor: str) -> Follower | None: ...

    def of(self, tenant: str, state: str | None = ACCEPTED) -> list[Follower]:
        """In the order they came (``state`` None: all of them)."""
        ...

    def count(self, tenant: str, state: str | None = ACCEPTED) -> int: ...

    def inboxes(self, tenant: str) -> list[str]:
        """Where one activity to every accepted follower goes: each server's shared inbox
        once, and the personal inbox of those without one; sorted."""
        ...

    def add_missing(self, tenant: str, followers: Collection[Follower]) -> int:
        """Add those not here yet, leaving every follower already here as it is (the home's
        copy, when the site comes to this provider: what arrived here since is newer); how
        many were added."""
        ...

    def set_blocks(self, tenant: str, blocked: Collection[str]) -> None:
        """The tenant's blocks: actor ids and domains (``spam.example``), the whole list."""
        ...

    def blocks(self, tenant: str) -> frozenset[str]: ...


class Members(Protocol):
    """Who may read a tenant's members-only entries here: the entitlements its last publish
    carried (``members/entitlements.py``), never a readable member list."""

    def entitlement(self, tenant: str, email: str) -> str | None:
        """The tier the holder of ``email`` may read now (``""``: a member, but only what is
        for any member), or None when they are not a member of this tenant's site."""
        ...

    def entitlement_of(self, tenant: str, address_hash: str) -> str | None:
        """``entitlement`` for a member known by their address hash (signed in by passkey)."""
        ...

    def passkey(self, tenant: str, credential_id: str) -> tuple[str, str, str] | None:
        """A member's passkey as the entitlements carry it, or as this provider registered it
        (``remember_passkey``): ``(address hash, public key, rp_id)``, or None."""
        ...

    def remember_passkey(self, tenant: str, email: str, credential_id: str, public_key: str,
                         rp_id: str) -> bool:
        """A passkey a member registered here, usable here at once, before the home applied it
        and published it; False when the tenant has no entitlements here to hash with."""
        ...

    def site_file(self, tenant: str, rel: str) -> bytes | None:
        """A file of the tenant's live site by its path in the site (``_homeport/…`` ones
        included, which are never served), or None."""
        ...


@dataclass(frozen=True)
class PaidAccess:
    """A tier a member paid for through a processor, as one provider learnt it from the
    processor's webhook (``interop/payments.py``): it lets the payer in at once, before the
    home has heard of them; the home's published entitlements are the final word after."""

    tenant: str
    subscription: str
    email_hash: str
    """The keyed hash of the payer's address the site's entitlements use
    (``members/entitlements.py``): the provider keeps no address, and a member signed in by
    passkey (known by that hash only) finds their payment too."""
    customer: str
    """The processor's customer id: for its billing portal."""
    tier: str
    until: int
    """Milliseconds since the epoch: the end of the period paid for."""
    event_created: int
    """The processor's time of the event that set this (ms): an older event changes nothing."""


class Payments(Protocol):
    """What a provider remembers of payments made to its tenants (rows per subscription, in
    its database, shared by every worker)."""

    def record(self, access: PaidAccess) -> bool:
        """Keep ``access`` unless a later event already set this subscription; whether it
        was kept."""
        ...

    def by_subscription(self, tenant: str, subscription: str) -> PaidAccess | None: ...

    def paid(self, tenant: str, email_hash: str, now: int) -> PaidAccess | None:
        """The access in force (``until`` after ``now``) for this address, the longest first,
        or None."""
        ...


class Suppressions(Protocol):
    """Addresses a tenant's newsletter no longer goes to (unsubscribed, bounced, complained),
    by the SHA-256 of the address, in the provider's database."""

    def suppress(self, tenant: str, email_hash: str, reason: str, now: int) -> bool:
        """True when the address was not suppressed before."""
        ...

    def suppressed(self, tenant: str, email_hashes: Collection[str]) -> set[str]: ...


@dataclass(frozen=True)
class Delivery:
    """One activity to send to one inbox, as the provider's delivery queue keeps it."""

    id: str
    tenant: str
    inbox: str
    body: bytes
    attempts: int
    created: int
    """Milliseconds since the epoch: when it was queued (given up 48 h later)."""


class Deliveries(Protocol):
    """The provider's durable queue of outgoing ActivityPub deliveries, shared by every worker
    process, with what it knows of each remote host (the circuit breaker's state)."""

    def enqueue(self, tenant: str, inboxes: Collection[str], body: bytes, now: int) -> int:
        """Queue ``body`` for each inbox (stored once); how many deliveries were queued.
        Raises ``RateLimited`` when the tenant already has as many waiting as it may."""
        ...

    def claim(self, now: int, lease: int, limit: int, per_tenant: int) -> list[Delivery]:
        """Take up to ``limit`` due deliveries (at most ``per_tenant`` of one tenant's, taking
        turns between tenants) for ``lease`` ms; none to hosts whose circuit is open."""
        ...

    def done(self, delivery_id: str, host: str, now: int) -> None:
        """Delivered (or refused for good): forget it; the host answers."""
        ...

    def retry(self, delivery_id: str, host: str, at: int, now: int) -> None:
        """Failed: try again at ``at`` (ms); the host counts one more failure in a row, and
        after ``BREAKER`` of them its circuit opens (no delivery there for a while)."""
        ...

    def drop(self, delivery_id: str) -> None:
        """Given up (too old, or refused for good): forget it, the host unjudged."""
        ...

    def finish(self, done: Collection[tuple[str, str]], dropped: Collection[str],
               now: int) -> None:
        """``done`` for each (delivery id, host) and ``drop`` for each id, in one
        transaction."""
        ...

    def waiting(self, tenant: str) -> int: ...


@dataclass(frozen=True)
class ProviderPorts:
    inbox: Inbox
    grants: Grants
    sites: Sites
    clock: Callable[[], int]
    """Milliseconds since the epoch."""
    fetch_allow_private: bool = False
    mentions: Mentions | None = None
    """The webmention verification queue (None: the provider does not receive them)."""
    tokens: TokenIssuer | None = None
    """None where the provider cannot mint tokens (then IndieAuth answers 503)."""
    once: OneTime | None = None
    subscriptions: Subscriptions | None = None
    """The WebSub hub's subscriptions (None: no hub)."""
    followers: Followers | None = None
    """ActivityPub followers and blocks (None: the provider does not speak ActivityPub)."""
    members: Members | None = None
    """Members' entitlements (None: members cannot sign in here)."""
    smtp_url: str = ""
    """Where this provider sends mail (setting ``smtp_url``; ``""``: it sends none)."""
    payments: Payments | None = None
    """Payments learnt from processors' webhooks (None: the provider takes none)."""
    stripe_api_base: str = "https://api.stripe.com"
    """Where the provider reaches Stripe (setting ``stripe_api_base``)."""
    deliveries: Deliveries | None = None
    """ActivityPub's outgoing queue (None: nothing is delivered)."""
    suppressions: Suppressions | None = None
    """The newsletter's suppression list (None: the provider sends no newsletters)."""
    rates: Rates | None = None
    """Rate limits shared by the provider's worker processes (None: each process counts on
    its own, ``MemoryRates``)."""


@dataclass(frozen=True)
class InboxItem:
    """One item as the home receives it, body already opened."""

    id: str
    kind: str
    meta: Mapping[str, Any]
    body: bytes
    received: int


Handler = Callable[[Any, InboxItem], Mapping[str, Any]]
"""At the home: ``handler(context, item) -> result``, run in a worker thread with the home's
``services.context.Context``. The result goes back to the provider in the signed ack
(``Inbox.result``). Raising ``homeport.core.errors.HomeportError`` rejects the item for good
(acknowledged with the error); any other exception leaves it to be redelivered."""
