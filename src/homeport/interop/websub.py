"""The WebSub hub (W3C Recommendation) a provider runs for its tenants' feeds, at
``/_homeport/websub`` on each tenant's host.

A subscriber POSTs ``hub.mode`` (``subscribe`` / ``unsubscribe``), ``hub.topic`` (one of the
tenant's feeds, named by any of the site's hosts), ``hub.callback``, and optionally
``hub.lease_seconds`` and ``hub.secret``. The hub answers 202 and then verifies the intent: a GET
to the callback with ``hub.mode``, ``hub.topic``, ``hub.challenge`` and (subscribing)
``hub.lease_seconds``; only a 2xx whose body is exactly the challenge makes the subscription
(durable, ``ports.Subscriptions``) or ends it. A lease asked outside ``MIN_LEASE``…``MAX_LEASE``
is brought within them (the verification says which was granted). When a publish changes a
feed the provider calls ``notify``: each subscriber in force gets the new feed POSTed, with
``Link`` headers naming the hub and the topic, signed ``X-Hub-Signature: sha256=<HMAC>`` with
its secret, tried again after 5 s, 30 s, 2 min and 10 min on failure; a 410 ends the
subscription. Every request to a callback goes through the SSRF guard (``web/outbound.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import logging
import secrets
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit

import anyio
import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from homeport.interop.hosting import ports_of, tenant_of
from homeport.interop.ports import Handler, ProviderPorts, Subscription
from homeport.render.discovery import WEBSUB, feed_link_header, origin_of
from homeport.web import outbound
from homeport.web.bodies import BodyTooLarge, read_limited

log = logging.getLogger("homeport.websub")

MIN_LEASE = 3600
MAX_LEASE = 30 * 24 * 3600
DEFAULT_LEASE = 10 * 24 * 3600
MAX_BODY = 8 * 1024
MAX_URL = 2048
MAX_SECRET = 199
"""The specification: a secret is less than 200 bytes."""
MAX_SUBSCRIPTIONS = 1000
"""Per tenant, in force at once."""
CONCURRENCY = 16
"""Deliveries of one publish in flight at once."""
RETRIES = (5, 30, 120, 600)
"""Seconds before each new attempt at a delivery."""
FEEDS = ("feed.atom", "feed.rss", "feed.json")


def provider_routes() -> list[BaseRoute]:
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]  # 405 rather than the 404 after
    return [Route(WEBSUB.removeprefix("/_homeport"), hub, methods=methods)]


def home_handlers() -> dict[str, Handler]:
    return {}  # the hub is the provider's alone: nothing reaches the home


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "message": message}, status)


async def _form(request: Request) -> dict[str, str] | JSONResponse:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return _refuse(415, "send the request form-encoded (application/x-www-form-urlencoded)")
    try:
        body = await read_limited(request, MAX_BODY)
    except BodyTooLarge:
        return _refuse(413, f"a subscription request is at most {MAX_BODY} bytes")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        return _refuse(400, "the body is not a form")
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            return _refuse(400, f"{name} is given twice")
        form[name] = value
    return form


def _web_url(value: str, what: str) -> str | None:
    """Why ``value`` is not an absolute http(s) URL we would keep, or None."""
    if not value:
        return f"{what} is missing"
    if len(value) > MAX_URL:
        return f"{what} is longer than {MAX_URL} characters"
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return f"{what} is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{what} must be an http(s) URL"
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        return f"{what} must not contain spaces or control characters"
    return None


async def hub(request: Request) -> Response:
    if request.method != "POST":
        message = {"error": "method-not-allowed", "message": "the hub takes POST requests"}
        return JSONResponse(message, 405, {"Allow": "POST"})
    tenant = await tenant_of(request)
    ports = ports_of(request)
    if tenant is None or ports.subscriptions is None:
        return JSONResponse({"error": "not-found", "message": "no site is served here"}, 404)
    form = await _form(request)
    if isinstance(form, Response):
        return form
    mode = form.get("hub.mode", "")
    if mode not in ("subscribe", "unsubscribe"):
        return _refuse(400, "hub.mode must be subscribe or unsubscribe")
    topic = form.get("hub.topic", "")
    callback = form.get("hub.callback", "")
    for value, what in ((topic, "hub.topic"), (callback, "hub.callback")):
        wrong = _web_url(value, what)
        if wrong:
            return _refuse(400, wrong)
    if urlsplit(callback).fragment:
        return _refuse(400, "hub.callback must not have a fragment")
    parts = urlsplit(topic)
    owner = await anyio.to_thread.run_sync(ports.sites.tenant_for_host, parts.netloc)
    path = parts.path or "/"
    if owner is None or owner.name != tenant.name:
        return _refuse(400, "hub.topic is not a feed of this site")
    live = await anyio.to_thread.run_sync(ports.sites.live_path, tenant.name, path)
    if mode == "subscribe" and (not path.endswith(FEEDS) or parts.query or not live):
        return _refuse(400, "hub.topic is not a feed of this site (its feeds: …/feed.atom, "
                            "…/feed.rss, …/feed.json)")
    secret = form.get("hub.secret", "")
    if len(secret.encode()) > MAX_SECRET:
        return _refuse(400, f"hub.secret must be less than {MAX_SECRET + 1} bytes")
    raw = form.get("hub.lease_seconds", "")
    if raw and not raw.isdigit():
        return _refuse(400, "hub.lease_seconds must be a whole number of seconds")
    lease = min(max(int(raw[:12]) if raw else DEFAULT_LEASE, MIN_LEASE), MAX_LEASE)
    refused = _refused_literal(callback, ports)
    if refused:
        return _refuse(400, refused)
    sub = Subscription(tenant.name, topic, path, callback, secret, 0)
    task = BackgroundTask(verify, ports, sub, mode, lease)
    return Response(status_code=202, background=task)


def _refused_literal(callback: str, ports: ProviderPorts) -> str | None:
    """A callback written as a refused address is refused now; a name is checked when it
    is resolved, at each request."""
    host = (urlsplit(callback).hostname or "").strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if outbound.policy(ports.fetch_allow_private)(address):
        return None
    return f"hub.callback is at {address}, which is not a public address"


async def verify(ports: ProviderPorts, sub: Subscription, mode: str, lease: int) -> bool:
    """Ask the callback to confirm; record the outcome. True when confirmed."""
    assert ports.subscriptions is not None
    challenge = secrets.token_urlsafe(24)
    params = {"hub.mode": mode, "hub.topic": sub.topic, "hub.challenge": challenge}
    if mode == "subscribe":
        params["hub.lease_seconds"] = str(lease)
    url = sub.callback + ("&" if "?" in sub.callback else "?") + urlencode(params)
    try:
        answer = await outbound.exchange(
            "GET", url, permitted=outbound.policy(ports.fetch_allow_private),
            limit=1024, timeout=10.0, max_redirects=0,
        )
    except (outbound.FetchRefused, httpx.HTTPError, TimeoutError, OSError) as exc:
        log.info("websub: %s of %s not verified: %s", mode, sub.callback, exc)
        return False
    if not 200 <= answer.status < 300 or answer.body != challenge.encode():
        log.info("websub: %s of %s not confirmed (%s)", mode, sub.callback, answer.status)
        return False
    store = ports.subscriptions
    if mode == "unsubscribe":
        await anyio.to_thread.run_sync(store.remove, sub.tenant, sub.topic, sub.callback)
        return True
    now = ports.clock()
    kept = replace(sub, expires=now + lease * 1000)
    saved = await anyio.to_thread.run_sync(store.save, kept, MAX_SUBSCRIPTIONS, now)
    if not saved:
        log.warning("websub: %s has %d subscriptions already", sub.tenant, MAX_SUBSCRIPTIONS)
    return bool(saved)


# --- content distribution ------------------------------------------------------------------
Changed = Mapping[str, tuple[bytes, str]]
"""A feed's path on the site (``/feed.atom``) → its new body and content type."""

