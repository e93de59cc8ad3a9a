"""``homeport import-from KIND SOURCE``: bring content in through an importer plugin."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from homeport.cli.build import SiteOption, pick_site, run
from homeport.cli.common import DataOption, fail

if TYPE_CHECKING:
    from homeport.plugins.kinds import ImportItem
    from homeport.services.context import Context


def import_from(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="The importer (wordpress, mastodon…).")],
    source: Annotated[str, typer.Argument(help="The file, folder or archive to import.")],
    site: SiteOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would happen; "
                                          "write nothing.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per item.")] = False,
    option: Annotated[list[str] | None, typer.Option(
        "--option", help="An importer's option key=value (repeatable).")] = None,
    data: DataOption = None,
) -> None:
    """Import a site's content from elsewhere (WordPress, Mastodon…); running it again over
    the same source changes nothing."""
    from homeport import jsonio
    from homeport.plugins import manager
    from homeport.plugins.kinds import ImportFailed, ImportRequest

    options: dict[str, str] = {}
    for given in option or []:
        key, sep, value = given.partition("=")
        if not sep or not key:
            raise fail(f"--option {given!r} is not key=value")
        options[key] = value

    async def work(context: Context) -> list[ImportItem]:
        importers = manager.active(context.settings).importers()
        importer = importers.get(kind)
        if importer is None:
            raise fail(f"no importer {kind!r} (one of: {', '.join(sorted(importers))})")
        # an importer of a whole home's buckets (kinto) writes into no one site
        name = site or "" if getattr(importer, "whole_home", False) else await _site(context, site)
        where = source if "://" in source else str(Path(source).expanduser())  # URLs as given
        request = ImportRequest(context, where, name, dry_run, options)
        done: list[ImportItem] = []
        try:
            async for item in importer.run(request):
                done.append(item)
                if json_out:
                    sys.stdout.write(jsonio.dumps({"source_id": item.source_id,
                                                   "action": item.action, "kind": item.kind,
                                                   "target": item.target,
                                                   "message": item.message}).decode() + "\n")
                else:
                    line = f"{item.action:9} {item.kind:8} {item.target or item.source_id}"
                    typer.echo(line + (f"  ({item.message})" if item.message else ""))
        except ImportFailed as exc:
            raise fail(str(exc)) from None
        return done

    done = run(ctx, data, work)
    if not json_out:
        counts: dict[str, int] = {}
        for item in done:
            counts[item.action] = counts.get(item.action, 0) + 1
        summary = ", ".join(f"{n} {a}" for a, n in sorted(counts.items())) or "nothing"
        typer.echo(("Dry run: " if dry_run else "") + summary, err=True)
    if any(item.action == "failed" for item in done):
        raise typer.Exit(1)


async def _site(context: Context, site: str | None) -> str:
    """The site named, else the only one, else ``site``: the importer creates it with its
    first entry, so a source refused as a whole leaves the home as it was."""
    from homeport.content import sites

    existing = await sites.list_sites(context)
    if site is not None or len(existing) != 1:
        if site is None and existing:
            return await pick_site(context, None)  # several: the "choose one" error
        return site or "site"
    return existing[0]


def export_to(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help="The exporter (jsonfeed, markdown…).")],
    target: Annotated[Path, typer.Argument(help="The folder to write into.")],
    site: SiteOption = None,
    data: DataOption = None,
) -> None:
    """Write a site out in a portable format, to leave with it (running it again into the
    same folder changes nothing)."""
    from homeport.plugins import manager
    from homeport.plugins.kinds import ExportRequest, ExportResult

    async def work(context: Context) -> ExportResult:
        exporters = manager.active(context.settings).exporters()
        exporter = exporters.get(kind)
        if exporter is None:
            raise fail(f"no exporter {kind!r} (one of: {', '.join(sorted(exporters))})")
        name = await pick_site(context, site)
        if target.exists() and not target.is_dir():
            raise fail(f"{target} is a file, not a folder")
        return await exporter.export(ExportRequest(context, target.expanduser(), name))

    result = run(ctx, data, work)
    typer.echo(f"Exported {result.items} entries into {target} ({result.files} files)")
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
