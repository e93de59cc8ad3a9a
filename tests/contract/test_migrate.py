"""The one migration runner (``store/migrate.py``) on SQLite and PostgreSQL: each step in its
own transaction with the version row, so a failure or a kill -9 mid-step leaves the previous
version whole and the next run finishes; processes starting together apply each step once; a
newer database is refused; a current one costs reads only. And the databases that use it: a
record store, a provider database and the home's SQLite files written by older versions open
at the current schema with their rows."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from homeport.store.connection import Connection, open_sqlite
from homeport.store.migrate import (
    HistoryVersion,
    MetaVersion,
    MigrationError,
    Plan,
    Step,
    has_column,
    migrate,
)

Opener = Callable[[], Connection]

BASE = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)"


def _plan(*more: Step, baseline: str | None = None, history: bool = False) -> Plan:
    steps = (Step(1, "notes", BASE), *more)
    return Plan("test.db", steps, HistoryVersion() if history else MetaVersion(), baseline)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    opened: list[Connection] = []
    if request.param == "sqlite":

        def open_one() -> Connection:
            opened.append(open_sqlite(tmp_path / "m.sqlite", "busy_timeout=10000"))
            return opened[-1]

    else:
        from homeport.store.pgconn import connect_once

        url = request.getfixturevalue("fresh_postgres_url")

        def open_one() -> Connection:
            opened.append(connect_once(url))
            return opened[-1]

    yield open_one
    for conn in opened:
        conn.close()


def _tables(conn: Connection) -> set[str]:
    if conn.engine == "sqlite":
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    else:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    return {r[0] for r in rows}


def test_steps_run_in_order_and_a_failed_step_leaves_the_previous_version_whole(
    opener: Opener,
) -> None:
    conn = opener()
    assert migrate(conn, _plan()).reached == 1

    def breaks(db: Connection) -> None:
        db.execute("CREATE TABLE tags (name TEXT PRIMARY KEY)")
        db.execute("INSERT INTO notes (body) VALUES ('half')")
        raise RuntimeError("the disk went away")

    with pytest.raises(RuntimeError, match="disk"):
        migrate(conn, _plan(Step(2, "tags", breaks)))
    assert not conn.in_transaction
    assert MetaVersion().read(conn) == 1
    assert "tags" not in _tables(conn)
    assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0

    fixed = Step(2, "tags", "CREATE TABLE tags (name TEXT PRIMARY KEY)")
    outcome = migrate(conn, _plan(fixed, Step(3, "note tags", "ALTER TABLE notes ADD tag TEXT")))
    assert (outcome.found, outcome.reached) == (1, 3)
    assert "tags" in _tables(conn) and has_column(conn, "notes", "tag")
    assert MetaVersion().read(conn) == 3


def test_a_new_database_gets_the_baseline_and_an_old_one_without_a_version_is_adopted(
    opener: Opener,
) -> None:
    conn = opener()
    conn.script(BASE)  # written before versions were kept
    conn.execute("INSERT INTO notes (body) VALUES ('kept')")
    plan = _plan(Step(2, "tags", "CREATE TABLE tags (name TEXT)"), baseline=BASE + ";" + _TAGS)
    assert migrate(conn, plan).reached == 2
    assert conn.execute("SELECT body FROM notes").fetchall() == [("kept",)]
    assert {"notes", "tags", "meta"} <= _tables(conn)


_TAGS = "CREATE TABLE IF NOT EXISTS tags (name TEXT)"


def test_the_history_row_records_each_step_once_with_its_name(opener: Opener) -> None:
    conn = opener()
    plan = _plan(Step(2, "tags", _TAGS), history=True)
    migrate(conn, _plan(history=True))
    migrate(conn, plan)
    migrate(conn, plan)
    rows = conn.execute("SELECT version, name FROM schema_version ORDER BY version").fetchall()
    assert [tuple(r) for r in rows] == [(1, "notes"), (2, "tags")]


def test_a_newer_database_is_refused_and_a_current_one_costs_no_write(opener: Opener) -> None:
    conn = opener()
    migrate(conn, _plan(Step(2, "tags", _TAGS)))
    with pytest.raises(MigrationError, match="newer Homeport"):
        migrate(conn, _plan())
    if conn.engine == "sqlite":
        seen: list[str] = []
        conn.raw.set_trace_callback(seen.append)  # type: ignore[attr-defined]
        migrate(conn, _plan(Step(2, "tags", _TAGS)))
        conn.raw.set_trace_callback(None)  # type: ignore[attr-defined]
        assert seen and all(s.lstrip().upper().startswith("SELECT") for s in seen), seen


def test_concurrent_runs_apply_each_step_once(opener: Opener) -> None:
    migrate(opener(), _plan())
    conns = [opener() for _ in range(4)]

    def count(db: Connection) -> None:
        db.execute("INSERT INTO notes (body) VALUES ('step 2 ran')")

    plan = _plan(Step(2, "count", count), Step(3, "again", count))
    errors: list[BaseException] = []

    def run(conn: Connection) -> None:
        try:
            migrate(conn, plan)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(c,)) for c in conns]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert conns[0].execute("SELECT count(*) FROM notes").fetchone()[0] == 2
    assert MetaVersion().read(conns[0]) == 3


_KILLED = """
import sys, time
from pathlib import Path
from homeport.store.connection import open_sqlite
from homeport.store.migrate import MetaVersion, Plan, Step, migrate

