"""The values an exporter receives and hands back (re-exported by ``plugins.kinds``, where
the ``Exporter`` protocol lives): below the plugin layer, so the built-in exporters in
``interop/exporters/`` build them without importing the plugin system."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from homeport.services.context import Context


@dataclass(frozen=True)
class ExportRequest:
    ctx: Context
    target: Path
    """The folder to write into (created if missing; an exporter never writes outside it)."""
    site: str
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportResult:
    items: int
    """Entries written."""
    files: int
    """Files written (entries, media, indexes)."""
    notes: tuple[str, ...] = ()
    """What the person should know (entries the format cannot carry, and so on)."""
