"""PostgreSQL RecordStore: the shared SQL logic over a psycopg 3 async connection pool.

A transaction binds one pooled connection to the task (a ContextVar), so the calls the task makes
inside ``async with store.transaction()`` share it; calls outside one borrow a connection for one
unit of work. Connections run in autocommit mode so single-statement reads cost one round trip;
units of work that write open an explicit transaction.

Writers of one collection queue on the row lock of its ``timestamps`` row (taken by the upsert
that bumps it), so concurrent writers wait rather than fail; units of work that still lose a
serialization or deadlock race are retried, since none of them has effects outside the database.
The lock is held until commit, so commits of one collection happen in timestamp order and a
``_since`` never misses a change. When the caller opted in (`homeport.store.sql.settle`), record
writes inside a transaction take provisional timestamps and one statement at commit assigns the
real ones (`SQL_SETTLE`): the lock is then held for that statement and the commit only, not for
a whole batch.
Connection-level failures surface as `BackendUnavailable` (503), never as driver exceptions.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg import errors as pg_errors
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from homeport import jsonio
from homeport.core.errors import BackendUnavailable, InvalidPostedData, ObjectNotFound
from homeport.core.query import Filter
from homeport.core.records import next_timestamp, strip_meta, tombstone
from homeport.store.connection import DatabaseError
from homeport.store.migrate import MigrationError, migrate
from homeport.store.migrations import plan
from homeport.store.protocols import JSONObject, Permissions, ReadSet
from homeport.store.sql import settle
from homeport.store.sql.dialects import POSTGRES
from homeport.store.sql.store import Executor, Row, SQLRecordStore, T, Work, now_ms, requested_ts

set_json_loads(jsonio.loads)

SET_PERMISSIONS = (
    "WITH wanted AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS w(permission, principal)),"
    " gone AS (DELETE FROM access_control_entries a WHERE a.object_uri = %s"
    " AND (a.permission, a.principal) NOT IN (SELECT permission, principal FROM wanted))"
    " INSERT INTO access_control_entries (object_uri, permission, principal)"
    " SELECT %s, permission, principal FROM wanted ON CONFLICT DO NOTHING"
)  # jsonb columns are parsed with orjson, as SQLite's text is

RETRIES = 5
# psycopg's classes follow DB-API, not SQLSTATE classes: list the "40xxx" ones we retry.
_ABORTED = (
    pg_errors.TransactionRollback,
    pg_errors.SerializationFailure,
    pg_errors.DeadlockDetected,
)

Conn = psycopg.AsyncConnection[Any]

# Single-statement writes (one round trip instead of four or five). `_BUMP` is the shared bump
# rule as a CTE; `{cond}` makes it conditional so nothing is bumped when the write will not happen.
_BUMP = (
    "INSERT INTO timestamps (resource_name, parent_id, last_modified)"
    " SELECT %s, %s, %s::bigint {cond}"
    " ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified ="
    " CASE WHEN %s::bigint > timestamps.last_modified THEN %s::bigint"
    " ELSE GREATEST(%s::bigint, timestamps.last_modified + 1) END"
    " RETURNING last_modified"
)
_UPSERT = (
    "INSERT INTO objects (resource_name, parent_id, id, last_modified, deleted, data)"
    " SELECT %s, %s, %s, ts.last_modified, FALSE, %s::jsonb FROM ts"
    " ON CONFLICT (resource_name, parent_id, id) DO UPDATE SET"
    " last_modified = excluded.last_modified, deleted = FALSE, data = excluded.data"
)
_PK = "resource_name = %s AND parent_id = %s AND id = %s"
SQL_UPDATE = f"WITH ts AS ({_BUMP.format(cond='')}) {_UPSERT} RETURNING last_modified"
# Creating runs in a transaction: a concurrent create of the same id can slip past `live` (the
# statement's snapshot), and its bump must then be rolled back with the UnicityError.
_CREATE = (
    f"WITH live AS (SELECT data, last_modified FROM objects WHERE {_PK} AND NOT deleted),"
    f" ts AS ({_BUMP.format(cond='WHERE NOT EXISTS (SELECT 1 FROM live)')}),"
    f" ins AS ({_UPSERT} WHERE objects.deleted RETURNING last_modified)"
)
_CREATED = (
    " SELECT (SELECT last_modified FROM ins), (SELECT data FROM live),"
    " (SELECT last_modified FROM live)"
)
SQL_CREATE = _CREATE + _CREATED
# `SET_PERMISSIONS` as CTEs, done only when `{cond}` holds (the object was written): a create
# and its permissions in one statement.
_ACL = (
    " wanted AS (SELECT * FROM unnest(%s::text[], %s::text[]) AS w(permission, principal)"
    " WHERE {cond}),"
    " gone AS (DELETE FROM access_control_entries a WHERE a.object_uri = %s AND {cond}"
    " AND (a.permission, a.principal) NOT IN (SELECT permission, principal FROM wanted)),"
    " acl AS (INSERT INTO access_control_entries (object_uri, permission, principal)"
    " SELECT %s, permission, principal FROM wanted ON CONFLICT DO NOTHING)"
)
SQL_CREATE_ACL = _CREATE + "," + _ACL.format(cond="NOT EXISTS (SELECT 1 FROM live)") + _CREATED
# FOR UPDATE makes a concurrent delete of the same object wait, then see the tombstone and bump
# nothing, so deleting needs no explicit transaction. The pair's timestamp row is locked first,
# as creates and updates do, so racing writes of one object queue instead of deadlocking.
SQL_DELETE = (
    "WITH pair AS (SELECT 1 FROM timestamps WHERE resource_name = %s AND parent_id = %s"
    " FOR UPDATE),"
    f" live AS (SELECT 1 FROM objects WHERE {_PK} AND NOT deleted"
    " AND EXISTS (SELECT 1 FROM pair) FOR UPDATE),"
    f" ts AS ({_BUMP.format(cond='WHERE EXISTS (SELECT 1 FROM live)')}),"
    " gone AS (UPDATE objects SET deleted = TRUE, data = '{}'::jsonb,"
    " last_modified = ts.last_modified FROM ts WHERE objects.resource_name = %s"
    " AND objects.parent_id = %s AND objects.id = %s"
    " RETURNING objects.last_modified)"
    " SELECT last_modified FROM gone"
)

# A deferred record write: no bump (so no lock on the pair's timestamp row); the provisional
# timestamp is replaced at commit by SQL_SETTLE.
SQL_DEFERRED_DELETE = (
    "UPDATE objects SET deleted = TRUE, data = '{}'::jsonb, last_modified = %s"
    f" WHERE {_PK} AND NOT deleted RETURNING 1"
)
# At commit, for the transaction's deferred writes (in write order): bump each pair's timestamp
# by its number of writes in one upsert (the rule of `next_timestamp`: past both the clock and
# the current value; `excluded.last_modified - now` is that count minus one), give the writes of
# a pair consecutive values in write order, and move each row still holding its provisional
# value. Pairs are locked in a fixed order, so two settling transactions cannot deadlock.
SQL_SETTLE = (
    "WITH w AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[])"
    " WITH ORDINALITY AS w(rn, pid, id, prov, n)),"
    " pairs AS (SELECT rn, pid, count(*) AS k FROM w GROUP BY rn, pid),"
    " ts AS (INSERT INTO timestamps (resource_name, parent_id, last_modified)"
    " SELECT rn, pid, %s::bigint + k - 1 FROM pairs ORDER BY rn, pid"
    " ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified ="
    " GREATEST(%s::bigint, timestamps.last_modified + 1) + excluded.last_modified - %s::bigint"
    " RETURNING resource_name AS rn, parent_id AS pid, last_modified AS last),"
    " fin AS (SELECT w.rn, w.pid, w.id, w.prov,"
    " ts.last - p.k + row_number() OVER (PARTITION BY w.rn, w.pid ORDER BY w.n) AS final"
    " FROM w JOIN pairs p USING (rn, pid) JOIN ts USING (rn, pid)),"
    " moved AS (UPDATE objects o SET last_modified = fin.final FROM fin"
    " WHERE o.resource_name = fin.rn AND o.parent_id = fin.pid AND o.id = fin.id"
    " AND o.last_modified = fin.prov)"
    " SELECT prov, final FROM fin"
)
# `read_set` in one round trip: the uncorrelated subqueries run once (init plans) and repeat on
# each row, one row per object found (or one row of NULLs when none is).
SQL_READ_SET = (
    "WITH k AS (SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])"
    " WITH ORDINALITY AS k(rn, pid, id, n)),"
    " found AS (SELECT k.n, o.data, o.last_modified FROM k JOIN objects o"
    " ON o.resource_name = k.rn AND o.parent_id = k.pid AND o.id = k.id AND NOT o.deleted)"
    " SELECT ARRAY(SELECT DISTINCT principal FROM access_control_entries"
    " WHERE (object_uri, permission) IN (SELECT * FROM unnest(%s::text[], %s::text[]))),"
    " ARRAY(SELECT ARRAY[permission, principal] FROM access_control_entries"
    " WHERE object_uri = %s),"
    " (SELECT last_modified FROM timestamps WHERE resource_name = %s AND parent_id = %s),"
    " found.n, found.data, found.last_modified FROM (SELECT 1) AS one LEFT JOIN found ON TRUE"
)
DEFERRED = ("record",)  # the hot path; other resources' timestamps are read inside writes


def _acl_params(object_uri: str, permissions: Permissions) -> tuple[Any, ...]:
    """The parameters of `SET_PERMISSIONS` and `_ACL`."""
    rows = [(p, who) for p, principals in permissions.items() for who in principals]
    return ([r[0] for r in rows], [r[1] for r in rows], object_uri, object_uri)


class _Deferred:
    """One transaction's deferred writes not settled yet, and the objects it answered with."""

    __slots__ = ("count", "latest", "returned", "writes")

    def __init__(self) -> None:
        self.count = 0  # never reset: a provisional value names one write of the transaction
        self.writes: list[tuple[str, str, str, int]] = []
        self.returned: list[JSONObject] = []
        self.latest: dict[tuple[str, str], int] = {}

    def next(self) -> int:
        return settle.PROVISIONAL_FLOOR + self.count + 1

    def wrote(self, key: tuple[str, str, str], obj: JSONObject) -> JSONObject:
        provisional = obj["last_modified"]
        self.count += 1
        self.writes.append((*key, provisional))
        self.latest[key[0], key[1]] = provisional
        self.returned.append(obj)
        return obj

    def clear(self) -> None:
        self.writes, self.returned, self.latest = [], [], {}


