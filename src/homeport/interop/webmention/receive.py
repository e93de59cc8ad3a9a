"""Receiving webmentions at the provider, on the tenant's own host.

``POST /_homeport/webmention`` checks the request (source and target are http(s) URLs, not the
same, the target a live page of this tenant's site), records it in the provider's durable
queue (``ports.Mentions``) and answers 202 with a status URL at once. Each worker process runs
one ``Verifier`` that takes queued jobs from that shared queue (any process may verify any
job; a dead verifier's lease runs out and another takes it), fetches the source through the
SSRF-safe fetcher within size, time and redirect limits, checks that it links to the target,
reads its microformats and queues the result in the tenant's inbox for the home: a mention
(new or changed), or its removal when the source answers 410 or no longer links.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urldefrag, urlsplit

import anyio
import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from homeport import jsonio
from homeport.core.errors import Errno, HomeportError
from homeport.interop import hosting
from homeport.interop.ports import (
    TENANT_PREFIX,
    InboxFull,
    MentionJob,
    ProviderPorts,
    RateLimited,
)
from homeport.interop.webmention import parse
from homeport.web import outbound
from homeport.web.bodies import BodyTooLarge, read_limited
from homeport.web.errors import error_body

log = logging.getLogger("homeport.webmention")

KIND = "webmention.received"
"""The inbox item kind the home's handler takes."""
ENDPOINT = f"{TENANT_PREFIX}/webmention"
MAX_BODY = 8 * 1024
ACCEPT = ("text/html, application/xhtml+xml;q=0.9, application/json;q=0.8, text/plain;q=0.5,"
          " */*;q=0.1")


@dataclass(frozen=True)
class Limits:
    """How far the provider goes for one source."""

    size: int = 1024 * 1024
    """Bytes of the source read at most (more: rejected)."""
    timeout: float = 5.0
    """Seconds to connect, or between two reads."""
    total: float = 15.0
    """Seconds for the whole fetch, redirects included."""
    redirects: int = 5
    lease: int = 120_000
    """Milliseconds a verifier holds a job before another process may take it."""
    parallel: int = 16
    """Verifications running at once in one process."""
    sweep: float = 5.0
    """Seconds between looks at the queue when nothing woke the verifier."""
    retry: int = 60_000
    """Milliseconds before a job is tried again when the tenant's inbox was full."""
    keep: int = 30 * 24 * 3600 * 1000
    """Milliseconds finished rows no answer needs are kept (``Mentions.prune``)."""
    prune_every: float = 3600.0
    """Seconds between two prunings by one process."""


def provider_routes(limits: Limits | None = None) -> list[BaseRoute]:
    """The webmention endpoint and its status pages, for every tenant's host."""
    chosen = limits or Limits()

    async def endpoint(request: Request) -> Response:
        return await receive(request, chosen)

    async def status_page(request: Request) -> Response:
        return await status(request, chosen)

    return [  # mounted under TENANT_PREFIX on every tenant's host
        Route("/webmention", endpoint, methods=["POST", "GET"]),
        Route("/webmention/status/{job_id}", status_page, methods=["GET"]),
    ]


def _error(code: int, message: str, errno: Errno = Errno.INVALID_PARAMETERS,
           headers: dict[str, str] | None = None) -> JSONResponse:
    body = error_body(HomeportError(message, code=code, errno=errno))
    return JSONResponse(body, code, headers=headers)


def _ports(request: Request) -> ProviderPorts | None:
    """The ports, when this provider keeps a webmention queue."""
    ports = hosting.ports_of(request)
    return ports if ports.mentions is not None else None


def iso(ms: int) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


async def _form(request: Request) -> dict[str, str] | JSONResponse:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return _error(415, "send source and target as application/x-www-form-urlencoded",
                      Errno.INVALID_PARAMETERS)
    try:
        body = await read_limited(request, MAX_BODY)
    except BodyTooLarge:
        return _error(413, f"a webmention request is at most {MAX_BODY} bytes",
                      Errno.REQUEST_TOO_LARGE)
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "the form is not UTF-8 application/x-www-form-urlencoded")
    return {k: v[0].strip() for k, v in fields.items() if v}


