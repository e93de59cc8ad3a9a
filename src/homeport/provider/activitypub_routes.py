"""The home's signed requests about its fediverse presence at this provider
(``POST /_homeport/v1/activitypub``): blocks, decisions on pending follows, and activities of
the site's actor to deliver (likes, boosts, replies). Signed like every sync request
(``docs/protocol.md``); the follower list's hand-over is ``fedmove.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport import jsonio
from homeport.interop.activitypub import delivery, inbox
from homeport.interop.ports import ACCEPTED, Follower, ProviderPorts
from homeport.provider.api.context import Provider, in_thread
from homeport.provider.api.http import endpoint, json_of
from homeport.provider.api.signed import authenticate
from homeport.provider.errors import ProviderError

MAX_BLOCKS = 10_000
MAX_URL = 2048
DECISIONS = ("accepted", "rejected", "removed")


def _url(value: Any, what: str, empty: bool = False) -> str:
    if empty and value in ("", None):
        return ""
    if (not isinstance(value, str) or len(value) > MAX_URL
            or not value.startswith(("https://", "http://"))):
        raise ProviderError(400, "bad-request", f"{what} must be an http(s) URL")
    return value


def _ports(request: Request) -> ProviderPorts:
    ports: ProviderPorts = request.app.state.ports
    if ports.followers is None or ports.deliveries is None:
        raise ProviderError(404, "not-found", "this provider does not speak ActivityPub")
    return ports


async def post_activitypub(request: Request, provider: Provider) -> Response:
    """What the home asks, in one signed request (any of): ``blocks`` (the whole list),
    ``decide`` (``{"actor", "state"}``:
    ``accepted`` answers a pending follow with an Accept, ``rejected`` and ``removed`` drop
    the follower with a Reject), ``activity`` with ``to`` (a list of inboxes, or
    ``"followers"``): an activity of the site's actor to deliver (a like, a boost, a reply)."""
    tenant, body = await authenticate(request, provider, writes=True)
    ports = _ports(request)
    assert ports.followers is not None
    doc = json_of(body)
    known = {"blocks", "decide", "activity", "to"}
    if not doc or set(doc) - known:
        raise ProviderError(400, "bad-request", f"send any of {', '.join(sorted(known))}")
    # everything is checked before anything is written
    blocks = doc.get("blocks")
    if "blocks" in doc and (
        not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS
        or not all(isinstance(b, str) and 0 < len(b) <= MAX_URL for b in blocks)
    ):
        raise ProviderError(400, "bad-request", "blocks is a list of actor URLs and domains")
    decision = doc.get("decide")
    if "decide" in doc and (
        not isinstance(decision, Mapping) or decision.get("state") not in DECISIONS
        or not isinstance(decision.get("actor"), str)
    ):
        raise ProviderError(400, "bad-request",
                            "decide is {actor, state: accepted | rejected | removed}")
    me = await in_thread(inbox.own_actor_of, ports, tenant.name)
    if "activity" in doc:
        _check_activity(me, doc["activity"], doc.get("to"))
    if ("decide" in doc or "activity" in doc) and me is None:
        raise ProviderError(409, "not-on-the-fediverse", "publish the site's actor first")
    answer: dict[str, Any] = {}
    if isinstance(blocks, list):
        await in_thread(ports.followers.set_blocks, tenant.name, blocks)
        answer["blocks"] = len(blocks)
    if me is not None and isinstance(decision, Mapping):
        answer["decided"] = await _decide(ports, tenant.name, me, decision)
    if me is not None and "activity" in doc:
        answer["queued"] = await _queue(ports, tenant.name, doc["activity"], doc.get("to"))
    return JSONResponse(answer)


def _check_activity(me: dict[str, Any] | None, activity: Any, to: Any) -> None:
    if not isinstance(activity, Mapping) or not isinstance(activity.get("type"), str):
        raise ProviderError(400, "bad-request", "activity is an object with a type")
    if me is not None and activity.get("actor") != me["id"]:
        raise ProviderError(400, "bad-request", "the activity's actor must be the site's")
    if len(jsonio.dumps(activity)) > delivery.MAX_OBJECT:
        raise ProviderError(413, "too-large", "an activity is at most 1 MiB")
    if to != "followers" and not (isinstance(to, list) and 0 < len(to) <= 1000):
        raise ProviderError(400, "bad-request", 'to is "followers" or a list of inboxes')
    if isinstance(to, list):
        for url in to:
            _url(url, "each of to")


async def _decide(ports: ProviderPorts, tenant: str, me: dict[str, Any],
                  decision: Mapping[str, Any]) -> str:
    assert ports.followers is not None
    found = await in_thread(ports.followers.get, tenant, decision["actor"])
    if found is None:
        raise ProviderError(404, "not-found", "no such follower (or pending follow) here")
    follow = {"id": found.follow_id, "type": "Follow", "actor": found.actor, "object": me["id"]}
    if decision["state"] == ACCEPTED:
        await in_thread(ports.followers.save, Follower(
            tenant, found.actor, found.inbox, found.shared_inbox, ACCEPTED, found.follow_id,
            found.created))
        answer = delivery.accept(str(me["id"]), follow)
    else:
        await in_thread(ports.followers.remove, tenant, found.actor)
        answer = {**delivery.accept(str(me["id"]), follow), "type": "Reject"}
        answer["id"] = answer["id"].replace("#accepts/", "#rejects/")
    await in_thread(delivery.queue, ports, tenant, [found.inbox], answer)
    return str(decision["state"])


async def _queue(ports: ProviderPorts, tenant: str, activity: Mapping[str, Any],
                 to: Any) -> int:
    assert ports.followers is not None
    if to == "followers":
        inboxes = await in_thread(ports.followers.inboxes, tenant)
    else:
        inboxes = list(to)
    return await in_thread(delivery.queue, ports, tenant, inboxes, activity)


def routes() -> list[Route]:
    return [
        Route("/activitypub", endpoint(post_activitypub), methods=["POST"]),
    ]


__all__ = ["routes"]