url, marker = sys.argv[1], Path(sys.argv[2])
if url.startswith("postgresql"):
    from homeport.store.pgconn import connect_once
    conn = connect_once(url)
else:
    conn = open_sqlite(Path(url), "busy_timeout=10000")
def slow(db):
    db.execute("CREATE TABLE tags (name TEXT)")
    db.execute("INSERT INTO notes (body) VALUES ('half')")
    marker.write_text("in the step")
    time.sleep(60)
steps = (Step(1, "notes", {base!r}), Step(2, "tags", slow))
migrate(conn, Plan("test.db", steps, MetaVersion()))
"""


def test_a_kill_9_mid_step_leaves_the_previous_version_and_the_next_run_finishes(
    opener: Opener, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    conn = opener()
    migrate(conn, _plan())
    if conn.engine == "sqlite":
        target = str(tmp_path / "m.sqlite")
    else:
        target = request.getfixturevalue("fresh_postgres_url")  # the opener's database
    marker = tmp_path / "marker"
    script = textwrap.dedent(_KILLED).format(base=BASE)
    child = subprocess.Popen([sys.executable, "-c", script, target, str(marker)])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the child never reached the step"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert MetaVersion().read(conn) == 1
    assert "tags" not in _tables(conn)
    outcome = migrate(conn, _plan(Step(2, "tags", "CREATE TABLE tags (name TEXT)")))
    assert (outcome.found, outcome.reached) == (1, 2)
    assert conn.execute("SELECT count(*) FROM notes").fetchone()[0] == 0


# --- the databases that use it ---------------------------------------------------------------
def test_a_record_store_at_version_1_is_brought_to_the_latest(tmp_path: Path) -> None:
    import asyncio

    from homeport.store.migrations import plan
    from homeport.store.sqlite import SQLiteRecordStore

    path = tmp_path / "h.db"
    first = plan("sqlite")
    conn = open_sqlite(path)
    migrate(conn, Plan(first.name, first.steps[:1], first.version))
    conn.close()

    async def main() -> None:
        store = SQLiteRecordStore(path)
        await store.initialize()
        await store.close()

    asyncio.run(main())
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    assert [r[0] for r in rows] == [s.version for s in first.steps]
    assert "deletion_horizons" in tables


SCHEMA_1_PROVIDER = """
CREATE TABLE tenants (name TEXT PRIMARY KEY, did TEXT NOT NULL, operations TEXT NOT NULL,
    quota INTEGER NOT NULL, usage INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL,
    created INTEGER NOT NULL, last_publish INTEGER, live_seq INTEGER, site TEXT);
