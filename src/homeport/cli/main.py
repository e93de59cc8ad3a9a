"""``homeport``: the root command. ``--data DIR`` works before or after the subcommand."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

import homeport
from homeport.cli.common import DataOption, fail
from homeport.settings import SettingsError, load_settings

app = typer.Typer(
    name="homeport",
    help=(
        "Homeport: own your corner of the web. Your data at home, spoken over Kinto's API. "
        "With no command: start the home and, at first run, open it in the browser."
    ),
    invoke_without_command=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)



def _version(value: bool) -> None:
    if value:
        typer.echo(f"homeport {homeport.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    data: DataOption = None,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.obj = {"data": data}
    if ctx.invoked_subcommand is None:
        from homeport.cli.serve import run

        try:
            settings = load_settings(data)
        except SettingsError as exc:
            raise fail(str(exc)) from None
        raise typer.Exit(run(settings, open_gui=True))


def data_dir(ctx: typer.Context, data: Path | None) -> Path | None:
    return data or (ctx.obj or {}).get("data")


@app.command()
def serve(
    ctx: typer.Context,
    data: DataOption = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [8750].")] = None,
) -> None:
    """Start the home server (the Kinto-compatible API under /v1/)."""
    from homeport.cli.serve import run

    try:
        settings = load_settings(data_dir(ctx, data), host=host, port=port)
    except SettingsError as exc:
        raise fail(str(exc)) from None
    raise typer.Exit(run(settings))


@app.command("install-service")
def install_service(
    ctx: typer.Context,
    data: DataOption = None,
    remove: Annotated[
        bool, typer.Option("--remove", help="Stop starting the home at login.")
    ] = False,
) -> None:
    """Start the home at every login (systemd user unit, launchd agent, Windows Startup folder)
    and add a launcher."""
    from homeport.services import autostart

    try:
        settings = load_settings(data_dir(ctx, data))
        spot = autostart.for_this_computer(settings.data_dir)
        if remove:
            autostart.remove(spot)
            typer.echo("The home no longer starts at login.")
            return
        from homeport.cli.desktop import already_serving

        for line in autostart.install(spot, start_now=not already_serving(settings)):
            typer.echo(line)
    except (SettingsError, autostart.AutostartError, OSError) as exc:
        raise fail(str(exc)) from None


@app.command("init")
def init_command(
    ctx: typer.Context,
    data: DataOption = None,
    restore: Annotated[
        bool, typer.Option("--restore", help="Read an existing recovery phrase from stdin.")
    ] = False,
    keep_root_key: Annotated[
        bool,
        typer.Option(
            "--keep-root-key",
            help="Keep the root key on this device (else identity changes ask for the phrase).",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create the home's identity and show its 24-word recovery phrase once."""
    from homeport.cli.identity import init

    init(data_dir(ctx, data), restore, keep_root_key, as_json)


def _register_repo(root: typer.Typer) -> None:
    from homeport.cli import repo, sync

    repo.register(root)
    sync.register(root)


def _identity_app() -> typer.Typer:
    from homeport.cli.identity import identity_app

    return identity_app


app.add_typer(_identity_app(), name="identity")


def _provider_app() -> typer.Typer:
    from homeport.cli.provider import provider_app

    return provider_app


app.add_typer(_provider_app(), name="provider")
_register_repo(app)


def _register_site(root: typer.Typer) -> None:
    from homeport.cli import add, build

    build.register(root)
    add.register(root)


_register_site(app)


def _mentions_app() -> typer.Typer:
    from homeport.cli.mentions import mentions_app

    return mentions_app


app.add_typer(_mentions_app(), name="mentions")


def _register_members(root: typer.Typer) -> None:
    from homeport.cli.members import members_app, tiers_app

    root.add_typer(tiers_app, name="tiers")
    root.add_typer(members_app, name="members")

    from homeport.cli.payments import payments_app

    root.add_typer(payments_app, name="payments")

    from homeport.cli.newsletter import newsletter_app

    root.add_typer(newsletter_app, name="newsletter")


_register_members(app)


def _plugins_app() -> typer.Typer:
    from homeport.cli.plugins import plugins_app

    return plugins_app


app.add_typer(_plugins_app(), name="plugins")


def _register_imports(root: typer.Typer) -> None:
    from homeport.cli.imports import export_to, import_from

    root.command("import-from")(import_from)
    root.command("export-to")(export_to)


_register_imports(app)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
