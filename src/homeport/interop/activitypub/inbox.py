"""The site's ActivityPub inboxes at the provider: ``/_homeport/activitypub/inbox`` and
``/_homeport/activitypub/shared-inbox`` on the tenant's host (the same handling: a tenant's
host serves one actor).

A POSTed activity is taken only when it is signed (``crypto/httpsig.py``: draft-cavage as
Mastodon sends, or RFC 9421) by a key its actor lists, within the time window, not seen before
(the signature is remembered for as long as it is acceptable), not from a blocked actor or
domain, and small enough. Then:

- ``Follow`` of this site's actor: the follower is kept (``ports.Followers``) and, unless the
  actor document says ``manuallyApprovesFollowers``, answered with an ``Accept`` at once (queued
  for delivery); otherwise it waits, ``pending``, for the owner at home;
- ``Undo`` of a follow, ``Delete`` of the actor itself, ``Block``: the follower is dropped;
- ``Move`` of a follower to an account that names it in ``alsoKnownAs``: the new account
  follows in its place, at most once per mover in 7 days (Mastodon's receiver cooldown, kept
  in the ``OneTime`` port so every worker sees it); the item sent home says whether it moved;
- every activity of ``FORWARDED`` goes to the home as an inbox item of kind
  ``activitypub.<type>`` (``follow``, ``like``, ``create``…), sealed, its id derived from the
  activity's, so a second delivery of the same activity changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from homeport import jsonio
from homeport.crypto import httpsig
from homeport.interop.activitypub import moves, remote
from homeport.interop.hosting import ports_of, tenant_of
from homeport.interop.ports import (
    ACCEPTED,
    PENDING,
    Follower,
    ProviderPorts,
    TenantRef,
)
from homeport.web import outbound
from homeport.web.bodies import BodyTooLarge, read_limited

log = logging.getLogger("homeport.activitypub")

INBOX = "/activitypub/inbox"
SHARED_INBOX = "/activitypub/shared-inbox"
ACTOR_FILE = "activitypub/actor.as2"
"""Where the home renders the actor document in the site's tree (served at
``/activitypub/actor``)."""
MAX_ACTOR = 256 * 1024
MAX_BODY = 256 * 1024
"""An activity larger than this is refused (413); Mastodon's own limit is about the same."""
AS_CONTEXT = "https://www.w3.org/ns/activitystreams"
ACTIVITY_TYPES = ("application/activity+json", "application/ld+json", "application/json")
FORWARDED = frozenset({
    "Follow", "Undo", "Like", "Announce", "Create", "Update", "Delete", "Move", "Block",
    "Accept", "Reject", "Add", "Remove", "Flag", "EmojiReact",
})
KEYS = remote.Keys()
"""This process's remembered keys."""


def provider_routes() -> list[BaseRoute]:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return [Route(INBOX, inbox, methods=methods), Route(SHARED_INBOX, inbox, methods=methods)]


def _refuse(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": _ERRORS.get(status, "invalid-request"), "message": message},
                        status, headers or None)


_ERRORS = {400: "invalid-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
           405: "method-not-allowed", 413: "too-large", 415: "unsupported-media-type",
           429: "too-many-requests"}


