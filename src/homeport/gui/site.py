"""The GUI's one door to sites, entries and builds: thin calls into ``homeport.content`` and
``homeport.render``, so pages never reach into the store themselves."""

from __future__ import annotations

from pathlib import Path

from homeport.services.context import Context

DEFAULT_THEME = "journal"
THEMES = {
    "journal": "writing first: articles and notes in a calm column",
    "portfolio": "photos first: a grid of images",
}


def themes() -> dict[str, str]:
    return dict(THEMES)


async def create_first_site(ctx: Context, title: str, author: str, theme: str) -> None:
    return None


def output_dir(ctx: Context) -> Path | None:
    return None
