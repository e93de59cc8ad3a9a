"""The "Take everything with you" button: one zip with the home's bundle (everything, signed,
restorable with the phrase) and every site written out by every exporter (portable views that
other software reads without Homeport).

The bundle is taken after a snapshot under the publish lock, so it holds what the owner sees
now, unpublished changes included, and never races a publish. The zip is built in a scratch
folder under the data dir and removed once sent.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from homeport.content import sites
from homeport.gui.pages import Page, error_page, page
from homeport.plugins import manager
from homeport.plugins.kinds import ExportRequest
from homeport.publish import run
from homeport.publish.lock import PublishBusy
from homeport.services import repository

log = logging.getLogger("homeport.gui")

BUNDLE = "home.homeport"
LOCK_WAIT = 60.0
"""How long the button waits for a running publish before saying so."""
README = """\
Everything from your Homeport home, taken {when}.

{bundle}
    Your whole home: every site, entry, medium, member and setting, signed and
    encrypted as Homeport keeps it. Bring it back on any computer with
    `homeport import {bundle}` and your 24-word recovery phrase.

sites/<site>/<format>/
    Each site written out by each exporter, for software other than Homeport:
{formats}
{notes}"""


@page()
async def download(p: Page) -> Response:
    """Build the zip and send it (a POST: it takes a snapshot, a write)."""
    settings = p.ctx.settings
    scratch = Path(tempfile.mkdtemp(prefix=".takeaway-", dir=settings.data_dir))
    archive = scratch.with_suffix(".zip")
    try:
        try:
            async with run.locked(settings.data_dir, LOCK_WAIT):
                await repository.snapshot(settings, p.ctx.store, p.ctx.blobs)
                await asyncio.to_thread(repository.export, settings, scratch / BUNDLE)
        except PublishBusy:
            return error_page(p, 409, "A publish is running",
                              "Your home is being published right now. Nothing was taken; "
                              "press the button again in a minute.")
        plugins: manager.Plugins = p.request.app.state.plugins
        exporters = sorted(plugins.exporters().values(), key=lambda e: e.name)
        notes: list[str] = []
        for name in await sites.list_sites(p.ctx):
            for exporter in exporters:
                target = scratch / "sites" / name / exporter.name
                try:
                    result = await exporter.export(ExportRequest(p.ctx, target, name))
                except Exception as exc:  # one exporter failing leaves the others' files
                    log.exception("exporter %r failed on %s", exporter.name, name)
                    notes.append(f"{name}/{exporter.name}: not written ({exc})")
                    continue
                notes += [f"{name}/{exporter.name}: {note}" for note in result.notes]
        taken = datetime.fromtimestamp(p.now / 1000, UTC)
        (scratch / "README.txt").write_text(README.format(
            when=taken.strftime("%Y-%m-%d %H:%M UTC"), bundle=BUNDLE,
            formats="".join(f"      {e.name}: {e.title}\n" for e in exporters),
            notes="\nNotes:\n" + "".join(f"  - {n}\n" for n in notes) if notes else ""),
            "utf-8")
        await asyncio.to_thread(_zip, scratch, archive)
    except BaseException:
        archive.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    filename = f"homeport-{taken.strftime('%Y-%m-%d')}.zip"
    return p.finish(FileResponse(archive, media_type="application/zip", filename=filename,
                                 background=BackgroundTask(archive.unlink, missing_ok=True)))


def _zip(folder: Path, archive: Path) -> None:
    """Every file below ``folder``, by relative path; the bundle is already compressed."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                kind = zipfile.ZIP_STORED if path.name == BUNDLE else zipfile.ZIP_DEFLATED
                out.write(path, path.relative_to(folder).as_posix(), compress_type=kind)


__all__ = ["download"]
