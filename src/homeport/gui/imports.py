"""The Import page (``/admin/import``): upload what another service exported, choose its kind,
try it as a dry run, watch it come in, and read what happened to each item.

The same importers as ``homeport import-from`` (any plugin's ``register_importers``). One
import runs at a time per home, as a task of the running server: the person can leave the page
and come back; its progress reaches the page as server-sent events (the providers page's way).
The uploaded file is kept under ``<data>/imports/`` only while its import runs.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.datastructures import UploadFile
from starlette.responses import Response, StreamingResponse

from homeport.content.media import safe_name
from homeport.gui import site, uploads
from homeport.gui.pages import PREFIX, Page, page
from homeport.plugins import manager
from homeport.plugins.kinds import ImportFailed, ImportItem, ImportRequest

log = logging.getLogger("homeport.gui")

UPLOADS = "imports"
"""``<data>/imports/<job>/``: an upload while its import runs."""
SHOWN = 500
"""Items listed on the page; the whole report is a download."""
RECENT = 12
EVENT_INTERVAL = 0.25
EVENT_LIMIT = 60 * 60 * 4
"""A progress stream ends after an hour at most (the page then shows the state on reload)."""
COPY_CHUNK = 1024 * 1024


@dataclass
class Job:
    """One import, as the page shows it."""

    kind: str
    title: str
    source: str
    site: str
    dry_run: bool
    state: str = "running"
    items: list[ImportItem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    task: asyncio.Task[None] | None = None

    def add(self, item: ImportItem) -> None:
        self.items.append(item)
        self.counts[item.action] = self.counts.get(item.action, 0) + 1

    def view(self) -> dict[str, Any]:
        return {"state": self.state, "error": self.error, "dry_run": self.dry_run,
                "counts": dict(self.counts), "done": len(self.items),
                "recent": [_row(i) for i in self.items[-RECENT:]]}


_jobs: dict[str, Job] = {}


def _key(p: Page) -> str:
    return str(p.ctx.settings.data_dir)


def _row(item: ImportItem) -> dict[str, str]:
    return {"source_id": item.source_id, "action": item.action, "kind": item.kind,
            "target": item.target, "message": item.message}


def _importers(p: Page) -> dict[str, Any]:
    plugins: manager.Plugins = p.request.app.state.plugins
    return dict(sorted(plugins.importers().items()))


async def _page(p: Page, status: int = 200, error: str | None = None,
                form: dict[str, str] | None = None) -> Response:
    job = _jobs.get(_key(p))
    items = job.items if job else []
    # what went wrong first: the person reads the failures before the long list of successes
    ordered = sorted(items, key=lambda i: i.action not in ("failed", "skipped"))
    return p.render("import.html", status, importers=_importers(p), error=error,
                    form=form or {}, job=job, shown=[_row(i) for i in ordered[:SHOWN]],
                    hidden=max(0, len(items) - SHOWN), site=await site.current(p.ctx),
                    exporters=sorted(p.request.app.state.plugins.exporters().values(),
                                     key=lambda e: e.name))


@page()
async def index(p: Page) -> Response:
    return await _page(p)


@page()
async def start(p: Page) -> Response:
    """Keep the upload (or take the address), then run the importer as the server's task."""
    form = await p.form()
    fields = {"kind": uploads.line(form, "kind", 64), "url": uploads.line(form, "url", 2000),
              "dry_run": "on" if form.get("dry_run") else "",
              "options": uploads.text(form, "options", 4000)}
    importer = _importers(p).get(fields["kind"])
    if importer is None:
        return await _page(p, 400, "Choose what kind of export this is.", fields)
    running = _jobs.get(_key(p))
    if running is not None and running.state == "running":
        return await _page(p, 409, "An import is already running; wait for it to finish.",
                           fields)
    chosen = uploads.files(form, "file")
    url = fields["url"]
    if chosen and url:
        return await _page(p, 400, "Give a file or an address, not both.", fields)
    if url and not url.startswith(("https://", "http://")):
        return await _page(p, 400, "The address must start with https:// (or http://).", fields)
    if url and p.ctx.settings.hosted:
        # An importer may read its owner's own network (Kinto's does); a hosted home's
        # "own network" is its provider's, which is not the tenant's to reach.
        return await _page(p, 400, "A hosted home imports from files only: export to a file "
                           "there and upload it, or import by address on your own device.",
                           fields)
    if not chosen and not url:
        return await _page(p, 400, "Choose the file to import.", fields)
    options: dict[str, str] = {}
    for given in fields["options"].splitlines():
        key, sep, value = given.strip().partition("=")
        if not given.strip():
            continue
        if not sep or not key.strip():
            return await _page(p, 400, f"The option {given.strip()!r} is not name=value.",
                               fields)
        options[key.strip()] = value.strip()
    if options and p.ctx.settings.hosted:
        # options may name folders (WordPress's uploads=DIR): the provider's, on a hosted home
        return await _page(p, 400, "A hosted home takes no importer options.", fields)
    await asyncio.to_thread(_clear, p.ctx.settings.data_dir / UPLOADS)
    folder = p.ctx.settings.data_dir / UPLOADS / uuid.uuid4().hex
    source = url
    if chosen:
        source = str(await asyncio.to_thread(_keep, chosen[0], folder))
    name = await site.current(p.ctx) or "site"
    shown_as = (chosen[0].filename or "upload") if chosen else url
    job = Job(importer.name, importer.title, shown_as, name, bool(fields["dry_run"]))
    _jobs[_key(p)] = job
    request = ImportRequest(p.ctx, source, name, job.dry_run, options)
    job.task = asyncio.get_running_loop().create_task(_run(importer, request, job, folder))
    return p.redirect(PREFIX + "/import#progress")


