"""Delivery from the provider: activities to followers' inboxes, signed with the site's key.

What is sent: the ``Accept`` of a follow (``inbox.py``), what the home queues (likes, boosts,
an approval: ``provider/activitypub.py``) and, on each publish, what changed between the tree
live before and the one live now (``on_publish``): an entry object (``<path>/index.as2``) that
is new gives a ``Create``, one that changed an ``Update``, one that went a ``Delete`` (with a
``Tombstone``), each embedding the full object as Mastodon expects; a changed actor document an
``Update`` of the actor. Only the provider whose address is the actor's own delivers (the
others serve the same static objects), and only with the signing delegation.

How: each activity is queued once per inbox (a server's shared inbox stands for all its
followers) in the provider's database (``ports.Deliveries``), then every provider process runs
a ``Deliverer``: it takes due deliveries in turns between tenants (at most
``activitypub_delivery_rate`` a second for one tenant), signs each request (draft-cavage
``rsa-sha256`` with ``Digest``, as Mastodon verifies) and POSTs it on one pool of connections
through the SSRF guard. A failure is retried with backoff (1 min doubling, at most 6 h between
tries) until 48 h after it was queued; a host that fails ``BREAKER`` times in a row is not
tried for a while (its circuit opens, ``provider/deliveries.py``); an answer that will not
change (400, 401, 403, 404, 410, 422) ends that delivery.

The key: the home makes the site's RSA key and grants one provider the power
``activitypub-sign`` (a delegation, ``crypto/delegations.py``) whose params carry the key id and
the private key sealed to that provider's delegation box key (``docs/format.md``,
"activitypub-sign"); the provider opens it when it signs, and only while the delegation holds.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import logging
import random
import time
from collections.abc import AsyncIterator, Collection, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from homeport import jsonio
from homeport.crypto import boxes, httpsig
from homeport.interop.activitypub.inbox import host_of
from homeport.interop.ports import Delivery, ProviderPorts, RateLimited
from homeport.web import outbound

log = logging.getLogger("homeport.activitypub")

SIGN_POWER = "activitypub-sign"
BOX_PURPOSE = "delegation_box"
BOX_INFO = b"homeport/activitypub-sign/v1 "
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
PUBLIC = "https://www.w3.org/ns/activitystreams#Public"
GIVE_UP = 48 * 3600_000
"""Milliseconds after it was queued that a delivery is given up."""
FIRST_RETRY = 60_000
MAX_RETRY = 6 * 3600_000
FINAL = frozenset({400, 401, 403, 404, 405, 410, 413, 422})
"""Answers a second try would get again."""
BATCH = 512
LEASE = 120_000
CONCURRENCY = 64
TICK = 0.25
IDLE = 0.25
"""Seconds an idle deliverer waits before it looks at the shared queue again: what another
worker process queued (a publish it took) starts going from this one within that."""
"""Seconds: a tenant gets at most ``rate * TICK`` deliveries per turn, one turn per tick."""
OBJECT_FILE = "index.as2"
ACTOR_FILE = "activitypub/actor.as2"
MAX_OBJECT = 1024 * 1024


# --- the signing key -------------------------------------------------------------------------
def box_key(secret: bytes) -> X25519PrivateKey:
    """The provider's delegation box key, from its ``delegation_box`` secret."""
    return boxes.box_key(secret)


def box_public(secret: bytes) -> str:
    """Its public half, base64url: what the provider's ``GET /_homeport/v1/`` shows homes."""
    return base64.urlsafe_b64encode(boxes.public_bytes(box_key(secret))).decode().rstrip("=")


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_params(provider_box: str, key_id: str, private_pem: str) -> dict[str, str]:
    """The params of an ``activitypub-sign`` delegation (made at home): the key id the
    signatures name and the PEM private key sealed to the provider's box key, bound to that
    key id."""
    sealed = boxes.seal_box(_b64(provider_box), private_pem.encode(),
                            BOX_INFO + key_id.encode())
    return {"key_id": key_id,
            "sealed_key": base64.urlsafe_b64encode(sealed).decode().rstrip("=")}


def open_params(secret: bytes, params: Mapping[str, Any]) -> tuple[str, RSAPrivateKey]:
    """The key id and the private key of a delegation's params; ValueError when they do not
    open with this provider's key or are not an RSA key."""
    key_id, sealed = params.get("key_id"), params.get("sealed_key")
    if not isinstance(key_id, str) or not isinstance(sealed, str):
        raise ValueError("an activitypub-sign delegation names key_id and sealed_key")
    pem = boxes.open_box(box_key(secret), _b64(sealed), BOX_INFO + key_id.encode())
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("the sealed key is not an RSA key")
    return key_id, key


