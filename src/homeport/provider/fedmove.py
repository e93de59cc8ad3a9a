"""Followers that move with the site (issue F.4), the provider's side of the sync API.

When a site comes to this provider on the same address (DNS moved from another provider), its
followers' servers keep delivering to the same inbox URLs and expect deliveries signed by the
same key; what this provider lacks is the follower list, which the home keeps (a private
record). The home hands it over with ``PUT /_homeport/v1/activitypub/followers``, signed like
every sync request; followers already here (they followed since the site arrived) are left as
they are, so nothing that arrived here is lost or overwritten. ``GET`` answers how many this
provider holds, so the home sends the list only where it is missing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport.interop.ports import ACCEPTED, PENDING, Follower, Followers
from homeport.provider.api.context import Provider
from homeport.provider.api.http import endpoint, json_of
from homeport.provider.api.signed import authenticate
from homeport.provider.errors import ProviderError

MAX_FOLLOWERS = 100_000
"""The most followers one hand-over carries (the request body is capped at 32 MiB too)."""
MAX_URL = 2048


def _followers_of(request: Request) -> Followers:
    found: Followers | None = request.app.state.ports.followers
    if found is None:
        raise ProviderError(404, "not-found", "this provider does not speak ActivityPub")
    return found


def _url(value: Any, what: str, index: int, empty: bool = False) -> str:
    if empty and value == "":
        return ""
    ok = isinstance(value, str) and len(value) <= MAX_URL
    parts = urlsplit(value) if ok else None
    if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
        raise ProviderError(
            400, "bad-followers", f"follower {index}: {what} must be an http(s) URL; "
            "nothing was changed")
    return str(value)


def parse_followers(doc: Any, tenant: str) -> list[Follower]:
    """The followers of a hand-over, each checked; 400 ``bad-followers`` on the first fault."""
    items = doc.get("followers") if isinstance(doc, dict) else None
    if not isinstance(items, list) or len(items) > MAX_FOLLOWERS:
        raise ProviderError(400, "bad-followers",
                            f"followers must be a list of at most {MAX_FOLLOWERS}")
    found: dict[str, Follower] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ProviderError(400, "bad-followers", f"follower {index} is not an object")
        state = item.get("state", ACCEPTED)
        if state not in (ACCEPTED, PENDING):
            raise ProviderError(400, "bad-followers",
                                f"follower {index}: state must be accepted or pending")
        created = item.get("created", 0)
        if not isinstance(created, int) or isinstance(created, bool) or not 0 <= created < 2**53:
            raise ProviderError(400, "bad-followers",
                                f"follower {index}: created must be milliseconds")
        follow_id = item.get("follow_id", "")
        if not isinstance(follow_id, str) or len(follow_id) > MAX_URL:
            raise ProviderError(400, "bad-followers", f"follower {index}: bad follow_id")
        actor = _url(item.get("actor"), "actor", index)
        found[actor] = Follower(
            tenant=tenant,
            actor=actor,
            inbox=_url(item.get("inbox"), "inbox", index),
            shared_inbox=_url(item.get("shared_inbox", ""), "shared_inbox", index, empty=True),
            state=str(state),
            follow_id=follow_id,
            created=created,
        )
    return list(found.values())


async def get_followers(request: Request, provider: Provider) -> Response:
    tenant, _ = await authenticate(request, provider)
    followers = _followers_of(request)
    total = await provider.query(followers.count, tenant.name, None)
    accepted = await provider.query(followers.count, tenant.name, ACCEPTED)
    return JSONResponse({"followers": accepted, "pending": total - accepted})


async def put_followers(request: Request, provider: Provider) -> Response:
    """The home's follower list: those not here yet are added, in one transaction."""
    tenant, body = await authenticate(request, provider, writes=True)
    followers = _followers_of(request)
    given = parse_followers(json_of(body), tenant.name)
    added = await provider.query(followers.add_missing, tenant.name, given)
    return JSONResponse({"added": added, "given": len(given)})


def routes() -> list[Route]:
    return [
        Route("/activitypub/followers", endpoint(get_followers), methods=["GET"]),
        Route("/activitypub/followers", endpoint(put_followers), methods=["PUT"]),
    ]


__all__ = ["MAX_FOLLOWERS", "parse_followers", "routes"]
