"""Versioned schema migrations, one SQL file per step and per dialect.

Files are ``<dialect>/NNNN_<what>.sql``; `plan` makes them the steps of the one migration runner
(``store/migrate.py``), which applies, in order and each in its own transaction, those above the
version recorded in the ``schema_version`` table. A migration is never edited once released: the
next change is a new file, so every database reaches the same schema by the same steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

from homeport.store.migrate import HistoryVersion, Plan, Step

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


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


@cache
def plan(dialect: str) -> Plan:
    """The record store's plan: every file a step, in the dialect's own SQL."""
    return Plan(
        "the record store",
        tuple(Step(m.version, m.name, m.sql, native=True) for m in migrations(dialect)),
        HistoryVersion(),
    )