def _clear(uploads_dir: Path) -> None:
    """Uploads left by imports a stopped home never finished (none runs now: one at a time)."""
    if uploads_dir.is_dir():
        for left in uploads_dir.iterdir():
            shutil.rmtree(left, ignore_errors=True)


def _keep(upload: UploadFile, folder: Path) -> Path:
    """Copy the spooled upload under the data dir, named as it was (importers read a .zip,
    .tar.gz or .xml by its name and bytes); never outside ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(upload.filename or "upload").lstrip(".")
    upload.file.seek(0)
    with open(target, "wb") as out:
        shutil.copyfileobj(upload.file, out, COPY_CHUNK)
    return target


async def _run(importer: Any, request: ImportRequest, job: Job, folder: Path) -> None:
    state, error = "done", None
    try:
        async for item in importer.run(request):
            job.add(item)
    except ImportFailed as exc:
        state, error = "failed", str(exc)
    except asyncio.CancelledError:
        state, error = "failed", "The home stopped during the import; run it again."
        raise
    except Exception as exc:  # a plugin's importer failing must not take the GUI down
        log.exception("importer %r failed", job.kind)
        state, error = "failed", f"The importer stopped: {type(exc).__name__}: {exc}"
    finally:
        # the upload goes before the page says the import ended
        await asyncio.to_thread(shutil.rmtree, folder, True)
        job.state, job.error = state, error


@page()
async def events(p: Page) -> Response:
    """Server-sent events with the running import's counts and latest items."""
    key = _key(p)

    async def stream() -> AsyncIterator[bytes]:
        last = None
        for _ in range(EVENT_LIMIT):
            job = _jobs.get(key)
            view = job.view() if job else {"state": "idle"}
            text = json.dumps(view, sort_keys=True)
            if text != last:
                yield f"data: {text}\n\n".encode()
                last = text
            if view["state"] != "running":
                return
            await asyncio.sleep(EVENT_INTERVAL)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store"})


@page()
async def report(p: Page) -> Response:
    """The last import's whole per-item report as CSV (one row per source item)."""
    job = _jobs.get(_key(p))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["source_id", "action", "kind", "target", "message"])
    for item in job.items if job else []:
        writer.writerow([item.source_id, item.action, item.kind, item.target, item.message])
    return p.finish(Response(out.getvalue().encode(), 200, media_type="text/csv; charset=utf-8",
                             headers={"content-disposition":
                                      'attachment; filename="import-report.csv"'}))


__all__ = ["events", "index", "report", "start"]
