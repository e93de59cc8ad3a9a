"""``homeport``: the root command. ``--data DIR`` works before or after the subcommand."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

import homeport
from homeport.cli.common import DataOption, fail
from homeport.settings import SettingsError, load_settings

# httpx imports its own command line (click, rich, pygments: a third of its import time) unless
# that module is missing; no Homeport command runs it.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

HELP = (
    "Homeport: own your corner of the web. Your data at home, spoken over Kinto's API. "
    "With no command: start the home and, at first run, open it in the browser."
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"homeport {homeport.__version__}")
        raise typer.Exit()


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


def _repo(root: typer.Typer) -> None:
    from homeport.cli import repo

    repo.register(root)


def _providers(root: typer.Typer) -> None:
    from homeport.cli import sync

    sync.register_providers(root)


def _sync(root: typer.Typer) -> None:
    from homeport.cli import sync

    sync.register(root)


def _identity(root: typer.Typer) -> None:
    from homeport.cli.identity import identity_app

    root.add_typer(identity_app, name="identity")


def _provider(root: typer.Typer) -> None:
    from homeport.cli.provider import provider_app

    root.add_typer(provider_app, name="provider")


def _build(root: typer.Typer) -> None:
    from homeport.cli import build

    build.register(root)


def _add(root: typer.Typer) -> None:
    from homeport.cli import add

    add.register(root)


def _mentions(root: typer.Typer) -> None:
    from homeport.cli.mentions import mentions_app

    root.add_typer(mentions_app, name="mentions")


def _members(root: typer.Typer) -> None:
    from homeport.cli.members import members_app, tiers_app
    from homeport.cli.newsletter import newsletter_app
    from homeport.cli.payments import payments_app

    root.add_typer(tiers_app, name="tiers")
    root.add_typer(members_app, name="members")
    root.add_typer(payments_app, name="payments")
    root.add_typer(newsletter_app, name="newsletter")


def _plugins(root: typer.Typer) -> None:
    from homeport.cli.plugins import plugins_app

    root.add_typer(plugins_app, name="plugins")


def _imports(root: typer.Typer) -> None:
    from homeport.cli.imports import export_to, import_from

    root.command("import-from")(import_from)
    root.command("export-to")(export_to)


GROUPS: tuple[tuple[tuple[str, ...], Callable[[typer.Typer], None]], ...] = (
    (("identity",), _identity),
    (("provider",), _provider),
    (("snapshot", "log", "export", "import", "verify", "gc"), _repo),
    (("providers", "tokens"), _providers),
    (("publish", "status", "restore", "rollback", "repair"), _sync),
    (("build",), _build),
    (("add",), _add),
    (("mentions",), _mentions),
    (("tiers", "members", "payments", "newsletter"), _members),
    (("plugins",), _plugins),
    (("import-from", "export-to"), _imports),
)
"""Each command group's names and the function that adds it to the root, in ``--help``'s
order. A command line naming one command loads only its group's module: importing every
group (the renderer, the plugins, the sync client…) cost ``homeport publish`` most of a
second before it did anything. A command missing here still runs (an unknown name loads every
group), only slower; ``tests/unit/cli/test_startup.py`` checks the table is whole."""


def build_app(command: str | None = None) -> typer.Typer:
    """The root command with ``command``'s group, or with every group when ``command`` is
    None or unknown (``--help``, a typo: click then lists them all)."""
    app = typer.Typer(
        name="homeport",
        help=HELP,
        invoke_without_command=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(root)
    app.command()(serve)
    app.command("install-service")(install_service)
    app.command("init")(init_command)
    if command in ROOT_COMMANDS:
        return app
    chosen = [add for names, add in GROUPS if command in names]
    for add in chosen or [add for _, add in GROUPS]:
        add(app)
    return app


ROOT_COMMANDS = ("serve", "install-service", "init")


def command_of(argv: list[str]) -> str | None:
    """The subcommand a command line names (``--data DIR`` may come before it), or None."""
    args = iter(argv)
    for arg in args:
        if arg == "--data":
            next(args, None)
        elif not arg.startswith("-"):
            return arg
    return None


def __getattr__(name: str) -> typer.Typer:
    """``app`` with every command (tests and tools import it), built at the first use."""
    if name != "app":
        raise AttributeError(name)
    full = globals().get("_full")
    if full is None:
        full = globals()["_full"] = build_app()
    return full


def main() -> None:
    app = build_app(command_of(sys.argv[1:]))
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