class MemoryRates:
    """``ports.Rates`` kept in this process only: the fallback when the provider's ports have
    no shared counters (a provider's own ports always do, ``provider/rates.py``)."""

    def __init__(self) -> None:
        self.periods: dict[str, tuple[int, int]] = {}
        """Key → (start of its window, taken in it)."""

    def take(self, key: str, limit: int, window: int, now: int) -> int:
        if limit <= 0:
            return 0
        start = now - now % window
        period, taken = self.periods.get(key, (start, 0))
        taken = taken + 1 if period == start else 1
        self.periods[key] = (start, taken)
        return 0 if taken <= limit else max(1, -(-(start + window - now) // 1000))


RATE = MemoryRates()
WINDOW = 60_000
"""The inbox rate's window (ms): ``activitypub_inbox_rate`` is per minute."""


def _id(value: Any) -> str:
    return remote._id(value)


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def blocked(blocks: frozenset[str], *urls: str) -> bool:
    """Whether any of ``urls`` is blocked, by itself or by its domain (or a parent domain)."""
    for url in urls:
        if not url:
            continue
        if url in blocks:
            return True
        host = host_of(url)
        parts = host.split(".")
        if any(".".join(parts[i:]) in blocks for i in range(len(parts) - 1)):
            return True
    return False


def own_actor(ports: ProviderPorts, tenant: TenantRef) -> dict[str, Any] | None:
    """The site's actor document as its live tree has it, or None (not on the fediverse)."""
    return own_actor_of(ports, tenant.name)


def authority_of(url: str) -> str:
    return urlsplit(url).netloc.lower()


def own_actor_of(ports: ProviderPorts, tenant: str) -> dict[str, Any] | None:
    raw = ports.sites.live_file(tenant, ACTOR_FILE, MAX_ACTOR)
    if raw is None:
        return None
    try:
        doc = jsonio.loads_untrusted(raw)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None


async def site_signer(ports: ProviderPorts, tenant: str) -> outbound.Sign | None:
    """Signs this provider's GETs as the site, for servers that answer only signed fetches;
    None when the home delegated the site's key to another provider (fetches go unsigned)."""
    from homeport.interop.activitypub import delivery

    found = await anyio.to_thread.run_sync(delivery.SIGNERS.get, ports, tenant)
    return None if found is None else remote.signer(*found)


def item_id(activity_id: str, body: bytes) -> str:
    """The inbox item's id: the same activity delivered twice is one item."""
    seed = activity_id.encode() if activity_id else body
    return "ap-" + hashlib.sha256(seed).hexdigest()[:40]


async def _body(request: Request) -> bytes | Response:
    try:
        return await read_limited(request, MAX_BODY)
    except BodyTooLarge:
        return _refuse(413, f"an activity is at most {MAX_BODY} bytes")


async def inbox(request: Request) -> Response:
    if request.method != "POST":
        return JSONResponse({"error": "method-not-allowed",
                             "message": "an inbox takes activities by POST"}, 405,
                            {"Allow": "POST"})
    tenant = await tenant_of(request)
    ports = ports_of(request)
    if tenant is None or ports.followers is None:
        return _refuse(404, "no site is served here")
    me = await anyio.to_thread.run_sync(own_actor, ports, tenant)
    if me is None:
        return _refuse(404, "this site is not on the fediverse")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ACTIVITY_TYPES:
        return _refuse(415, "send the activity as application/activity+json")
    body = await _body(request)
    if isinstance(body, Response):
        return body
    limit = int(getattr(request.app.state, "activitypub_inbox_rate", 600))
    rates = ports.rates or RATE
    wait = await anyio.to_thread.run_sync(rates.take, f"ap-inbox:{tenant.name}", limit,
                                          WINDOW, ports.clock())
    if wait:
        return _refuse(429, "this site takes no more activities this minute",
                       **{"Retry-After": str(wait)})
    try:
        return await _receive(request, ports, tenant, me, body)
    except httpsig.SignatureError as exc:
        return _refuse(exc.status, str(exc))


async def _receive(
    request: Request, ports: ProviderPorts, tenant: TenantRef, me: dict[str, Any], body: bytes
) -> Response:
    assert ports.followers is not None
    headers = request.headers.items()
    parsed = httpsig.parse(headers)
    blocks = await anyio.to_thread.run_sync(ports.followers.blocks, tenant.name)
    if blocked(blocks, parsed.key_id):
        return _refuse(403, "this site blocks the sender")
    try:
        activity = jsonio.loads_untrusted(body)
    except ValueError as exc:
        return _refuse(400, f"the activity is not JSON: {exc}")
    if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
        return _refuse(400, "an activity is a JSON object with a type")
    permitted = outbound.policy(ports.fetch_allow_private)
    remembered = KEYS.remembered(parsed.key_id) is not None
    sign = await site_signer(ports, tenant.name)
    try:
        key = await KEYS.get(parsed.key_id, permitted, sign)
    except remote.RemoteError as exc:
        if exc.gone and activity.get("type") == "Delete":
            return Response(status_code=202)  # an account deleted: its key went with it
        return _refuse(401, f"the signing key cannot be had: {exc}")
    host = request.headers.get("host", "")
    url = f"{request.url.scheme}://{host}{request.url.path}"
    if request.url.query:
        url += "?" + request.url.query
    now = ports.clock() / 1000
    try:
        checked = httpsig.verify(parsed, key.key, request.method, url, headers, body, now)
    except httpsig.SignatureError as exc:
        if not remembered or not exc.mismatch:
            raise
        KEYS.forget(parsed.key_id)  # the actor may have a new key: fetch it once more
        key = await KEYS.get(parsed.key_id, permitted, sign)
        checked = httpsig.verify(parsed, key.key, request.method, url, headers, body, now)
    actor = _id(activity.get("actor"))
    if actor != key.owner:
        return _refuse(401, "the activity's actor is not the one who signed it")
    if blocked(blocks, actor):
        return _refuse(403, "this site blocks the sender")
    if ports.once is not None:
        memo = "ap-sig:" + hashlib.sha256(checked.signature).hexdigest()
        expires = (checked.signed_at + httpsig.PAST + httpsig.FUTURE + 60) * 1000
        fresh = await anyio.to_thread.run_sync(ports.once.first_use, memo, expires)
        if not fresh:
            return _refuse(401, "this signed request was received before (a replay)")
    await _apply(ports, tenant, me, activity, key.actor, body)
    return Response(status_code=202)


async def _apply(
    ports: ProviderPorts,
    tenant: TenantRef,
    me: dict[str, Any],
    activity: dict[str, Any],
    sender: remote.RemoteActor,
    body: bytes,
) -> None:
    kind = str(activity["type"])
    if kind not in FORWARDED:
        return
    actor = sender.id
    target = activity.get("object")
    followers = ports.followers
    assert followers is not None
    state = ""
    moved_to: remote.RemoteActor | None = None
    if kind == "Follow":
        if _id(target) != me["id"]:
            return
        manual = me.get("manuallyApprovesFollowers") is True
        state = PENDING if manual else ACCEPTED
        before = await anyio.to_thread.run_sync(followers.get, tenant.name, actor)
        if before is not None and before.state == ACCEPTED:
            state = ACCEPTED  # following again (a lost Accept): accepted still
        follow_id = _id(activity.get("id"))
        await anyio.to_thread.run_sync(followers.save, Follower(
            tenant.name, actor, sender.inbox, sender.shared_inbox, state, follow_id,
            ports.clock(),
        ))
    elif kind == "Block" or (kind == "Delete" and _id(target) == actor) or (
        kind == "Undo" and await _undoes_follow(ports, tenant.name, actor, target)
    ):
        await anyio.to_thread.run_sync(followers.remove, tenant.name, actor)
    elif kind == "Move":
        moved_to = await _move(ports, tenant.name, activity, actor)
    meta: dict[str, Any] = {"type": kind, "actor": actor, "id": _id(activity.get("id")),
                            "object": _id(target)}
    if kind == "Move":  # the home's copy of the list moves only when this one did
        meta.update(moved=moved_to is not None, target=moved_to.id if moved_to else "")
        if moved_to is not None:
            meta.update(inbox=moved_to.inbox, shared_inbox=moved_to.shared_inbox)
    if state:  # a follow: the home keeps its copy of the list (for a move) with the inboxes
        meta.update(state=state, inbox=sender.inbox, shared_inbox=sender.shared_inbox)
    await anyio.to_thread.run_sync(
        lambda: ports.inbox.put(tenant.name, f"activitypub.{kind.lower()}", meta, body,
                                item_id=item_id(meta["id"], body))
    )
    if state == ACCEPTED:
        from homeport.interop.activitypub import delivery

        accept = delivery.accept(me["id"], activity)
        await anyio.to_thread.run_sync(delivery.queue, ports, tenant.name, [sender.inbox],
                                       accept)


async def _undoes_follow(ports: ProviderPorts, tenant: str, actor: str, target: Any) -> bool:
    """An ``Undo`` of a ``Follow``: embedded, or named by the id the follower used."""
    if isinstance(target, Mapping):
        return target.get("type") == "Follow"
    assert ports.followers is not None
    found = await anyio.to_thread.run_sync(ports.followers.get, tenant, actor)
    return found is not None and found.follow_id == target


async def _move(ports: ProviderPorts, tenant: str, activity: Mapping[str, Any],
                actor: str) -> remote.RemoteActor | None:
    """A follower's Move, by Mastodon's rules (``moves.py``): signed by the mover,
    naming itself as the object, to a target that is not suspended and names the mover in
    ``alsoKnownAs`` (fetched fresh), and the first Move of that mover this site acts on in 7
    days; then the new account follows in the old one's place. The new actor, or None when
    nothing moved."""
    assert ports.followers is not None
    old = await anyio.to_thread.run_sync(ports.followers.get, tenant, actor)
    if old is None:
        return None
    try:
        move = moves.parse_incoming(activity, actor)
        doc = await remote.fetch_document(move.target,
                                          outbound.policy(ports.fetch_allow_private),
                                          await site_signer(ports, tenant))
        moves.check_target(move, doc if isinstance(doc, Mapping) else {})
        new = remote.actor_of(doc)
        if ports.once is not None:
            cooldown = ports.clock() + moves.PROCESSING_COOLDOWN_MS
            first = await anyio.to_thread.run_sync(
                ports.once.first_use, f"ap-move:{tenant}:{actor}", cooldown)
            if not first:
                raise moves.MoveRefused("cooldown", "this actor moved less than 7 days ago")
    except (moves.MoveRefused, remote.RemoteError) as exc:
        log.info("activitypub: the Move of %s is ignored: %s", actor, exc)
        return None
    await anyio.to_thread.run_sync(ports.followers.remove, tenant, actor)
    await anyio.to_thread.run_sync(ports.followers.save, Follower(
        tenant, new.id, new.inbox, new.shared_inbox, old.state, old.follow_id, old.created,
    ))
    return new


__all__ = ["INBOX", "SHARED_INBOX", "authority_of", "blocked", "inbox", "item_id", "own_actor",
           "own_actor_of", "provider_routes", "site_signer"]