class Signers:
    """The opened keys of this process, by delegation id (opening costs a PEM parse)."""

    def __init__(self) -> None:
        self._opened: dict[str, tuple[str, RSAPrivateKey]] = {}

    def get(self, ports: ProviderPorts, tenant: str) -> tuple[str, RSAPrivateKey] | None:
        if ports.once is None:
            return None
        delegation = ports.grants.delegation(tenant, SIGN_POWER)
        if delegation is None:
            return None
        found = self._opened.get(delegation.id)
        if found is None:
            try:
                found = open_params(ports.once.secret(BOX_PURPOSE), delegation.params)
            except ValueError as exc:
                log.warning("activitypub: %s's signing delegation does not open: %s",
                            tenant, exc)
                return None
            if len(self._opened) > 1000:
                self._opened.clear()
            self._opened[delegation.id] = found
        return found


SIGNERS = Signers()
"""The keys the inbox of this process signs its fetches with (``inbox.site_signer``)."""


# --- activities ------------------------------------------------------------------------------
def _digest(data: Any) -> str:
    return hashlib.sha256(jsonio.dumps(data)).hexdigest()[:16]


def accept(actor: str, follow: Mapping[str, Any]) -> dict[str, Any]:
    """The ``Accept`` of a ``Follow`` (the follow embedded, as Mastodon matches it)."""
    return {"@context": AS_CONTEXT, "id": f"{actor}#accepts/{_digest(follow.get('id'))}",
            "type": "Accept", "actor": actor,
            "object": {k: follow[k] for k in ("id", "type", "actor", "object") if k in follow}}


