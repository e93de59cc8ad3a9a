"""The GUI's one door to sites, entries and builds: thin calls into ``homeport.content`` and
``homeport.render``, so pages never reach into the store themselves.

The GUI edits one site, the first (the wizard makes it); the CLI can make more.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from homeport.content import sites
from homeport.content.errors import ContentError
from homeport.content.slugs import slugify
from homeport.services.context import Context

DEFAULT_THEME = "journal"
DESCRIPTIONS = {
    "journal": "writing first: articles and notes in a calm column",
    "portfolio": "photos first: a grid of images",
}
CURRENT = "gui_site"
LAST_BUILD = "gui_last_build"


def themes() -> dict[str, str]:
    return {name: DESCRIPTIONS.get(name, "") for name in sites.THEMES}


def site_name_for(title: str) -> str:
    return slugify(title, "site")[:40].rstrip("-") or "site"


async def create_first_site(ctx: Context, title: str, author: str, theme: str) -> str:
    """The wizard's site, named after its title; a second run reuses the existing one."""
    existing = await current(ctx)
    if existing is not None:
        await sites.update_site(ctx, existing, {"title": title, "author": author, "theme": theme})
        return existing
    name = site_name_for(title)
    await sites.create_site(ctx, name, title, theme, settings={"author": author})
    ctx.caches[CURRENT] = name
    return name


async def current(ctx: Context) -> str | None:
    """The site the GUI edits (None before the wizard)."""
    name = ctx.caches.get(CURRENT)
    if isinstance(name, str):
        return name
    names = await sites.list_sites(ctx)
    if not names:
        return None
    ctx.caches[CURRENT] = names[0]
    return names[0]


async def require(ctx: Context) -> str:
    name = await current(ctx)
    if name is None:
        raise ContentError("there is no site yet: finish the first-run wizard")
    return name


STORAGE_TTL_SECONDS = 30.0


def storage_used(ctx: Context) -> int:
    """Bytes in the data dir (blobs, database, caches, built sites); walked at most every
    ``STORAGE_TTL_SECONDS`` so the dashboard stays quick on a large library."""
    cached = ctx.caches.get("gui_storage")
    now = time.monotonic()
    if isinstance(cached, tuple) and now - cached[0] < STORAGE_TTL_SECONDS:
        return int(cached[1])
    total = _walk(ctx.settings.data_dir)
    ctx.caches["gui_storage"] = (now, total)
    return total


def _walk(folder: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


async def last_build(ctx: Context) -> dict[str, Any] | None:
    """This process's last build, else when the build manifest was last written (a restart
    does not make the preview look stale)."""
    found = ctx.caches.get(LAST_BUILD)
    if isinstance(found, dict):
        return found
    from homeport.render.build import manifest_path

    name = await current(ctx)
    if name is None:
        return None
    manifest = manifest_path(ctx, name, output_dir(ctx, name).resolve())
    try:
        return {"at": int(manifest.stat().st_mtime * 1000)}
    except OSError:
        return None


async def build(ctx: Context, base_url: str) -> dict[str, Any]:
    """Build the site for the preview; remembers when and how it went for the dashboard."""
    name = await require(ctx)
    started = time.monotonic()
    result = await _run_build(ctx, name, base_url)
    info = {"at": ctx.clock(), "seconds": time.monotonic() - started, **result}
    ctx.caches[LAST_BUILD] = info
    return info


async def _run_build(ctx: Context, name: str, base_url: str) -> dict[str, Any]:
    from homeport.render.build import build_site  # imported on first use: faster start-up

    result = await build_site(ctx, name, base_url=base_url)
    return {"written": len(result.written), "files": len(result.files)}


def output_dir(ctx: Context, name: str) -> Path:
    from homeport.render.build import default_out_dir

    return default_out_dir(ctx, name)
