"""``homeport plugins list|enable|disable|install|remove|licence``: this home's plugins.

The same use cases as the GUI's Plugins page. A running ``homeport serve`` picks up a change
made here when it restarts (the GUI's changes apply at once).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from homeport.cli.build import run
from homeport.cli.common import DataOption, JsonOption, fail

if TYPE_CHECKING:
    from homeport.services.context import Context

plugins_app = typer.Typer(help="Plugins: list, turn on and off, install from a signed "
                          "catalogue, remove.", no_args_is_help=True)


def _row(info: Any) -> dict[str, Any]:
    return {"name": info.name, "builtin": info.builtin, "version": info.version,
            "distribution": info.distribution, "hooks": list(info.hooks),
            "enabled": info.enabled, "problem": info.problem}


@plugins_app.command("list")
def list_plugins(ctx: typer.Context, data: DataOption = None, as_json: JsonOption = False) -> None:
    """Every plugin: built in or installed, on or off (and why off)."""

    async def work(context: Context) -> list[dict[str, Any]]:
        from homeport.plugins.activate import prepare

        found = await prepare(context)
        return [_row(i) for i in sorted(found.info.values(), key=lambda i: (not i.builtin,
                                                                              i.name))]

    rows = run(ctx, data, work)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        kind = "built in" if r["builtin"] else (r["version"] or "installed")
        state = "on" if r["enabled"] else "off" + (f" ({r['problem']})" if r["problem"] else "")
        typer.echo(f"{r['name']:<20} {kind:<10} {state}  {', '.join(r['hooks'])}")


def _switch(ctx: typer.Context, name: str, data: Path | None, enabled: bool,
            as_json: bool) -> None:
    from homeport.plugins import manager, state

    async def work(context: Context) -> dict[str, Any]:
        known = manager.load_for(context.settings).info
        if name not in known:
            raise typer.BadParameter(f"there is no plugin named {name!r} "
                                     f"(homeport plugins list)")
        state.set_enabled(context.settings.data_dir, name, enabled)
        return {"name": name, "enabled": enabled}

    try:
        doc = run(ctx, data, work)
    except typer.BadParameter as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps(doc) if as_json else f"{name} is {'on' if enabled else 'off'}")


@plugins_app.command("enable")
def enable(ctx: typer.Context, name: str, data: DataOption = None,
           as_json: JsonOption = False) -> None:
    """Turn a plugin on."""
    _switch(ctx, name, data, True, as_json)


@plugins_app.command("disable")
def disable(ctx: typer.Context, name: str, data: DataOption = None,
            as_json: JsonOption = False) -> None:
    """Turn a plugin off (built-ins too: the feature goes away)."""
    _switch(ctx, name, data, False, as_json)


@plugins_app.command("install")
def install(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The plugin's name in the catalogue.")],
    catalogue_url: Annotated[str, typer.Option("--catalogue", help="The catalogue's URL or "
                                               "path.")],
    publisher: Annotated[str, typer.Option(help="The publisher's key (did:key:z6Mk…) that "
                                           "must have signed the catalogue.")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Install a plugin from a signed catalogue (signature and SHA-256 checked first)."""
    from homeport.plugins import catalogue
    from homeport.settings import SettingsError, load_settings

    try:
        settings = load_settings(data or (ctx.obj or {}).get("data"))
        entry = asyncio.run(catalogue.install(settings, catalogue_url, publisher, name))
    except (catalogue.CatalogueError, SettingsError) as exc:
        raise fail(str(exc)) from None
    doc = {"name": entry.name, "version": entry.version, "sha256": entry.sha256,
           "paid": entry.paid, "touches": list(entry.touches)}
    if as_json:
        typer.echo(json.dumps(doc))
        return
    typer.echo(f"installed {entry.name} {entry.version}")
    if entry.paid:
        typer.echo("It is a paid plugin: add its licence with 'homeport plugins licence FILE'.",
                   err=True)


@plugins_app.command("remove")
def remove(ctx: typer.Context, name: str, data: DataOption = None,
           as_json: JsonOption = False) -> None:
    """Remove a plugin installed from a catalogue (its files; its licence record stays)."""
    from homeport.plugins import catalogue
    from homeport.settings import SettingsError, load_settings

    try:
        settings = load_settings(data or (ctx.obj or {}).get("data"))
        catalogue.remove(settings.data_dir, name)
    except (catalogue.CatalogueError, SettingsError) as exc:
        raise fail(str(exc)) from None
    typer.echo(json.dumps({"name": name, "removed": True}) if as_json else f"removed {name}")


@plugins_app.command("licence")
def licence(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The licence document the publisher sent.")],
    data: DataOption = None,
    as_json: JsonOption = False,
) -> None:
    """Keep a paid plugin's licence (checked offline: signature, this home, expiry)."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror or exc}") from None

    async def work(context: Context) -> dict[str, Any]:
        from homeport.plugins import licences

        added = await licences.add(context, raw)
        return {"plugin": added.plugin, "tier": added.tier, "expires": added.expires}

    doc = run(ctx, data, work)
    typer.echo(json.dumps(doc) if as_json else f"licence of {doc['plugin']} kept")


__all__ = ["plugins_app"]
