"""``POST /_homeport/v1/inbox``: the home takes its inbox, and acknowledges what it applied.

One signed request does both (``docs/protocol.md``, "Inbox and relay"): the acks of what the
home applied since its last request, then the next items in order after the home's cursor,
waiting up to ``wait`` ms for one when there are none (a long poll). A put in this process
wakes the wait at once (``inbox.Wakeups``); a put by another worker process is found by a
re-read every ``RECHECK_S``, an indexed query of one row. When a poll starts waiting and when
it ends is written down (``ProviderInbox.connected``: Micropub waits only for a connected home).
"""

from __future__ import annotations

import base64
import signal
import threading
import time
from types import FrameType
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from homeport import jsonio
from homeport.provider.api.context import Provider
from homeport.provider.api.http import endpoint, json_of
from homeport.provider.api.signed import authenticate
from homeport.provider.errors import ProviderError
from homeport.provider.inbox import MAX_ID, ProviderInbox, Waiting

MAX_WAIT_MS = 30_000
MAX_LIMIT = 500
MAX_ACKS = 1000
MAX_RESULT = 64 * 1024
"""Largest result the home may report for one item, as JSON."""
ANSWER_BYTES = 8 * 1024 * 1024
"""Bodies in one answer, about (always at least one item)."""
RECHECK_S = 0.25
"""How often a waiting request re-reads the inbox for another process's puts."""
EXITING = threading.Event()
"""Set when this process was asked to stop: waiting polls answer at once."""


def end_polls_on_exit() -> None:
    """uvicorn lets requests in flight finish for up to its graceful timeout before it stops,
    and a poll may wait 25 s: every provider with a home connected took 5 s to stop. So the
    handlers uvicorn installed for SIGINT and SIGTERM (this runs at lifespan start, after it
    did) are wrapped to set ``EXITING`` first. Only in the main thread, where signals are."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(sig)
        if not callable(previous) or getattr(previous, "ends_polls", False):
            continue

        def handler(signum: int, frame: FrameType | None, previous: Any = previous) -> None:
            EXITING.set()
            previous(signum, frame)

        handler.ends_polls = True  # type: ignore[attr-defined]
        signal.signal(sig, handler)


def inbox_of(request: Request) -> ProviderInbox:
    found = request.app.state.ports.inbox
    assert isinstance(found, ProviderInbox)
    return found


def _number(doc: dict[str, Any], name: str, default: int, top: int) -> int:
    value = doc.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
        raise ProviderError(400, "bad-request", f"{name!r} must be a whole number 0..{top}")
    return value


def parse_acks(raw: Any) -> dict[str, dict[str, Any]]:
    if raw is None:
        return {}
    if not isinstance(raw, list) or len(raw) > MAX_ACKS:
        raise ProviderError(400, "bad-request", f"'ack' must be a list of at most {MAX_ACKS}")
    acks: dict[str, dict[str, Any]] = {}
    for entry in raw:
        item_id = entry.get("id") if isinstance(entry, dict) else None
        result = entry.get("result") if isinstance(entry, dict) else None
        if not isinstance(item_id, str) or not 0 < len(item_id) <= MAX_ID:
            raise ProviderError(400, "bad-request", "each ack needs an 'id' (a string)")
        if not isinstance(result, dict) or len(jsonio.dumps(result)) > MAX_RESULT:
            raise ProviderError(
                400, "bad-request", f"each ack needs a 'result' object of at most {MAX_RESULT}"
            )
        acks[item_id] = result
    return acks


def parse_key(raw: Any) -> bytes | None:
    """The home's box key (``crypto/boxes.py``), base64url, 32 bytes."""
    if raw is None:
        return None
    try:
        key = base64.urlsafe_b64decode(str(raw) + "=" * (-len(str(raw)) % 4))
    except ValueError:
        key = b""
    if not isinstance(raw, str) or len(key) != 32:
        raise ProviderError(400, "bad-request", "'seal' must be a 32-byte key, base64url")
    return key


def _item(found: Waiting) -> dict[str, Any]:
    return {
        "seq": found.seq,
        "id": found.id,
        "kind": found.kind,
        "meta": found.meta,
        "body": base64.urlsafe_b64encode(found.body).decode().rstrip("="),
        "received": found.received,
        "sealed": found.sealed,
    }


async def take(request: Request, provider: Provider) -> Response:
    tenant, body = await authenticate(request, provider, writes=True)
    doc = json_of(body)
    after = _number(doc, "after", 0, 2**62)
    wait = _number(doc, "wait", 0, MAX_WAIT_MS)
    limit = _number(doc, "limit", 100, MAX_LIMIT) or 1
    acks = parse_acks(doc.get("ack"))
    key = parse_key(doc.get("seal"))
    box = inbox_of(request)
    if key is not None:
        await provider.query(box.set_key, tenant.name, key)
    acked = await provider.query(box.ack, tenant.name, acks) if acks else 0
    deadline = time.monotonic() + wait / 1000
    event = box.wakeups.register(tenant.name)
    waits = False
    try:
        while True:
            event.clear()
            items = await provider.query(box.waiting, tenant.name, limit, ANSWER_BYTES, after)
            left = deadline - time.monotonic()
            if items or left <= 0 or EXITING.is_set() or await request.is_disconnected():
                break
            if not waits:
                waits = True
                await provider.query(box.poll_waits, tenant.name)
            with anyio.move_on_after(min(left, RECHECK_S)):
                await event.wait()
    finally:
        box.wakeups.unregister(tenant.name, event)
        with anyio.CancelScope(shield=True):
            await provider.query(box.poll_ended, tenant.name)
    return JSONResponse({"acked": acked, "items": [_item(i) for i in items]})


def routes() -> list[Route]:
    return [Route("/inbox", endpoint(take), methods=["POST"])]


__all__ = ["EXITING", "end_polls_on_exit", "routes", "take"]
