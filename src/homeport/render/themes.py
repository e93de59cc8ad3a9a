"""Themes: a directory of Jinja2 templates and a ``static/`` folder, run in a sandbox.

A theme may be installed by the person (a download, a friend's), so its templates are data, not
code: they run in Jinja2's ``SandboxedEnvironment`` with autoescaping, and any attempt to reach
Python internals (``__class__``, ``__subclasses__``…) stops the build with a clear error. A
theme overrides any template of the built-in ``base`` theme and inherits the rest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, DictLoader, FileSystemLoader, StrictUndefined, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from homeport.content.errors import ContentError
from homeport.render.urls import safe_link

BUILTIN = Path(__file__).parent / "themes"
BUILTIN_THEMES = ("journal", "portfolio")
INLINE_CSS_MAX = 24 * 1024
"""Largest ``style.css`` put inline in every page (bytes): past that a shared file is cheaper."""

PLUGIN_THEMES: dict[str, Path] = {}
"""Theme folders plugins registered (``register_themes``), by name."""
PLUGIN_TEMPLATES: dict[str, str] = {}
"""Templates plugins add (a content type's page: ``types/<name>.html``), behind the theme's."""
PLUGIN_FILTERS: dict[str, Any] = {}
"""Jinja2 filters plugins add (``register_template_filters``)."""


class ThemeError(ContentError):
    """A theme that is missing, broken, or tried to escape its sandbox."""


@dataclass
class Theme:
    name: str
    folders: list[Path]
    """The theme's own folder first, then ``base``."""
    env: SandboxedEnvironment
    fingerprint: str
    _cache: dict[str, Any] = field(default_factory=dict)

    def render(self, template: str, context: dict[str, Any]) -> str:
        try:
            return self.env.get_template(template).render(context)
        except SecurityError as exc:
            raise ThemeError(f"theme {self.name!r}: template {template} tried to reach Python "
                             f"internals, which themes may not do ({exc})") from None
        except TemplateError as exc:
            line = getattr(exc, "lineno", None)
            where = f" line {line}" if line else ""
            raise ThemeError(f"theme {self.name!r}: template {template}{where}: "
                             f"{exc.message or exc}") from None

    def inline_css(self) -> Markup | None:
        """The theme's ``style.css`` to put in each page's head, so no stylesheet blocks the
        first paint (one round trip less); ``None`` (a ``<link>`` then) when it is larger than
        ``INLINE_CSS_MAX`` or holds ``</``, which could close the ``<style>`` element early."""
        if "css" not in self._cache:
            file = self.static_files().get("style.css")
            text = file.read_text("utf-8", errors="replace") if file is not None else ""
            fits = text and len(text.encode()) <= INLINE_CSS_MAX and "</" not in text
            self._cache["css"] = Markup(text) if fits else None
        found: Markup | None = self._cache["css"]
        return found

    def static_files(self) -> dict[str, Path]:
        """``relative name → file`` of the theme's ``static/`` (the theme's own win)."""
        found: dict[str, Path] = {}
        for folder in reversed(self.folders):
            static = folder / "static"
            if static.is_dir():
                for file in sorted(static.rglob("*")):
                    if file.is_file() and not file.name.startswith("."):
                        found[file.relative_to(static).as_posix()] = file
        return found


def find_theme(name: str, extra: Path | None = None) -> Path:
    """A theme folder: ``extra/<name>`` (the data dir's themes) first, then plugins' (the
    built-in themes' plugin among them), then the built-ins."""
    if extra is not None and (extra / name).is_dir() and name != "base":
        return extra / name
    if name in PLUGIN_THEMES:
        return PLUGIN_THEMES[name]
    if (BUILTIN / name).is_dir() and name != "base":
        return BUILTIN / name
    raise ThemeError(f"there is no theme named {name!r} (built in: {', '.join(BUILTIN_THEMES)})")


_loaded: dict[tuple[Path, str], Theme] = {}


def load_theme(folder: Path) -> Theme:
    """The theme in ``folder`` with ``base`` behind it, in a sandboxed, autoescaping env.
    Kept per process while its files are unchanged, so templates are compiled once."""
    folders = [folder, BUILTIN / "base"]
    fingerprint = _fingerprint(folders)
    found = _loaded.get((folder, fingerprint))
    if found is None:
        if len(_loaded) > 16:
            _loaded.clear()
        found = _loaded[(folder, fingerprint)] = _load(folder, folders, fingerprint)
    return found


def _load(folder: Path, folders: list[Path], fingerprint: str) -> Theme:
    env = SandboxedEnvironment(
        loader=ChoiceLoader([*(FileSystemLoader(str(f)) for f in folders),
                             DictLoader(PLUGIN_TEMPLATES)]),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["safe_link"] = safe_link
    env.filters.update(PLUGIN_FILTERS)
    return Theme(folder.name, folders, env, fingerprint)


def _fingerprint(folders: list[Path]) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                digest.update(file.relative_to(folder).as_posix().encode() + b"\0")
                digest.update(file.read_bytes())
    for name, source in sorted(PLUGIN_TEMPLATES.items()):
        digest.update(f"plugin:{name}".encode() + b"\0" + source.encode())
    digest.update(" ".join(sorted(PLUGIN_FILTERS)).encode())
    return "theme:" + digest.hexdigest()[:16]
