"""Versioned schema migrations, one SQL file per step and per dialect.

Files are ``<dialect>/NNNN_<what>.sql``; ``initialize()`` applies, in order and each in its own
transaction, those above the version recorded in the ``schema_version`` table. A migration is
never edited once released: the next change is a new file, so every database reaches the same
schema by the same steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(dialect: str) -> list[Migration]:
    """The dialect's migrations in version order; fails loudly on a gap or a duplicate."""
    folder = resources.files(__name__).joinpath(dialect)
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise RuntimeError(f"{dialect} migrations are not numbered 1..n: {[m.name for m in found]}")
    return found


def pending(dialect: str, current: int) -> list[Migration]:
    return [m for m in migrations(dialect) if m.version > current]
