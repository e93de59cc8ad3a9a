"""Publishing and rollback: the live site switches under the tenant's lock (one job per tenant
at a time in any worker process, ``locks.py``), then WebSub subscribers and ActivityPub
followers hear what changed."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from homeport.interop import websub
from homeport.provider import activitypub, receive
from homeport.provider import websub as websub_store
from homeport.provider.api.context import Provider, in_thread
from homeport.provider.api.http import json_of
from homeport.provider.api.signed import authenticate
from homeport.provider.errors import ProviderError
from homeport.store.connection import DatabaseError

log = logging.getLogger("homeport.provider")


async def publish(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    req = receive.Publish.parse(json_of(body))
    async with provider.lock(tenant.name):
        current = await provider.query(provider.db.tenant, tenant.name) or tenant
        tdir = provider.tdir(current)
        now = provider.clock()

        def run() -> tuple[receive.Published, dict[str, tuple[bytes, str]],
                           activitypub.Changes | None]:
            store, name = provider.sites, current.name
            before = store.live(name)
            with tdir.opened() as repo:
                keep = provider.settings.keep_commits
                done = receive.publish(repo, store, current, req, keep, now)
            return (done, websub_store.changed_feeds(store, name, before, done.manifest),
                    activitypub.changed_objects(store, name, before, done.manifest))

        done, feeds, objects = await in_thread(run)
        await provider.query(
            provider.db.published,
            current.name,
            req.operations,
            done.commit.seq,
            req.site,
            provider.clock(),
        )
        await provider.query(provider.db.set_usage, current.name, done.usage)
    await _notify_subscribers(request, tenant.name, feeds)
    await _tell_followers(request, tenant.name, objects)
    site = req.site or None
    return JSONResponse({"seq": done.commit.seq, "head": done.commit.id.hex(), "site": site})


async def rollback(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    seq = json_of(body).get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise ProviderError(400, "bad-request", "rollback needs 'seq', a number")
    async with provider.lock(tenant.name):
        store = provider.sites
        name = (await in_thread(store.kept, tenant.name)).get(seq)
        if name is None:
            raise ProviderError(404, "not-kept", f"commit {seq}'s site is not kept here")
        before = await in_thread(store.live, tenant.name)
        await in_thread(store.switch, tenant.name, name)
        await provider.query(provider.db.set_live, tenant.name, seq)
    feeds = await in_thread(websub_store.feeds_now, store, tenant.name, before, name)
    await _notify_subscribers(request, tenant.name, feeds)
    objects = await in_thread(activitypub.changed_by_switch, store, tenant.name, before, name)
    await _tell_followers(request, tenant.name, objects)  # Update/Delete of what it changed
    return JSONResponse({"live": seq})


async def _notify_subscribers(
    request: Request, tenant: str, feeds: dict[str, tuple[bytes, str]]
) -> None:
    """The WebSub hub: the subscribers of the feeds a change of the live tree changed."""
    try:
        await websub.notify(request.app.state.ports, tenant, feeds)
    except DatabaseError as exc:  # the site changed anyway; subscribers hear of the next one
        log.warning("websub: %s's subscribers not notified: %s", tenant, exc)


async def _tell_followers(
    request: Request, tenant: str, objects: activitypub.Changes | None
) -> None:
    """ActivityPub: what the publish changed, queued for the followers."""
    try:
        await activitypub.after_publish(request.app.state.ports, tenant, objects)
    except DatabaseError as exc:  # the site changed anyway; followers hear of the next one
        log.warning("activitypub: %s's followers not told: %s", tenant, exc)