_tasks: set[asyncio.Task[None]] = set()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def notify(ports: ProviderPorts, tenant: str, changed: Changed) -> int:
    """Start delivering the changed feeds to their subscribers (in the background); how
    many deliveries were started."""
    if ports.subscriptions is None or not changed:
        return 0
    subs = await anyio.to_thread.run_sync(
        ports.subscriptions.for_paths, tenant, list(changed), ports.clock()
    )
    gate = asyncio.Semaphore(CONCURRENCY)
    for sub in subs:
        body, kind = changed[sub.path]
        task = asyncio.get_running_loop().create_task(deliver(ports, sub, body, kind, gate))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)
    return len(subs)


async def deliver(
    ports: ProviderPorts,
    sub: Subscription,
    body: bytes,
    kind: str,
    gate: asyncio.Semaphore | None = None,
) -> None:
    origin = origin_of(sub.topic)
    headers = {
        "Content-Type": kind,
        "Link": feed_link_header(origin, sub.topic).decode(),
    }
    if sub.secret:
        headers["X-Hub-Signature"] = signature(sub.secret, body)
    permitted = outbound.policy(ports.fetch_allow_private)
    gate = gate or asyncio.Semaphore(1)
    for attempt, wait in enumerate((0, *RETRIES)):
        await asyncio.sleep(wait)
        try:
            async with gate:
                answer = await outbound.exchange(
                    "POST", sub.callback, permitted=permitted, headers=headers, content=body,
                    limit=4096, timeout=10.0, max_redirects=0,
                )
        except outbound.FetchRefused as exc:
            log.info("websub: delivery to %s refused: %s", sub.callback, exc)
            return
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            log.info("websub: delivery %d to %s failed: %s", attempt + 1, sub.callback, exc)
            continue
        if 200 <= answer.status < 300:
            return
        if answer.status == 410:
            assert ports.subscriptions is not None
            await anyio.to_thread.run_sync(
                ports.subscriptions.remove, sub.tenant, sub.topic, sub.callback
            )
            return
        log.info("websub: delivery %d to %s: %s", attempt + 1, sub.callback, answer.status)


__all__ = ["home_handlers", "notify", "provider_routes", "signature", "verify"]