async def receive(request: Request, limits: Limits) -> Response:
    """``POST /_homeport/webmention``: check, record, answer 202; verification follows."""
    ports = _ports(request)
    if ports is None or ports.mentions is None:
        return _error(404, "this provider does not receive webmentions", Errno.MISSING_RESOURCE)
    tenant = await hosting.tenant_of(request)
    if tenant is None:
        return _error(404, "there is no site at this address", Errno.MISSING_RESOURCE)
    if request.method != "POST":
        return _error(405, "send webmentions with POST (source and target, form-encoded)",
                      Errno.METHOD_NOT_ALLOWED, {"Allow": "POST"})
    form = await _form(request)
    if isinstance(form, Response):
        return form
    try:
        source = parse.check_url("source", form.get("source", ""))
        target = parse.check_url("target", form.get("target", ""))
    except parse.BadURL as exc:
        return _error(400, str(exc))
    if urldefrag(source)[0] == urldefrag(target)[0]:
        return _error(400, "source and target are the same URL")
    parts = urlsplit(target)
    owner = await anyio.to_thread.run_sync(ports.sites.tenant_for_host, parts.netloc.lower())
    if owner is None or owner.name != tenant.name:
        return _error(400, f"target {target!r} is not on this site ({tenant.origin})")
    live = await anyio.to_thread.run_sync(ports.sites.live_path, tenant.name, parts.path or "/")
    if not live:
        return _error(400, f"target {target!r} is not a page of this site")
    mentions = ports.mentions
    try:
        job = await anyio.to_thread.run_sync(
            mentions.submit, tenant.name, source, target, parse.host_of(source), ports.clock())
    except RateLimited as exc:
        return _error(429, str(exc), Errno.CLIENT_REACHED_CAPACITY,
                      {"Retry-After": str(exc.retry_after)})
    verifier(request, ports, limits).wake()
    url = str(request.url.replace(path=f"{ENDPOINT}/status/{job.id}", query="", fragment=""))
    return JSONResponse({"id": job.id, "status": job.state, "status_url": url,
                         "message": "accepted for verification; see status_url"}, 202)


async def status(request: Request, limits: Limits) -> Response:
    """``GET /_homeport/webmention/status/{id}``: where a webmention stands."""
    ports = _ports(request)
    if ports is None or ports.mentions is None:
        return _error(404, "this provider does not receive webmentions", Errno.MISSING_RESOURCE)
    tenant = await hosting.tenant_of(request)
    job_id = request.path_params["job_id"]
    job = None
    if tenant is not None and len(job_id) <= 64:
        job = await anyio.to_thread.run_sync(ports.mentions.get, tenant.name, job_id)
    if tenant is None or job is None:
        return _error(404, "no such webmention here", Errno.MISSING_RESOURCE)
    if job.state in ("queued", "verifying"):
        verifier(request, ports, limits).wake()  # also picks up a job a dead worker left
    body: dict[str, Any] = {"id": job.id, "source": job.source, "target": job.target,
                            "status": job.state, "detail": job.detail,
                            "received": iso(job.created), "updated": iso(job.updated)}
    if job.state in ("accepted", "removed"):
        result = await anyio.to_thread.run_sync(ports.inbox.result, tenant.name, item_id(job))
        body["home"] = dict(result) if result is not None else None
    return JSONResponse(body)


def item_id(job: MentionJob) -> str:
    return f"webmention-{job.id}"


# --- verification --------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def provider_lifespan(state: Any) -> AsyncIterator[None]:
    """Each provider process verifies from its start, so rows a restart left queued (or a
    dead worker left leased) are taken without waiting for a request."""
    ports = getattr(state, "ports", None)
    if not isinstance(ports, ProviderPorts) or ports.mentions is None:
        yield
        return
    found = Verifier(ports, Limits())
    state.webmention_verifier = found
    found.start()
    try:
        yield
    finally:
        await found.stop()


def verifier(request: Request, ports: ProviderPorts, limits: Limits) -> Verifier:
    """This process's verifier, started on first use (in the serving event loop)."""
    state = request.app.state
    found: Verifier | None = getattr(state, "webmention_verifier", None)
    if found is None or found.ports is not ports:
        found = Verifier(ports, limits)
        state.webmention_verifier = found
    found.start()
    return found


class Verifier:
    """Takes jobs from the shared queue and verifies up to ``limits.parallel`` at once."""

    def __init__(self, ports: ProviderPorts, limits: Limits) -> None:
        self.ports = ports
        self.limits = limits
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._running) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _loop(self) -> None:
        assert self.ports.mentions is not None
        mentions = self.ports.mentions
        pruned = -self.limits.prune_every
        while True:
            if time.monotonic() - pruned >= self.limits.prune_every:
                pruned = time.monotonic()
                try:
                    await anyio.to_thread.run_sync(
                        mentions.prune, self.ports.clock() - self.limits.keep)
                except Exception:
                    log.exception("cannot prune the webmention queue")
            free = self.limits.parallel - len(self._running)
            jobs: list[MentionJob] = []
            if free > 0:
                self._wake.clear()
                try:
                    jobs = await anyio.to_thread.run_sync(
                        mentions.claim, self.ports.clock(), self.limits.lease, free)
                except Exception:  # the database is away: look again later
                    log.exception("cannot read the webmention queue")
            for job in jobs:
                task = asyncio.get_running_loop().create_task(self._run(job))
                self._running.add(task)
                task.add_done_callback(self._done)
            if jobs and len(jobs) == free:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.limits.sweep)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._wake.set()

    async def _run(self, job: MentionJob) -> None:
        assert self.ports.mentions is not None
        try:
            await verify(self.ports, self.limits, job)
        except Exception as exc:  # one bad source must not stop the others
            log.exception("verifying webmention %s failed", job.id)
            await anyio.to_thread.run_sync(
                self.ports.mentions.finish, job.id, "rejected",
                f"verification failed: {type(exc).__name__}", "", self.ports.clock())