def _addressed(obj: Mapping[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    return value if isinstance(value, list) else [value] if value else []


def create(actor: str, obj: Mapping[str, Any], kind: str = "Create") -> dict[str, Any]:
    """A ``Create`` (or ``Update``) of ``obj``, embedded whole, addressed as it is."""
    found = {
        "@context": obj.get("@context", AS_CONTEXT),
        "id": f"{obj['id']}#{kind.lower()}-{_digest(obj)}",
        "type": kind,
        "actor": actor,
        "to": _addressed(obj, "to") or [PUBLIC],
        "cc": _addressed(obj, "cc"),
        "object": {k: v for k, v in obj.items() if k != "@context"},
    }
    if kind == "Create" and "published" in obj:
        found["published"] = obj["published"]
    return found


def delete(actor: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"@context": AS_CONTEXT, "id": f"{obj['id']}#delete", "type": "Delete",
            "actor": actor, "to": _addressed(obj, "to") or [PUBLIC],
            "cc": _addressed(obj, "cc"),
            "object": {"id": obj["id"], "type": "Tombstone"}}


def _object(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        doc = jsonio.loads_untrusted(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None


def _public(obj: Mapping[str, Any]) -> bool:
    return PUBLIC in _addressed(obj, "to") + _addressed(obj, "cc")


def activities(
    actor: Mapping[str, Any],
    before: Collection[str],
    after: Mapping[str, bytes | None],
) -> list[dict[str, Any]]:
    """What a publish tells followers. ``after``: the entry object files (``<path>/index.as2``)
    and the actor file that differ between the tree live before and the one live now, path →
    bytes now (None: gone); ``before``: which of them the old tree had. A gone entry's id is
    its page's URL, found from its path (the old tree may already be pruned)."""
    me = str(actor["id"])
    origin = "/".join(me.split("/", 3)[:3])
    found: list[dict[str, Any]] = []
    for rel in sorted(after):
        new = _object(after[rel])
        if rel == ACTOR_FILE:
            if new is not None and rel in before:
                found.append(create(me, new, "Update"))
            continue
        if new is not None and _public(new):
            found.append(create(me, new, "Update" if rel in before else "Create"))
        elif rel in before:
            page = origin + "/" + rel.removesuffix(OBJECT_FILE)
            found.append(delete(me, {"id": page, "to": [PUBLIC]}))
    return found


def queue(ports: ProviderPorts, tenant: str, inboxes: list[str],
          activity: Mapping[str, Any]) -> int:
    """Queue ``activity`` for ``inboxes`` (blocking: call it in a thread); how many were
    queued (0 when the tenant's queue is full: logged)."""
    if ports.deliveries is None or not inboxes:
        return 0
    try:
        count = ports.deliveries.enqueue(tenant, inboxes, jsonio.dumps(activity), ports.clock())
    except RateLimited as exc:
        log.warning("activitypub: %s not queued: %s", activity.get("type"), exc)
        return 0
    Deliverer.wake_all()
    return count


def to_followers(ports: ProviderPorts, tenant: str, found: list[dict[str, Any]]) -> int:
    """Queue each activity for every accepted follower (one per shared inbox)."""
    if ports.followers is None or not found:
        return 0
    inboxes = ports.followers.inboxes(tenant)
    return sum(queue(ports, tenant, inboxes, activity) for activity in found)


# --- sending ---------------------------------------------------------------------------------
def backoff(attempts: int) -> int:
    """Milliseconds before the next try, with a tenth of jitter."""
    wait = min(FIRST_RETRY * 2 ** min(attempts, 20), MAX_RETRY)
    return int(wait * (0.9 + random.random() * 0.2))


class Deliverer:
    """One provider process's sender: takes due deliveries from the shared queue and sends
    up to ``CONCURRENCY`` at once."""

    running: set[Deliverer] = set()

    def __init__(self, ports: ProviderPorts, rate: int) -> None:
        self.ports = ports
        self.rate = max(1, rate)
        self.signers = Signers()
        self.session: outbound.Session | None = None
        self.event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0

    @classmethod
    def wake_all(cls) -> None:
        for found in list(cls.running):
            found.wake()

    def wake(self) -> None:
        loop = self.task.get_loop() if self.task is not None else None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.event.set)

    def start(self) -> None:
        if self.task is None:
            self.session = outbound.Session(outbound.policy(self.ports.fetch_allow_private))
            self.task = asyncio.get_running_loop().create_task(self.run())
            Deliverer.running.add(self)

    async def stop(self) -> None:
        Deliverer.running.discard(self)
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self.session is not None:
            await self.session.aclose()

    async def run(self) -> None:
        while True:
            try:
                busy = await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away: try again in a while
                log.exception("activitypub: delivery round failed")
                busy = False
            if not busy:
                self.event.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.event.wait(), IDLE)

    async def round(self) -> bool:
        """One turn: what is due now, sent; whether there was any."""
        assert self.ports.deliveries is not None
        started = time.monotonic()
        per_tenant = max(1, int(self.rate * TICK))
        due = await asyncio.to_thread(self.ports.deliveries.claim, self.ports.clock(), LEASE,
                                      BATCH, per_tenant)
        if not due:
            return False
        keys = {}
        for tenant in {d.tenant for d in due}:
            keys[tenant] = await asyncio.to_thread(self.signers.get, self.ports, tenant)
        gate = asyncio.Semaphore(CONCURRENCY)
        outcomes = await asyncio.gather(*(self._send(d, keys[d.tenant], gate) for d in due))
        await asyncio.to_thread(self._record, list(zip(due, outcomes, strict=True)))
        counts: dict[str, int] = {}
        for d in due:
            counts[d.tenant] = counts.get(d.tenant, 0) + 1
        if max(counts.values()) >= per_tenant:
            await asyncio.sleep(max(0.0, TICK - (time.monotonic() - started)))
        return True

    async def _send(self, d: Delivery, key: tuple[str, RSAPrivateKey] | None,
                    gate: asyncio.Semaphore) -> str:
        """``done``, ``drop`` or ``retry``."""
        if key is None:
            return "wait"
        assert self.session is not None
        async with gate:
            headers = httpsig.sign(key[1], key[0], "POST", d.inbox, d.body, time.time())
            headers.pop("Host", None)
            headers["Accept"] = "application/activity+json"
            try:
                answer = await self.session.send("POST", d.inbox, headers, d.body)
            except outbound.FetchRefused as exc:
                log.info("activitypub: delivery to %s refused: %s", d.inbox, exc)
                return "drop"
            except (httpx.HTTPError, TimeoutError, OSError) as exc:
                log.info("activitypub: delivery to %s failed: %s", d.inbox, exc)
                return "retry"
        if 200 <= answer.status < 300:
            return "done"
        if answer.status in FINAL:
            log.info("activitypub: %s refused a delivery: %s", d.inbox, answer.status)
            return "drop"
        return "retry"

    def _record(self, outcomes: list[tuple[Delivery, str]]) -> None:
        store = self.ports.deliveries
        assert store is not None
        now = self.ports.clock()
        done: list[tuple[str, str]] = []
        dropped: list[str] = []
        for d, outcome in outcomes:
            host = host_of(d.inbox)
            if outcome == "done":
                done.append((d.id, host))
            elif outcome == "drop" or now - d.created > GIVE_UP:
                dropped.append(d.id)
            elif outcome == "wait":  # no signing key here (yet): the host is not to blame
                store.retry(d.id, "", now + FIRST_RETRY * 5, now)
            else:
                self.failed += 1
                store.retry(d.id, host, now + backoff(d.attempts), now)
        # the common outcomes in one transaction; a retry keeps its own (it takes the host's
        # lock to count the failure)
        store.finish(done, dropped, now)
        self.sent += len(done)


@asynccontextmanager
async def provider_lifespan(state: Any) -> AsyncIterator[None]:
    """Each provider process delivers from its start (what a restart left queued goes)."""
    ports = getattr(state, "ports", None)
    if not isinstance(ports, ProviderPorts) or ports.deliveries is None:
        yield
        return
    rate = int(getattr(state, "activitypub_delivery_rate", 0) or 1000)
    found = Deliverer(ports, rate)
    state.activitypub_deliverer = found
    found.start()
    try:
        yield
    finally:
        await found.stop()


__all__ = ["SIGN_POWER", "Deliverer", "accept", "activities", "box_public", "create",
           "delete", "open_params", "provider_lifespan", "queue", "sign_params",
           "to_followers"]
