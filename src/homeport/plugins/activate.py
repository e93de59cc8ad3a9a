"""Put what plugins register where the lower layers look: entry types (``content``), themes,
templates and filters (``render``).

Those layers keep small registries instead of asking the manager, so they stay below it
(import-linter) and work unchanged in a process that loads no plugin (a unit test, a worker).
"""

from __future__ import annotations

import logging
import re

from homeport.content import sites
from homeport.content.errors import ContentError
from homeport.content.schemas import FIELDS
from homeport.content.types import BUILTIN_TYPES, ENTRY_TYPES, EntryType, register_entry_type
from homeport.plugins.kinds import NAME_PATTERN, ContentType
from homeport.plugins.manager import Plugins, load_for
from homeport.render import themes
from homeport.services.context import Context

log = logging.getLogger("homeport.plugins")
NAME = re.compile(NAME_PATTERN)


def reset() -> None:
    """Forget what plugins registered (before registering the current set again)."""
    for name in [n for n in ENTRY_TYPES if n not in BUILTIN_TYPES]:
        del ENTRY_TYPES[name]
        FIELDS.pop(name, None)
    themes.PLUGIN_THEMES.clear()
    themes.PLUGIN_TEMPLATES.clear()
    themes.PLUGIN_FILTERS.clear()
    sites.THEMES[:] = list(themes.BUILTIN_THEMES)


def activate(plugins: Plugins) -> None:
    """Register every enabled plugin's content types, themes and template filters. A plugin
    whose answer cannot be used (a type taking a built-in's name) is disabled and named."""
    reset()
    for name, types in plugins.call("register_content_types"):
        for kind in types:
            try:
                _content_type(kind)
            except (ContentError, TypeError, ValueError) as exc:
                plugins.disable(name, f"register_content_types: {exc}")
    for _, folders in plugins.call("register_themes"):
        for folder in folders:
            themes.PLUGIN_THEMES.setdefault(folder.name, folder)
            if folder.name not in sites.THEMES:
                sites.THEMES.append(folder.name)
    for _, filters in plugins.call("register_template_filters"):
        themes.PLUGIN_FILTERS.update(filters)


async def prepare(ctx: Context) -> Plugins:
    """This home's plugins loaded (``manager.load_for``), those without a valid licence
    disabled, and the rest activated: what every process that writes or builds does first."""
    from homeport.plugins import licences

    found = load_for(ctx.settings)
    await licences.enforce(ctx, found)
    activate(found)
    return found


def _content_type(kind: ContentType) -> None:
    if kind.name in BUILTIN_TYPES and kind.name in ENTRY_TYPES:
        return  # the built-ins' own plugin: already there
    if not NAME.match(kind.name) or not NAME.match(kind.collection):
        raise ValueError(f"entry type {kind.name!r}: names are lower-case letters, digits "
                         "and dashes")
    template = f"types/{kind.name}.html" if kind.template else ""
    register_entry_type(
        EntryType(kind.name, kind.collection, kind.title_field, kind.in_feed, template),
        dict(kind.schema), list(kind.required))
    if template:
        themes.PLUGIN_TEMPLATES[template] = kind.template


__all__ = ["activate", "prepare", "reset"]