@dataclass(frozen=True)
class Outcome:
    mention: dict[str, Any] | None
    """The mention, or None when the source is gone or no longer links (``detail`` says)."""
    detail: str = ""
    final: bool = False
    """A failure that says nothing about an existing mention (unreachable, too large…)."""


async def examine(ports: ProviderPorts, limits: Limits, job: MentionJob) -> Outcome:
    """Fetch the source and read it: the mention, or why there is none."""
    try:
        with anyio.fail_after(limits.total):
            fetched = await outbound.fetch(
                job.source, permitted=outbound.policy(ports.fetch_allow_private),
                limit=limits.size, timeout=limits.timeout, max_redirects=limits.redirects,
                accept=ACCEPT)
    except outbound.FetchRefused as exc:
        return Outcome(None, f"the source was not fetched: {exc}", final=True)
    except TimeoutError:
        return Outcome(None, f"the source did not answer within {limits.total:g} s", final=True)
    except httpx.HTTPError as exc:
        return Outcome(None, f"the source could not be fetched: {type(exc).__name__} {exc}",
                       final=True)
    if fetched.status == 410:
        return Outcome(None, "the source is gone (410)")
    if not 200 <= fetched.status < 300:
        return Outcome(None, f"the source answered {fetched.status}", final=True)
    charset = parse.charset_of(fetched.headers.get("content-type", ""))
    found = await anyio.to_thread.run_sync(
        parse.links_to, fetched.body, fetched.content_type, fetched.url, job.target, charset)
    if not found:
        return Outcome(None, "the source does not link to the target")
    verified = iso(ports.clock())
    if fetched.content_type not in ("", "text/html", "application/xhtml+xml"):
        return Outcome({"source": job.source, "target": job.target, "type": "mention",
                        "url": job.source, "author": {"name": parse.host_of(job.source),
                                                      "url": "", "photo": ""},
                        "name": "", "content": {"html": "", "text": ""},
                        "published": "", "verified": verified})
    mention = await anyio.to_thread.run_sync(_microformats, fetched, job, verified, charset)
    return Outcome(mention)


def _microformats(fetched: outbound.Fetched, job: MentionJob, verified: str,
                  charset: str) -> dict[str, Any]:
    import mf2py  # its parser stack loads only where mentions are verified

    parsed = mf2py.parse(doc=parse.decode(fetched.body, charset), url=fetched.url)
    return parse.classify(parsed, job.source, job.target, verified)


async def verify(ports: ProviderPorts, limits: Limits, job: MentionJob) -> str:
    """Verify one job and record its outcome; the state it ended in."""
    assert ports.mentions is not None
    mentions = ports.mentions
    outcome = await examine(ports, limits, job)
    call: Callable[..., Awaitable[Any]] = anyio.to_thread.run_sync
    last = await call(mentions.last_digest, job.tenant, job.source, job.target)
    if outcome.mention is None:
        if outcome.final or last is None:
            await call(mentions.finish, job.id, "rejected", outcome.detail, "", ports.clock())
            return "rejected"
        meta = {"action": "delete", "source": job.source, "target": job.target}
        body = {**meta, "verified": iso(ports.clock()), "reason": outcome.detail}
        state, digest, detail = "removed", "", outcome.detail
    else:
        digest = parse.digest(outcome.mention)
        if digest == last:
            await call(mentions.finish, job.id, "unchanged", "the mention is as it was", digest,
                       ports.clock())
            return "unchanged"
        meta = {"action": "upsert", "source": job.source, "target": job.target}
        body = {"action": "upsert", **outcome.mention}
        state, detail = "accepted", f"a {outcome.mention['type']}"
    try:
        await call(_put, ports, job, meta, jsonio.dumps(body))
    except InboxFull:
        await call(mentions.finish, job.id, "queued", "the site's inbox is full; retrying",
                   "", ports.clock(), ports.clock() + limits.retry)
        return "queued"
    await call(mentions.finish, job.id, state, detail, digest, ports.clock())
    return state


def _put(ports: ProviderPorts, job: MentionJob, meta: dict[str, str], body: bytes) -> str:
    return ports.inbox.put(job.tenant, KIND, meta, body, item_id=item_id(job))
