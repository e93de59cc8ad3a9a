"""The built-in themes and the ``safe_link`` filter every theme uses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeport.plugins import hookimpl
from homeport.render.themes import BUILTIN, BUILTIN_THEMES
from homeport.render.urls import safe_link


@hookimpl
def register_themes() -> list[Path]:
    return [BUILTIN / name for name in BUILTIN_THEMES]


@hookimpl
def register_template_filters() -> dict[str, Callable[..., Any]]:
    return {"safe_link": safe_link}
