"""The one migration runner: every database Homeport keeps (the record store, the repository,
the provider's state, the webmention outbox, the relay's log) reaches its current schema
through `migrate`, on SQLite and PostgreSQL alike (``store/connection.py``).

A `Plan` is ordered steps, numbered one after the other (from 1, or from the oldest version
that can still be upgraded: step n brings version n - 1 to n), and the row that says which step
a database has reached (`MetaVersion`: a key of a ``meta`` table; `HistoryVersion`: one row per
step in ``schema_version``, the record store's). Each step runs in a transaction of its own that
also moves the version row, so a kill leaves the previous step's version and schema whole, and the
next open goes on from there. The version is read again inside each step's transaction, under
the write lock (SQLite's ``BEGIN IMMEDIATE``; on PostgreSQL a transaction-level advisory lock
named after the plan and the schema), so processes starting together apply each step once.

A database that is already current costs one read and no transaction. A new one (no version
row) is given the plan's ``baseline``, the latest schema at once, stamped with the last step's
version; a plan without a baseline runs every step from the first. Steps are never edited once
released: a change is a new step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from homeport.store.connection import Connection, transaction

_LOCK_CLASS = 0x48504D47  # pg_advisory_xact_lock's first key: "HPMG"


class MigrationError(Exception):
    """The database cannot be brought to this Homeport's schema (written by a newer one)."""


@dataclass(frozen=True, slots=True)
class Step:
    version: int
    name: str
    apply: str | Callable[[Connection], None]
    """SQL run inside the step's transaction (SQLite's spelling, translated on PostgreSQL,
    unless ``native``), or a function given the connection, called inside it."""
    native: bool = False
    """The SQL is already in the connection's own dialect: run as written."""
    prepare: Callable[[Connection], None] | None = None
    """Work too large for one transaction, called before it and outside any: it commits in
    pieces of its own and must go on from wherever a killed run stopped."""


class VersionRow(Protocol):
    def read(self, conn: Connection) -> int | None:
        """The version reached; None when the database has none (new, or from before)."""

    def write(self, conn: Connection, step: Step) -> None:
        """Record ``step`` as reached (inside its transaction)."""


def _has_table(conn: Connection, table: str) -> bool:
    if conn.engine == "sqlite":
        sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        # the catalog as a table, read with the statement's snapshot: to_regclass() reads the
        # backend's cache, which may not know yet of a table committed while we waited
        sql = "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
        sql += " AND tablename = ?"
    return conn.execute(sql, (table,)).fetchone() is not None


def has_column(conn: Connection, table: str, column: str) -> bool:
    """Whether ``table`` has ``column`` (for steps that add one a database may already have)."""
    if conn.engine == "sqlite":
        return any(r[1] == column for r in conn.execute(f"PRAGMA table_info({table})"))
    row = conn.execute(
        "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema()"
        " AND table_name = ? AND column_name = ?",
        (table, column),
    ).fetchone()
    return row is not None


@dataclass(frozen=True, slots=True)
class MetaVersion:
    """The version as the value of ``key`` in a ``meta (key, value)`` table."""

    key: str = "schema"

    def read(self, conn: Connection) -> int | None:
        if not _has_table(conn, "meta"):
            return None
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (self.key,)).fetchone()
        return None if row is None else int(row[0])

    def write(self, conn: Connection, step: Step) -> None:
        conn.script(
            "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"
            " WITHOUT ROWID"
        )
        conn.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (self.key, str(step.version)),
        )


SCHEMA_VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)"
)


@dataclass(frozen=True, slots=True)
class HistoryVersion:
    """One ``schema_version`` row per step applied, with its name and when."""

    def read(self, conn: Connection) -> int | None:
        if not _has_table(conn, "schema_version"):
            return None
        row = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()
        return int(row[0])

    def write(self, conn: Connection, step: Step) -> None:
        conn.execute(SCHEMA_VERSION_TABLE)
        conn.execute(
            "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
            (step.version, step.name, int(time.time() * 1000)),
        )


@dataclass(frozen=True)
class Plan:
    name: str
    """What the database is, for messages and the PostgreSQL lock (``repo.sqlite``)."""
    steps: tuple[Step, ...]
    version: VersionRow = field(default_factory=MetaVersion)
    baseline: str | None = None
    """The latest schema at once for a database with no version row; written ``IF NOT
    EXISTS``, so a database from before versions were kept is adopted as it is."""

    def __post_init__(self) -> None:
        numbers = [s.version for s in self.steps]
        first = numbers[0] if numbers else 0
        if first < 1 or numbers != list(range(first, first + len(numbers))):
            raise ValueError(f"{self.name}: steps are not numbered one after the other: {numbers}")

    @property
    def latest(self) -> int:
        return self.steps[-1].version


@dataclass(frozen=True, slots=True)
class Outcome:
    found: int | None
    """The version the database had (None: none)."""
    reached: int


def migrate(conn: Connection, plan: Plan) -> Outcome:
    """Bring the database behind ``conn`` (no transaction open) to ``plan``'s latest step."""
    found = plan.version.read(conn)
    _refuse_newer(plan, found)
    if found == plan.latest:
        return Outcome(found, found)
    reached = found
    if found is None and plan.baseline is not None:
        with transaction(conn):
            _lock(conn, plan)
            reached = plan.version.read(conn)
            if reached is None:
                conn.script(plan.baseline)
                plan.version.write(conn, plan.steps[-1])
                reached = plan.latest
    for step in plan.steps:
        if reached is not None and step.version <= reached:
            continue
        if step.prepare is not None:
            step.prepare(conn)
        with transaction(conn):
            _lock(conn, plan)
            reached = plan.version.read(conn)
            _refuse_newer(plan, reached)
            if reached is not None and step.version <= reached:
                continue  # another process applied it meanwhile
            if isinstance(step.apply, str):
                conn.script(step.apply, native=step.native)
            else:
                step.apply(conn)
            plan.version.write(conn, step)
            reached = step.version
    assert reached is not None
    return Outcome(found, reached)


def _refuse_newer(plan: Plan, found: int | None) -> None:
    if found is not None and found < plan.steps[0].version - 1:
        raise MigrationError(f"{plan.name} has schema {found}, too old for this Homeport")
    if found is not None and found > plan.latest:
        raise MigrationError(
            f"{plan.name} was written by a newer Homeport (schema {found}; this one knows"
            f" {plan.latest}): upgrade Homeport to open it"
        )


def _lock(conn: Connection, plan: Plan) -> None:
    """PostgreSQL: one migration of this plan in this schema at a time (SQLite's ``BEGIN
    IMMEDIATE`` already holds the file's write lock)."""
    if conn.engine != "sqlite":
        conn.execute(
            "SELECT pg_advisory_xact_lock(CAST(? AS integer),"
            " hashtext(current_schema() || ':' || ?))",
            (_LOCK_CLASS, plan.name),
        )


__all__ = [
    "SCHEMA_VERSION_TABLE",
    "HistoryVersion",
    "MetaVersion",
    "MigrationError",
    "Outcome",
    "Plan",
    "Step",
    "VersionRow",
    "has_column",
    "migrate",
]
