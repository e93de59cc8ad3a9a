"""The values an importer hands back and receives (re-exported by ``plugins.kinds``, where
the ``Importer`` protocol lives): here, below the plugin layer, so the built-in importers in
``interop/importers/`` build them without importing the plugin system."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from homeport.services.context import Context

ItemAction = Literal["created", "updated", "unchanged", "skipped", "failed"]


@dataclass(frozen=True)
class ImportItem:
    """What happened to one item of the source (a post, a toot, a page, a medium).

    In a dry run the action is what *would* happen; nothing is written."""

    source_id: str
    """The item's id in the source (WordPress post id, toot URI, file path…): stable across
    runs, so a re-run finds what an earlier run made (idempotence)."""
    action: ItemAction
    kind: str = ""
    """The entry type it became (``article``, ``note``…), or ``media``, ``redirect``…"""
    target: str = ""
    """Where it is now: the record's URI or the entry's path on the site."""
    message: str = ""
    """Why it was skipped or failed, in words for the person (never a traceback)."""


@dataclass(frozen=True)
class ImportRequest:
    """One run of an importer."""

    ctx: Context
    source: str
    """A local path (file, folder, archive) or a URL, as the person gave it."""
    site: str
    """The site (bucket) the content goes into."""
    dry_run: bool = False
    options: Mapping[str, str] = field(default_factory=dict)
    """Importer-specific options (``--option key=value``)."""


class ImportFailed(Exception):
    """The source cannot be imported at all; the message says why and what to do."""
