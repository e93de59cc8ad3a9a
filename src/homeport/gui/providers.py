"""The Providers page: enroll with a provider, publish to all of them with live progress, see
which version each one has live, its health and storage, choose what is left out at each, and
leave one.

A publish runs in a worker thread (the same code as ``homeport publish``); its progress lives in
memory and reaches the browser as server-sent events, so the page needs no polling and the
person can leave it and come back.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response, StreamingResponse

from homeport.content.types import ENTRY_TYPES
from homeport.core.errors import HomeportError
from homeport.gui import autopublish, uploads, wording
from homeport.gui.pages import PREFIX, Page, page, when
from homeport.publish import run
from homeport.sync import providers
from homeport.sync.client import ProviderError

EVENT_INTERVAL = 0.25
EVENT_LIMIT = 20 * 60 * 4
"""A progress stream ends after 20 minutes at most (the browser reconnects if it must)."""


@dataclass
class Job:
    """One publish to every provider, as the page shows it."""

    started: int
    state: str = "building"
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    task: asyncio.Task[None] | None = None

    def update(self, url: str, **values: Any) -> None:
        with self.lock:
            self.providers.setdefault(url, {}).update(values)

    def view(self) -> dict[str, Any]:
        with self.lock:
            return {
                "state": self.state,
                "error": self.error,
                "providers": {u: dict(v) for u, v in self.providers.items()},
            }


_jobs: dict[str, Job] = {}


def _job_key(p: Page) -> str:
    return str(p.ctx.settings.data_dir)


def _rows(p: Page) -> list[dict[str, Any]]:
    return providers.load(p.ctx.settings.data_dir)


async def _page(p: Page, status: int = 200, error: str | None = None, **form: str) -> Response:
    rows = await asyncio.to_thread(_rows, p)
    job = _jobs.get(_job_key(p))
    return p.render(
        "providers.html",
        status,
        autopublish=autopublish.view(p.ctx, rows),
        providers=rows,
        error=error,
        form=form,
        job=job.view() if job else None,
        entry_types=sorted(ENTRY_TYPES),
    )


@page()
async def index(p: Page) -> Response:
    return await _page(p)


@page()
async def status(p: Page) -> Response:
    """Each provider's live commit, health and usage, asked now (JSON for the page's script)."""
    rows = await asyncio.to_thread(providers.status, p.ctx.settings)
    for row in rows:
        row["health_text"] = wording.health(row.get("error_code"), row.get("error_status", 0))
        last = row.get("last_publish")
        row["last_publish_text"] = when(last) if last else "never"
    return p.json(rows)


@page()
async def add(p: Page) -> Response:
    form = await p.form()
    url = uploads.line(form, "url", 300)
    code = uploads.line(form, "code", 200)
    name = uploads.line(form, "name", 63) or None
    try:
        if not url or not code:
            raise ValueError("Give the provider's address and the code its operator sent you.")
        entry = await asyncio.to_thread(providers.add, p.ctx.settings, url, code, name)
    except ProviderError as exc:
        return await _page(p, 400, wording.provider_problem(exc), url=url, name=name or "")
    except (ValueError, providers.ProvidersError, HomeportError) as exc:
        message = exc.message if isinstance(exc, HomeportError) else str(exc)
        return await _page(p, 400, message, url=url, name=name or "")
    p.flash(f"Enrolled with {entry['url']}: your site will be at {entry['site']}")
    return p.redirect(PREFIX + "/providers")


MAX_TAGS = 50


@page()
async def rules(p: Page) -> Response:
    """What one provider leaves out: entries with these tags, entries of these types."""
    form = await p.form()
    url = uploads.line(form, "url", 300)
    tags = [t.strip().lstrip("#") for t in uploads.line(form, "exclude_tags", 2000).split(",")]
    tags = [t for t in tags if t]
    types = [str(t) for t in form.getlist("exclude_types")]
    try:
        unknown = sorted(set(types) - set(ENTRY_TYPES))
        if unknown:
            raise ValueError(f"Unknown entry type: {', '.join(unknown)}.")
        if len(tags) > MAX_TAGS or any(len(t) > 100 for t in tags):
            raise ValueError(f"Give at most {MAX_TAGS} tags, each under 100 characters.")
        chosen = await asyncio.to_thread(providers.set_rules, p.ctx.settings, url, tags, types)
    except (ValueError, providers.ProvidersError) as exc:
        return await _page(p, 400, str(exc))
    if chosen["exclude_tags"] or chosen["exclude_types"]:
        p.flash(f"{url} will leave those out from the next publish on.")
    else:
        p.flash(f"{url} will publish everything public from the next publish on.")
    return p.redirect(PREFIX + "/providers")


@page()
async def remove(p: Page) -> Response:
    form = await p.form()
    url = uploads.line(form, "url", 300)
    forget = form.get("forget") == "1"
    try:
        await asyncio.to_thread(providers.remove, p.ctx.settings, url, forget)
    except ProviderError as exc:
        return await _page(p, 400, wording.provider_problem(exc))
    except (ValueError, providers.ProvidersError) as exc:
        return await _page(p, 400, str(exc))
    p.flash(f"Left {url}: it deletes your copy there.")
    return p.redirect(PREFIX + "/providers")


@page()
async def publish(p: Page) -> Response:
    key = _job_key(p)
    running = _jobs.get(key)
    if running is not None and running.state in ("building", "publishing"):
        p.flash("A publish is already running.")
        return p.redirect(PREFIX + "/providers")
    job = Job(started=p.now)
    _jobs[key] = job
    job.task = asyncio.get_running_loop().create_task(_run(p, job))
    return p.redirect(PREFIX + "/providers#progress")


async def _run(p: Page, job: Job) -> None:
    settings = p.ctx.settings
    try:
        def progress(url: str) -> Any:
            job.state = "publishing"
            job.update(url, sent=0, total=None)
            return lambda sent, total: job.update(url, sent=sent, total=total)

        report = await run.publish(settings, p.ctx, progress=progress, trigger="gui")
        outcomes = report.outcomes
        for o in outcomes:
            if o.error:
                said = o.error
                if isinstance(o.cause, ProviderError):
                    said = wording.provider_problem(o.cause)
                job.update(o.url, error=said, done=True)
            else:
                assert o.result is not None
                job.update(o.url, done=True, seq=o.result.seq, bytes=o.result.bytes,
                           seconds=round(o.result.seconds, 2), up_to_date=o.result.up_to_date)
        job.state = "failed" if any(o.error for o in outcomes) else "done"
    except Exception as exc:  # the page must say what went wrong, whatever it was
        job.error = str(getattr(exc, "message", None) or exc)
        job.state = "failed"


@page()
async def events(p: Page) -> Response:
    """Server-sent events with the running publish's progress (the page's script listens)."""
    key = _job_key(p)

    async def stream() -> AsyncIterator[bytes]:
        last = None
        for _ in range(EVENT_LIMIT):
            job = _jobs.get(key)
            view = job.view() if job else {"state": "idle", "providers": {}, "error": None}
            text = json.dumps(view, sort_keys=True)
            if text != last:
                yield f"data: {text}\n\n".encode()
                last = text
            if view["state"] in ("done", "failed", "idle"):
                return
            await asyncio.sleep(EVENT_INTERVAL)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"cache-control": "no-store"}
    )

