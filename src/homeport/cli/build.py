"""``homeport build``: render a site from the store into a folder of static files."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from homeport.cli.common import DataOption, fail
from homeport.core.errors import HomeportError
from homeport.services.context import Context
from homeport.settings import Settings, SettingsError, load_settings
from homeport.store.blobs_fs import FsBlobStore
from homeport.store.open import open_record_store

T = TypeVar("T")

SiteOption = Annotated[
    str | None,
    typer.Option("--site", help="The site (default: the only one, or 'site' when none exists)."),
]


def run(ctx: typer.Context, data: Path | None,
        work: Callable[[Context], Awaitable[T]]) -> T:
    """Open the store of the data dir, run ``work`` with a Context, close; every expected error
    becomes one ``homeport:`` line and exit 1."""
    try:
        settings = load_settings(data or (ctx.obj or {}).get("data"))
        return asyncio.run(_with_context(settings, work))
    except SettingsError as exc:
        raise fail(str(exc)) from None
    except HomeportError as exc:
        raise fail(str(exc.message or exc)) from None
    except OSError as exc:
        raise fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc)) from None


def prepare_plugins(settings: Settings) -> None:
    """Load and activate the plugins before a command that builds the site on its own."""

    async def nothing(context: Context) -> None:
        return None

    asyncio.run(_with_context(settings, nothing))


async def _with_context(settings: Settings, work: Callable[[Context], Awaitable[T]]) -> T:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = open_record_store(settings.record_store_url)
    await store.initialize()
    try:
        from homeport.plugins.activate import prepare  # heavy: only for commands that build

        context = Context(settings=settings, store=store, blobs=FsBlobStore(settings.blobs_dir))
        await prepare(context)  # plugins' entry types and themes, as the home has them
        return await work(context)
    finally:
        await store.close()


async def pick_site(context: Context, name: str | None, *, create: bool = False) -> str:
    """The site named, else the only one; with ``create``, a first site called ``site``."""
    from homeport.content import sites

    existing = await sites.list_sites(context)
    if name is not None:
        if name not in existing:
            if create and not existing and name:
                await sites.create_site(context, name, name.capitalize())
                return name
            await sites.get_site(context, name)  # raises "there is no site named …"
        return name
    if len(existing) == 1:
        return existing[0]
    if not existing:
        if create:
            await sites.create_site(context, "site", "My site")
            typer.echo("Created the site 'site' (theme journal); rename it in the GUI.", err=True)
            return "site"
        raise HomeportError("there is no site yet: add an entry or create one in the GUI",
                            code=400)
    raise HomeportError(f"there are several sites ({', '.join(existing)}): choose one with "
                        "--site", code=400)


def build_command(
    ctx: typer.Context,
    site: SiteOption = None,
    out: Annotated[Path | None, typer.Option("--out", help="Output folder "
                   "(default: <data>/sites/<site>).", show_default=False)] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", help="The URL the site is served "
                        "at (default: the site's setting, else the home's /preview/<site>/).",
                        show_default=False)] = None,
    data: DataOption = None,
) -> None:
    """Build a site's public entries into static files (only what changed is rewritten)."""
    from homeport.render.build import build_site

    if base_url is not None and not base_url.startswith(("http://", "https://")):
        raise fail(f"--base-url must start with http:// or https:// (got {base_url!r})")

    async def work(context: Context) -> None:
        name = await pick_site(context, site)
        result = await build_site(context, name, out, base_url)
        typer.echo(f"Built {name} into {result.out_dir}: {len(result.written)} written, "
                   f"{result.unchanged} unchanged, {len(result.removed)} removed "
                   f"({len(result.files)} files, {result.seconds:.2f} s)")

    run(ctx, data, work)


def register(root: typer.Typer) -> None:
    root.command("build")(build_command)