class _Executor:
    __slots__ = ("_c",)

    def __init__(self, conn: Conn) -> None:
        self._c = conn

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None:
        cur = await self._c.execute(sql, params)
        return await cur.fetchone()

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        cur = await self._c.execute(sql, params)
        return await cur.fetchall()

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        cur = await self._c.execute(sql, params)
        return cur.rowcount

    async def many(self, sql: str, seq: Sequence[Sequence[Any]]) -> None:
        async with self._c.cursor() as cur:
            await cur.executemany(sql, seq)


def _where(url: str) -> str:
    """The server part of a URL, without credentials, for error messages."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path}"


class PostgresRecordStore(SQLRecordStore):
    """RecordStore in a PostgreSQL database; the pool opens on `initialize` (or first use).

    create, update and delete are one statement each here (the shared versions take several
    round trips), which is what a network database rewards.
    """

    def __init__(
        self,
        url: str,
        clock: Callable[[], int] = now_ms,
        *,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(POSTGRES, clock)
        self.url = url
        self._pool_args: dict[str, Any] = {
            "min_size": min_size,
            "max_size": max_size,
            "timeout": timeout,
        }
        self._pool = self._new_pool()
        self._opened = False
        self._conn: ContextVar[Conn | None] = ContextVar(f"pgtx{id(self)}", default=None)
        self._deferred: ContextVar[_Deferred | None] = ContextVar(
            f"pgdefer{id(self)}", default=None
        )

    def _new_pool(self) -> AsyncConnectionPool[Conn]:
        return AsyncConnectionPool(
            self.url, open=False, kwargs={"autocommit": True}, name="homeport", **self._pool_args
        )

    def _bump_params(self, rn: str, pid: str, requested: Any = None) -> tuple[Any, ...]:
        now, req = self._clock(), requested_ts(requested)
        return (rn, pid, next_timestamp(0, now, req), req, req, now)

    async def _deferring(self, resource_name: str, requested: Any = None) -> _Deferred | None:
        """This transaction's deferred writes, if this write may join them. A client-supplied
        timestamp is honoured against the current value, so that write bumps at once, after
        the deferred writes before it are settled (timestamps then follow the writes' order)."""
        deferred = self._deferred.get()
        if deferred is None or resource_name not in DEFERRED:
            return None
        if requested_ts(requested) is None:
            return deferred
        await self._settle_early(resource_name)
        return None

    async def _settle_early(self, resource_name: str) -> None:
        """Settle the deferred writes now, before a write of ``resource_name`` that bumps at
        once; the timestamp rows they touch are then locked until the commit."""
        deferred, conn = self._deferred.get(), self._conn.get()
        if deferred is not None and deferred.writes and resource_name in DEFERRED:
            assert conn is not None
            with self._unavailable():
                await self._settle(conn, deferred)

    async def delete_all(
        self, resource_name: str, parent_id: str, filters: Sequence[Filter] = ()
    ) -> list[JSONObject]:
        await self._settle_early(resource_name)
        return await super().delete_all(resource_name, parent_id, filters)

    async def create(
        self,
        resource_name: str,
        parent_id: str,
        obj: JSONObject,
        acl: tuple[str, Permissions] | None = None,
    ) -> JSONObject:
        object_id: str = obj["id"]
        body = strip_meta(obj)
        key = (resource_name, parent_id, object_id)
        deferred = await self._deferring(resource_name, obj.get("last_modified"))
        if deferred is not None:
            return await self._create_deferred(deferred, key, body, acl)
        params = (*key, *self._bump_params(resource_name, parent_id, obj.get("last_modified")))
        params += (*key, self.dialect.dump(body))
        sql = SQL_CREATE
        if acl is not None:
            sql = SQL_CREATE_ACL
            params += _acl_params(*acl)

        async def work(db: Executor) -> JSONObject:
            row = await db.one(sql, params)
            assert row is not None
            if row[0] is None:
                existing = (False, row[1], row[2]) if row[1] is not None else None
                existing = existing or await db.one(self._sql_existing, key)
                raise self._unicity(resource_name, object_id, existing)
            return {**body, "id": object_id, "last_modified": row[0]}

        return await self._run(work)

    async def _create_deferred(
        self,
        deferred: _Deferred,
        key: tuple[str, str, str],
        body: JSONObject,
        acl: tuple[str, Permissions] | None,
    ) -> JSONObject:
        provisional = deferred.next()
        sql, params = self._sql_create, (*key, provisional, self.dialect.dump(body))
        if acl is not None:  # the permissions in the same statement, if the insert was done
            cond = "EXISTS (SELECT 1 FROM ins)"
            sql = f"WITH ins AS ({sql}), {_ACL.format(cond=cond)} SELECT id FROM ins"
            params += _acl_params(*acl)

        async def work(db: Executor) -> JSONObject:
            row = await db.one(sql, params)
            if row is None:  # a live object has this id (a concurrent create waited, then lost)
                raise self._unicity(key[0], key[2], await db.one(self._sql_existing, key))
            return {**body, "id": key[2], "last_modified": provisional}

        return deferred.wrote(key, await self._run(work))

    async def update(
        self, resource_name: str, parent_id: str, object_id: str, obj: JSONObject
    ) -> JSONObject:
        body = strip_meta(obj)
        key = (resource_name, parent_id, object_id)
        deferred = await self._deferring(resource_name, obj.get("last_modified"))
        if deferred is not None:
            provisional = deferred.next()
            row = (*key, provisional, self.dialect.dump(body))
            await self._run(lambda db: db.run(self._sql_update, row))
            return deferred.wrote(key, {**body, "id": object_id, "last_modified": provisional})
        params = (*self._bump_params(resource_name, parent_id, obj.get("last_modified")), *key)
        params += (self.dialect.dump(body),)

        async def work(db: Executor) -> JSONObject:
            row = await db.one(SQL_UPDATE, params)
            assert row is not None
            return {**body, "id": object_id, "last_modified": row[0]}

        return await self._run(work, write=False)  # one statement: atomic on its own

    async def delete(self, resource_name: str, parent_id: str, object_id: str) -> JSONObject:
        key = (resource_name, parent_id, object_id)
        deferred = await self._deferring(resource_name)
        if deferred is not None:
            provisional = deferred.next()
            if not await self._run(lambda db: db.run(SQL_DEFERRED_DELETE, (provisional, *key))):
                raise ObjectNotFound(resource_name, object_id)
            return deferred.wrote(key, tombstone(object_id, provisional))
        params = (resource_name, parent_id, *key, *self._bump_params(resource_name, parent_id))
        params += key

        async def work(db: Executor) -> JSONObject:
            row = await db.one(SQL_DELETE, params)
            if row is None:
                raise ObjectNotFound(resource_name, object_id)
            return tombstone(object_id, row[0])

        return await self._run(work, write=False)

    async def resource_timestamp(self, resource_name: str, parent_id: str) -> int:
        """Inside a transaction that deferred writes of this pair, the newest of them (still
        provisional: the caller's `settle.collecting` gets its final value)."""
        deferred = self._deferred.get()
        if deferred is not None and (resource_name, parent_id) in deferred.latest:
            return deferred.latest[resource_name, parent_id]
        return await super().resource_timestamp(resource_name, parent_id)

    async def read_set(
        self,
        bound: Sequence[tuple[str, str]],
        keys: Sequence[tuple[str, str, str]],
        acl_uri: str | None = None,
        timestamp: tuple[str, str] | None = None,
    ) -> ReadSet:
        """One statement (`SQL_READ_SET`) where the parts would take up to four."""
        rn, pid, ids = ([k[i] for k in keys] for i in range(3))
        pair = timestamp or (None, None)
        params = (rn, pid, ids, [b[0] for b in bound], [b[1] for b in bound], acl_uri, *pair)
        rows = await self._run(lambda db: db.all(SQL_READ_SET, params), write=False)
        first = rows[0]
        objects: list[JSONObject | None] = [None] * len(keys)
        for *_, n, data, last_modified in rows:
            if n is not None:
                objects[n - 1] = {**data, "id": ids[n - 1], "last_modified": last_modified}
        found = ReadSet(set(first[0]), objects)
        if acl_uri is not None:
            found.permissions = {}
            for permission, principal in first[1]:
                found.permissions.setdefault(permission, set()).add(principal)
        if timestamp is not None:
            deferred = self._deferred.get()
            if first[2] is None or (deferred is not None and timestamp in deferred.latest):
                found.timestamp = await self.resource_timestamp(*timestamp)
            else:
                found.timestamp = int(first[2])
        return found

    async def _settle(self, conn: Conn, deferred: _Deferred) -> None:
        """Assign the deferred writes' timestamps (one statement, just before the commit) and
        put them in the objects already handed out and in the caller's mapping."""
        rn, pid, ids, provisional = (list(column) for column in zip(*deferred.writes, strict=True))
        now = self._clock()
        cur = await conn.execute(SQL_SETTLE, (rn, pid, ids, provisional, now, now, now))
        mapping = {int(p): int(f) for p, f in await cur.fetchall()}
        for obj in deferred.returned:
            obj["last_modified"] = mapping.get(obj["last_modified"], obj["last_modified"])
        deferred.clear()
        settle.note(mapping)

    @contextmanager
    def _unavailable(self, retrying: bool = False) -> Iterator[None]:
        """Driver- and pool-level connection failures become one clear 503; values jsonb
        cannot hold become a 400.

        A transaction aborted by a concurrent one is retried by `_run` when it owns the
        transaction (``retrying``); inside the caller's transaction it cannot be, so it is a 503
        too (the client may retry the request).
        """
        try:
            yield
        except psycopg.DataError as exc:
            # jsonb refuses what JSON allows: the NUL character ("\u0000") in strings.
            raise InvalidPostedData(f"PostgreSQL cannot store this value: {exc}") from exc
        except (PoolTimeout, psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if isinstance(exc, _ABORTED):
                if retrying:
                    raise
                raise BackendUnavailable(
                    f"PostgreSQL aborted the transaction because of a concurrent one: {exc}"
                ) from exc
            raise BackendUnavailable(
                f"PostgreSQL at {_where(self.url)} is unavailable: {exc}"
            ) from exc

    async def set_permissions(self, object_uri: str, permissions: Permissions) -> None:
        """One statement instead of delete-then-insert: drop the entries no longer wanted, add
        the new ones. The two touch disjoint rows, so they can share a statement."""
        params = _acl_params(object_uri, permissions)
        await self._run(lambda db: db.run(SET_PERMISSIONS, params))

    async def _open(self) -> None:
        """Open the pool on first use; after a failure start over with a new pool (a closed pool
        cannot reopen), so the next request tries the server again."""
        if self._opened:
            return
        try:
            with self._unavailable():
                await self._pool.open(wait=True, timeout=self._pool.timeout)
        except BackendUnavailable:
            await self._pool.close()
            self._pool = self._new_pool()
            raise
        self._opened = True

    async def initialize(self) -> None:
        """Open the pool and apply pending migrations (``store/migrate.py``: each step in a
        transaction under an advisory lock, so processes starting at once apply it once), on a
        connection of their own in a worker thread: the runner is synchronous."""
        await self._open()
        try:
            await asyncio.to_thread(self._migrate)
        except (DatabaseError, MigrationError) as exc:
            raise BackendUnavailable(f"PostgreSQL at {_where(self.url)}: {exc}") from exc

    def _migrate(self) -> None:
        from homeport.store.pgconn import connect_once

        conn = connect_once(self.url)
        try:
            migrate(conn, plan("postgresql"))
        finally:
            conn.close()

    async def close(self) -> None:
        if self._opened:
            await self._pool.close()
            self._opened = False

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        if self._conn.get() is not None:
            yield
            return
        await self._open()
        with self._unavailable():
            async with self._pool.connection() as conn, conn.transaction():
                token = self._conn.set(conn)
                deferred = _Deferred() if settle.deferring() else None
                deferred_token = self._deferred.set(deferred)
                try:
                    yield
                    if deferred is not None and deferred.writes:
                        await self._settle(conn, deferred)
                finally:
                    self._deferred.reset(deferred_token)
                    self._conn.reset(token)

    def transaction(self) -> AbstractAsyncContextManager[None]:
        return self._transaction()

    async def _run(self, work: Work[T], write: bool = True) -> T:
        bound = self._conn.get()
        if bound is not None:
            with self._unavailable():
                return await work(_Executor(bound))
        await self._open()
        for attempt in range(RETRIES):
            try:
                with self._unavailable(retrying=True):
                    async with self._pool.connection() as conn:
                        if not write:
                            return await work(_Executor(conn))
                        async with conn.transaction():
                            return await work(_Executor(conn))
            except _ABORTED:
                if attempt == RETRIES - 1:
                    raise BackendUnavailable(
                        "PostgreSQL kept aborting the transaction (serialization/deadlock)"
                    ) from None
                await asyncio.sleep(0.005 * 2**attempt)
        raise AssertionError("unreachable")
