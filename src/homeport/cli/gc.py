"""``homeport gc [--dry-run] [--json]``: collect the home's garbage now.

Services are imported inside the command so that ``homeport --help`` stays quick.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from homeport.cli.common import DataOption, JsonOption, fail

DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Say what would go, and remove nothing.")
]
WaitOption = Annotated[
    float,
    typer.Option("--wait", help="Seconds to wait for a snapshot or import in progress.", min=0),
]


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GiB"


def describe(doc: dict[str, Any]) -> str:
    """The report as lines a person reads."""
    repo, verb = doc["repository"], ("would go" if doc["dry_run"] else "went")
    lines = [
        f"objects no commit reaches: {repo['unreachable']['count']} "
        f"({_size(repo['unreachable']['bytes'])}) {verb}",
        f"uploads no publish adopted: {repo['pending']['count']} "
        f"({_size(repo['pending']['bytes'])}) {verb}",
        f"attachment blobs no record names: {doc['blobs']['count']} "
        f"({_size(doc['blobs']['bytes'])}) {verb}",
        f"kept: {repo['kept']['count']} objects ({_size(repo['kept']['bytes'])}), "
        f"{doc['blobs_kept']['count']} blobs ({_size(doc['blobs_kept']['bytes'])})",
    ]
    if repo["in_flight"]["count"]:
        lines.append(
            f"left for the next snapshot: {repo['in_flight']['count']} objects of an unfinished one"
        )
    if repo.get("repacked"):
        lines.append(f"repacked: {json.dumps(repo['repacked'])}")
    return "\n".join(lines)


def gc(
    ctx: typer.Context,
    dry_run: DryRunOption = False,
    wait: WaitOption = 60.0,
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove what nothing needs: repository objects no commit reaches and attachment blobs no
    record names (kept: the whole history, and blobs younger than gc_grace_seconds)."""
    from homeport.repo.gc import GcBusy
    from homeport.repo.repository import RepositoryError
    from homeport.services.gc import collect_home
    from homeport.services.identity import IdentityStateError, exists
    from homeport.settings import SettingsError, load_settings

    try:
        settings = load_settings(data or (ctx.obj or {}).get("data"))
    except SettingsError as exc:
        raise fail(str(exc)) from None
    if not exists(settings.data_dir):
        raise fail(f"{settings.data_dir} holds no home: run 'homeport init' first")
    try:
        report = asyncio.run(collect_home(settings, dry_run=dry_run, wait=wait))
    except (GcBusy, IdentityStateError, RepositoryError, OSError) as exc:
        raise fail(str(exc)) from None
    doc = report.as_dict()
    typer.echo(json.dumps(doc) if as_json else describe(doc))


def register(app: typer.Typer) -> None:
    app.command("gc")(gc)
