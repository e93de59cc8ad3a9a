"""A live change stream per collection: server-sent events instead of ``_since`` polling.

Each event carries one record or tombstone exactly as ``_since`` returns it, with the record's
``last_modified`` as the event id, so a reconnecting EventSource resumes from ``Last-Event-ID``
without losing or repeating a change.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import StreamingResponse

from homeport.api.querystring import parse_list_query
from homeport.api.resources import check_history, check_path_ids
from homeport.core.query import Filter, Op, Sort
from homeport.services import resources as res
from homeport.services.context import Context, User
from homeport.services.resources import RECORD

KEEPALIVE_SECONDS = 15.0
PAGE = 500


async def stream(
    ctx: Context, request: Request, user: User, bid: str, cid: str
) -> StreamingResponse:
    parent = f"/buckets/{bid}/collections/{cid}"
    check_path_ids(parent)
    scope = await res.list_scope(ctx, user, RECORD, parent)
    query = parse_list_query(list(request.query_params.multi_items()))
    since = query.since
    last_event = request.headers.get("last-event-id", "").strip()
    if last_event.isdigit():
        since = int(last_event)
    if since is None:
        since = await ctx.store.resource_timestamp("record", parent)
    else:
        await check_history(ctx, RECORD, parent, since)
    extra = [f for f in query.filters if f.field != "last_modified"]
    key = ("record", parent)

    async def events(since: int) -> AsyncIterator[str]:
        yield "retry: 2000\n\n"
        while not await request.is_disconnected():
            wake = ctx.changes.subscribe(key)
            try:
                changes = await res.list_objects(
                    ctx, scope, RECORD, parent,
                    [*extra, Filter("last_modified", Op.GT, since)],
                    [Sort("last_modified")], [], PAGE, True,
                )
                for change in changes:
                    since = change["last_modified"]
                    payload = json.dumps(change, separators=(",", ":"))
                    yield f"id: {since}\nevent: change\ndata: {payload}\n\n"
                if len(changes) == PAGE:
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    yield ": keep-alive\n\n"
            finally:
                ctx.changes.unsubscribe(key, wake)

    return StreamingResponse(
        events(since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