CREATE TABLE inbox (seq INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL,
    kind TEXT NOT NULL, meta TEXT NOT NULL, body BLOB, size INTEGER NOT NULL,
    received INTEGER NOT NULL, acked INTEGER, result TEXT);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema', '1');
INSERT INTO tenants VALUES ('alice', 'did:key:z', '[]', 1000, 0, 'active', 1, NULL, NULL, NULL);
"""


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_schema_1_provider_database_gets_the_tables_and_columns_it_lacked(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Schema 1 grew tables (site_trees…) and the inbox's ``sealed`` column without a new
    version: an early provider database is caught up, its tenants kept."""
    from homeport.provider.db import SCHEMA_VERSION, ProviderDB

    url = ""
    if engine == "sqlite":
        conn: Connection = open_sqlite(tmp_path / "provider.sqlite")
    else:
        from homeport.store.pgconn import connect_once, translate_ddl

        url = request.getfixturevalue("fresh_postgres_url")
        with psycopg.connect(url, autocommit=True) as raw:
            raw.execute("CREATE SCHEMA provider")
        conn = connect_once(url)
        conn.execute("SET search_path TO provider")
        conn.script(translate_ddl(SCHEMA_1_PROVIDER), native=True)
    if engine == "sqlite":
        conn.script(SCHEMA_1_PROVIDER)
    conn.close()
    db = ProviderDB(tmp_path, url)
    try:
        assert db.meta("schema") == str(SCHEMA_VERSION)
        tenant = db.tenant("alice")
        assert tenant is not None and tenant.quota == 1000
        with db.reading() as read:
            assert has_column(read, "inbox", "sealed")
            assert {"site_trees", "site_live", "delegations"} <= _tables(read)
    finally:
        db.close()


def test_the_home_files_from_before_versions_keep_their_rows(tmp_path: Path) -> None:
    from homeport.interop.relay import AppliedLog
    from homeport.interop.sending import DB_FILE, SCHEMA, Outbox

    old = sqlite3.connect(tmp_path / "inbox.sqlite")
    old.executescript(
        "CREATE TABLE applied (id TEXT PRIMARY KEY, kind TEXT NOT NULL, result TEXT NOT NULL,"
        " applied INTEGER NOT NULL) WITHOUT ROWID;"
        " INSERT INTO applied VALUES ('item-1', 'test.note', '{\"ok\": true}', 5);"
    )
    old.close()
    old = sqlite3.connect(tmp_path / DB_FILE)
    old.executescript(SCHEMA + "INSERT INTO sources VALUES ('https://a.example/', 'v1', '[]');")
    old.close()

    log = AppliedLog(tmp_path)
    try:
        assert log.result("item-1") == {"ok": True}
    finally:
        log.close()
    outbox = Outbox(tmp_path / DB_FILE)
    try:
        row = outbox.db.execute("SELECT version FROM sources").fetchone()
        assert row[0] == "v1"
        assert MetaVersion().read(outbox.db) == 1
    finally:
        outbox.close()


@pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_a_record_store_written_by_a_newer_homeport_is_refused_clearly(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """It used to be opened as if current: a later step's tables would be missing."""
    import asyncio

    from homeport.core.errors import BackendUnavailable
    from homeport.store.migrations import plan
    from homeport.store.postgres import PostgresRecordStore
    from homeport.store.sqlite import SQLiteRecordStore

    future = plan(engine).latest + 1
    if engine == "sqlite":
        path = tmp_path / "h.db"
        store: SQLiteRecordStore | PostgresRecordStore = SQLiteRecordStore(path)
        conn: Connection = open_sqlite(path)
    else:
        from homeport.store.pgconn import connect_once

        url = request.getfixturevalue("fresh_postgres_url")
        store = PostgresRecordStore(url)
        conn = connect_once(url)
    try:
        migrate(conn, plan(engine))
        HistoryVersion().write(conn, Step(future, "from the future", ""))
    finally:
        conn.close()

    async def main() -> None:
        try:
            await store.initialize()
        finally:
            await store.close()

    with pytest.raises(BackendUnavailable, match="newer Homeport"):
        asyncio.run(main())
