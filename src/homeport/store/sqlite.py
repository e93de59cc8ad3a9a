"""SQLite RecordStore: one connection, used straight from the event loop.

SQLite calls on a local file take microseconds, so a thread hop would cost more than the call.
Every unit of work holds an `asyncio.Lock` while it runs; `transaction()` holds it across its
awaits, so concurrent tasks never interleave inside a transaction and a call made outside one
never lands in somebody else's open transaction. WAL with ``synchronous=NORMAL`` keeps commits
cheap (durable at checkpoints, never corrupt), which is what lets this backend sustain thousands
of small writes per second.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from homeport.core.errors import BackendUnavailable
from homeport.core.query import MISSING, extract, json_equal, like_regex
from homeport.store.connection import SQLiteConnection
from homeport.store.migrate import MigrationError, migrate
from homeport.store.migrations import plan
from homeport.store.sql.dialects import SQLITE
from homeport.store.sql.store import Row, SQLRecordStore, T, Work, now_ms

_UNAVAILABLE = re.compile(r"locked|busy|unable to open|disk|readonly", re.IGNORECASE)


@functools.lru_cache(maxsize=256)
def _like(pattern: str) -> re.Pattern[str]:
    return like_regex(pattern)


def _hp_like(pattern: str, value: Any) -> bool:
    return isinstance(value, str) and _like(pattern).search(value) is not None


def _hp_sub(data: str, path_json: str) -> str | None:
    """The JSON text at a path SQLite's path syntax cannot express (keys with quotes)."""
    value = extract(json.loads(data), ".".join(json.loads(path_json)))
    return None if value is MISSING else json.dumps(value)


def _hp_jeq(value_json: str, target_json: str) -> bool:
    return json_equal(json.loads(value_json), json.loads(target_json))


def _hp_canon(value_json: str) -> str:
    """Arrays and objects sort by their canonical text, as `core.query.sort_objects` does."""
    return json.dumps(json.loads(value_json), sort_keys=True)


class _Executor:
    __slots__ = ("_c",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self._c.execute(sql, params).fetchone()
        return row

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._c.execute(sql, params).fetchall()

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._c.execute(sql, params).rowcount

    async def many(self, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        self._c.executemany(sql, seq)


class SQLiteRecordStore(SQLRecordStore):
    """RecordStore in one SQLite file (created with its folder on `initialize`)."""

    def __init__(self, path: str | Path, clock: Callable[[], int] = now_ms) -> None:
        super().__init__(SQLITE, clock)
        self.path = str(path)
        self._conn: sqlite3.Connection | None = None
        self._db: _Executor | None = None
        self._lock = asyncio.Lock()
        self._in_tx: ContextVar[bool] = ContextVar(f"sqlitetx{id(self)}", default=False)

    def _connect(self) -> _Executor:
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=512
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("PRAGMA foreign_keys=ON")
        except sqlite3.Error as exc:
            raise BackendUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        conn.create_function("hp_like", 2, _hp_like, deterministic=True)
        conn.create_function("hp_sub", 2, _hp_sub, deterministic=True)
        conn.create_function("hp_jeq", 2, _hp_jeq, deterministic=True)
        conn.create_function("hp_canon", 1, _hp_canon, deterministic=True)
        self._conn, self._db = conn, _Executor(conn)
        return self._db

    @property
    def _executor(self) -> _Executor:
        return self._db if self._db is not None else self._connect()

    async def initialize(self) -> None:
        """Open the file and apply pending migrations (``store/migrate.py``: each step in an
        IMMEDIATE transaction that reads the version under the write lock)."""
        async with self._lock:
            try:
                migrate(SQLiteConnection(self._executor._c), plan("sqlite"))
            except MigrationError as exc:
                raise BackendUnavailable(str(exc)) from exc
            except sqlite3.OperationalError as exc:
                raise _unavailable(exc) from exc

    async def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = self._db = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        if self._in_tx.get():
            yield
            return
        async with self._lock:
            conn = self._executor._c
            token = self._in_tx.set(True)
            try:
                _begin(conn)
                try:
                    yield
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                _commit(conn)
            finally:
                self._in_tx.reset(token)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._transaction()

    async def _run(self, work: Work[T], write: bool = True) -> T:
        db = self._executor
        if self._in_tx.get():
            return await _guard(work, db)
        async with self._lock:
            if not write:  # one statement: atomic on its own
                return await _guard(work, db)
            _begin(db._c)
            try:
                result = await _guard(work, db)
            except BaseException:
                db._c.execute("ROLLBACK")
                raise
            _commit(db._c)
            return result


def _begin(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise _unavailable(exc) from exc


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except sqlite3.OperationalError as exc:
        conn.execute("ROLLBACK")
        raise _unavailable(exc) from exc


async def _guard(work: Work[T], db: _Executor) -> T:
    try:
        return await work(db)
    except sqlite3.OperationalError as exc:
        if _UNAVAILABLE.search(str(exc)):
            raise _unavailable(exc) from exc
        raise


def _unavailable(exc: sqlite3.Error) -> BackendUnavailable:
    return BackendUnavailable(f"SQLite database unavailable: {exc}")
