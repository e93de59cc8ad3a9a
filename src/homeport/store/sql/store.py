"""The RecordStore logic shared by the SQL backends, written once against a tiny executor seam.

SQLite and PostgreSQL differ in how a connection is obtained and how a transaction is held, not in
what the statements mean; so the backends only provide `_run` (run a unit of work atomically on a
connection) and an executor with four coroutines, and everything else lives here. Statements are
built from the dialect once per shape so the drivers' statement caches hit.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar, cast

from homeport.core.errors import ObjectNotFound, UnicityError
from homeport.core.query import Filter, Sort
from homeport.core.records import MAX_TIMESTAMP, next_timestamp, strip_meta, tombstone
from homeport.store.memory import uri_matches
from homeport.store.protocols import (
    JSONObject,
    Permissions,
    ReadSet,
    RecordStore,
    read_set_in_parts,
)
from homeport.store.sql.query import Dialect, Frag, all_of

T = TypeVar("T")
Row = tuple[Any, ...]
DEFAULT_SORT = (Sort("last_modified", descending=True),)
_INT64 = 2**63 - 1


def now_ms() -> int:
    return int(time.time() * 1000)


class Executor(Protocol):
    """The four things the shared code asks of a connection (``?`` placeholders, dialect-mapped)."""

    async def one(self, sql: str, params: Sequence[Any] = ()) -> Row | None: ...

    async def all(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def run(self, sql: str, params: Sequence[Any] = ()) -> int: ...

    async def many(self, sql: str, seq: Sequence[Sequence[Any]]) -> None: ...


Work = Callable[[Executor], Awaitable[T]]


def requested_ts(value: Any) -> int | None:
    """A client-supplied ``last_modified`` worth considering (see `next_timestamp`)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_TIMESTAMP:
        return value
    return None


class SQLRecordStore:
    """RecordStore over any `Dialect`; subclasses provide connections and transactions."""

    dialect: Dialect

    def __init__(self, dialect: Dialect, clock: Callable[[], int] = now_ms) -> None:
        self.dialect = dialect
        self._clock = clock
        q, g = dialect.q, dialect.greatest
        self._sql_bump = q(
            "INSERT INTO timestamps (resource_name, parent_id, last_modified) VALUES (?, ?, ?)"
            " ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified ="
            " CASE WHEN ? > timestamps.last_modified THEN ?"
            f" ELSE {g}(?, timestamps.last_modified + 1) + ? END"
            " RETURNING last_modified"
        )
        self._sql_get = q(
            "SELECT data, last_modified FROM objects"
            " WHERE resource_name = ? AND parent_id = ? AND id = ? AND NOT deleted"
        )
        self._sql_existing = q(
            "SELECT deleted, data, last_modified FROM objects"
            " WHERE resource_name = ? AND parent_id = ? AND id = ?" + dialect.for_update
        )
        upsert = (
            "INSERT INTO objects (resource_name, parent_id, id, last_modified, deleted, data)"
            f" VALUES (?, ?, ?, ?, FALSE, ?{dialect.json_cast})"
            " ON CONFLICT (resource_name, parent_id, id) DO UPDATE SET"
            " last_modified = excluded.last_modified, deleted = FALSE, data = excluded.data"
        )
        self._sql_create = q(upsert + " WHERE objects.deleted RETURNING id")
        self._sql_update = q(upsert)
        self._sql_tombstone = q(
            f"UPDATE objects SET deleted = TRUE, data = ?{dialect.json_cast}, last_modified = ?"
            " WHERE resource_name = ? AND parent_id = ? AND id = ?"
        )
        self._sql_ts = q(
            "SELECT last_modified FROM timestamps WHERE resource_name = ? AND parent_id = ?"
        )
        self._sql_ts_init = q(
            "INSERT INTO timestamps (resource_name, parent_id, last_modified) VALUES (?, ?, ?)"
            " ON CONFLICT (resource_name, parent_id) DO NOTHING"
        )
        self._sql_horizon = q(
            "INSERT INTO deletion_horizons (resource_name, parent_id, last_modified)"
            " VALUES (?, ?, ?) ON CONFLICT (resource_name, parent_id) DO UPDATE SET"
            f" last_modified = {g}(deletion_horizons.last_modified, excluded.last_modified)"
        )
        self._sql_horizon_get = q(
            "SELECT last_modified FROM deletion_horizons WHERE resource_name = ? AND parent_id = ?"
        )
        self._empty = dialect.dump({})

    # --- what a backend provides ---------------------------------------------------------------
    async def _run(self, work: Work[T], write: bool = True) -> T:
        """Run ``work`` atomically: inside the task's transaction if any, else in its own."""
        raise NotImplementedError

    def transaction(self) -> AbstractAsyncContextManager[None]:
        raise NotImplementedError

    # --- objects -------------------------------------------------------------------------------
    async def _bump(
        self,
        db: Executor,
        resource_name: str,
        parent_id: str,
        requested: Any = None,
        extra: int = 0,
    ) -> int:
        """Move the pair's timestamp forward in one statement and return it.

        Same rule as `next_timestamp`, evaluated by the database so that the row lock taken by the
        upsert serialises concurrent writers of one pair. ``extra`` reserves that many more
        consecutive values (bulk deletes give every tombstone its own timestamp).
        """
        now = self._clock()
        req = requested_ts(requested)
        first = next_timestamp(0, now, req) + extra
        row = await db.one(self._sql_bump, (resource_name, parent_id, first, req, req, now, extra))
        assert row is not None
        return int(row[0])

    async def get(self, resource_name: str, parent_id: str, object_id: str) -> JSONObject:
        async def work(db: Executor) -> JSONObject:
            row = await db.one(self._sql_get, (resource_name, parent_id, object_id))
            if row is None:
                raise ObjectNotFound(resource_name, object_id)
            return {**self.dialect.load(row[0]), "id": object_id, "last_modified": row[1]}

        return await self._run(work, write=False)

    async def get_many(self, keys: Sequence[tuple[str, str, str]]) -> list[JSONObject | None]:
        if not keys:
            return []
        wanted = " OR ".join(["(resource_name = ? AND parent_id = ? AND id = ?)"] * len(keys))
        sql = self.dialect.q(
            "SELECT resource_name, parent_id, id, data, last_modified FROM objects"
            f" WHERE NOT deleted AND ({wanted})"
        )
        params = [part for key in keys for part in key]

        async def work(db: Executor) -> list[JSONObject | None]:
            rows = await db.all(sql, params)
            by_key = {
                (r[0], r[1], r[2]): {**self.dialect.load(r[3]), "id": r[2], "last_modified": r[4]}
                for r in rows
            }
            return [by_key.get(key) for key in keys]

        return await self._run(work, write=False)

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

        async def work(db: Executor) -> JSONObject:
            existing = await db.one(self._sql_existing, key)
            if existing is not None and not existing[0]:
                raise self._unicity(resource_name, object_id, existing)
            if acl is not None:
                await self._write_permissions(db, *acl)
            ts = await self._bump(db, resource_name, parent_id, obj.get("last_modified"))
            inserted = await db.one(self._sql_create, (*key, ts, self.dialect.dump(body)))
            if inserted is None:  # a concurrent create won the race
                raced = await db.one(self._sql_existing, key)
                raise self._unicity(resource_name, object_id, raced)
            return {**body, "id": object_id, "last_modified": ts}

        return await self._run(work)

    def _unicity(self, resource_name: str, object_id: str, row: Row | None) -> UnicityError:
        existing = None
        if row is not None:
            existing = {**self.dialect.load(row[1]), "id": object_id, "last_modified": row[2]}
        return UnicityError(
            f"{resource_name} {object_id} already exists",
            details={"field": "id", "existing": existing},
        )

    async def update(
        self, resource_name: str, parent_id: str, object_id: str, obj: JSONObject
    ) -> JSONObject:
        body = strip_meta(obj)

        async def work(db: Executor) -> JSONObject:
            ts = await self._bump(db, resource_name, parent_id, obj.get("last_modified"))
            params = (resource_name, parent_id, object_id, ts, self.dialect.dump(body))
            await db.run(self._sql_update, params)
            return {**body, "id": object_id, "last_modified": ts}

        return await self._run(work)

    async def delete(self, resource_name: str, parent_id: str, object_id: str) -> JSONObject:
        key = (resource_name, parent_id, object_id)

        async def work(db: Executor) -> JSONObject:
            existing = await db.one(self._sql_existing, key)
            if existing is None or existing[0]:
                raise ObjectNotFound(resource_name, object_id)
            ts = await self._bump(db, resource_name, parent_id)
            await db.run(self._sql_tombstone, (self._empty, ts, *key))
            return tombstone(object_id, ts)

        return await self._run(work)

    def _scope(self, resource_name: str, parent_id: str) -> Frag:
        if parent_id.endswith("*"):
            return Frag("resource_name = ? AND ", (resource_name,)) + self.dialect.prefix(
                "parent_id", parent_id[:-1]
            )
        return Frag("resource_name = ? AND parent_id = ?", (resource_name, parent_id))

    def _select(
        self, columns: str, resource_name: str, parent_id: str, conditions: Iterable[Frag]
    ) -> Frag:
        where = all_of([self._scope(resource_name, parent_id), *conditions])
        return f"SELECT {columns} FROM objects WHERE " + where

    async def delete_all(
        self, resource_name: str, parent_id: str, filters: Sequence[Filter] = ()
    ) -> list[JSONObject]:
        found = (
            self._select(
                "parent_id, id",
                resource_name,
                parent_id,
                [Frag("NOT deleted"), self.dialect.where(filters)],
            )
            + " ORDER BY parent_id, id"
            + self.dialect.for_update
        )

        async def work(db: Executor) -> list[JSONObject]:
            by_parent: dict[str, list[str]] = {}
            for parent, object_id in await db.all(self.dialect.q(found.sql), found.params):
                by_parent.setdefault(parent, []).append(object_id)
            deleted: list[JSONObject] = []
            updates: list[tuple[Any, ...]] = []
            for parent, ids in sorted(by_parent.items()):
                last = await self._bump(db, resource_name, parent, extra=len(ids) - 1)
                first = last - len(ids) + 1
                for offset, object_id in enumerate(ids):
                    updates.append((self._empty, first + offset, resource_name, parent, object_id))
                    deleted.append(tombstone(object_id, first + offset))
            if updates:
                await db.many(self._sql_tombstone, updates)
            return deleted

        return await self._run(work)

    def _row(self, row: Row) -> JSONObject:
        object_id, last_modified, deleted, data = row
        if deleted:
            return tombstone(object_id, last_modified)
        return {**self.dialect.load(data), "id": object_id, "last_modified": last_modified}

    async def list_all(
        self,
        resource_name: str,
        parent_id: str,
        filters: Sequence[Filter] = (),
        sorting: Sequence[Sort] = (),
        pagination_rules: Sequence[Sequence[Filter]] = (),
        limit: int | None = None,
        include_deleted: bool = False,
    ) -> list[JSONObject]:
        d = self.dialect
        conditions = [d.where(filters), d.rules(pagination_rules)]
        if not include_deleted:
            conditions.insert(0, Frag("NOT deleted"))
        stmt = self._select(
            "id, last_modified, deleted, data", resource_name, parent_id, conditions
        )
        one_parent = not parent_id.endswith("*")
        stmt = stmt + " ORDER BY " + d.order_by(sorting or DEFAULT_SORT, one_parent)
        if limit is not None:
            stmt = stmt + Frag(" LIMIT ?", (max(limit, 0),))

        async def work(db: Executor) -> list[JSONObject]:
            return [self._row(r) for r in await db.all(d.q(stmt.sql), stmt.params)]

        return await self._run(work, write=False)

    async def count_all(
        self, resource_name: str, parent_id: str, filters: Sequence[Filter] = ()
    ) -> int:
        stmt = self._select(
            "COUNT(*)", resource_name, parent_id, [Frag("NOT deleted"), self.dialect.where(filters)]
        )

        async def work(db: Executor) -> int:
            row = await db.one(self.dialect.q(stmt.sql), stmt.params)
            return int(row[0]) if row else 0

        return await self._run(work, write=False)

    async def resource_timestamp(self, resource_name: str, parent_id: str) -> int:
        key = (resource_name, parent_id)

        async def read(db: Executor) -> int | None:
            row = await db.one(self._sql_ts, key)
            return None if row is None else int(row[0])

        async def remember(db: Executor) -> int | None:
            await db.run(self._sql_ts_init, (*key, self._clock()))
            return await read(db)

        found = await self._run(read, write=False)
        if found is None:
            found = await self._run(remember)
        assert found is not None
        return found

    async def timestamps(self) -> dict[tuple[str, str], int]:
        async def read(db: Executor) -> dict[tuple[str, str], int]:
            rows = await db.all("SELECT resource_name, parent_id, last_modified FROM timestamps")
            return {(str(r[0]), str(r[1])): int(r[2]) for r in rows}

        return await self._run(read, write=False)

    async def purge_deleted(
        self, resource_name: str, parent_id: str, before: int | None = None
    ) -> int:
        conditions = [Frag("deleted")]
        if before is not None:
            conditions.append(Frag("last_modified < ?", (before,)))
        where = all_of([self._scope(resource_name, parent_id), *conditions])
        stmt = (
            "DELETE FROM objects WHERE "
            + where
            + " RETURNING resource_name, parent_id, last_modified"
        )

        async def work(db: Executor) -> int:
            rows = await db.all(self.dialect.q(stmt.sql), stmt.params)
            newest: dict[tuple[str, str], int] = {}
            for name, parent, last_modified in rows:
                key = (str(name), str(parent))
                newest[key] = max(newest.get(key, 0), int(last_modified))
            if newest:
                horizons = [(*key, ts) for key, ts in sorted(newest.items())]
                await db.many(self._sql_horizon, horizons)
            return len(rows)

        return await self._run(work)

    async def deletion_horizon(self, resource_name: str, parent_id: str) -> int:
        async def read(db: Executor) -> int:
            row = await db.one(self._sql_horizon_get, (resource_name, parent_id))
            return 0 if row is None else int(row[0])

        return await self._run(read, write=False)

    # --- permissions ---------------------------------------------------------------------------
    async def get_permissions(self, object_uri: str) -> Permissions:
        return (await self.get_permissions_many([object_uri]))[object_uri]

    async def get_permissions_many(self, object_uris: Iterable[str]) -> dict[str, Permissions]:
        uris = list(dict.fromkeys(object_uris))
        cond = self.dialect.in_list("object_uri", uris)
        stmt = "SELECT object_uri, permission, principal FROM access_control_entries WHERE " + cond

        async def work(db: Executor) -> dict[str, Permissions]:
            result: dict[str, Permissions] = {uri: {} for uri in uris}
            for uri, perm, principal in await db.all(self.dialect.q(stmt.sql), stmt.params):
                result[uri].setdefault(perm, set()).add(principal)
            return result

        return await self._run(work, write=False)

    async def set_permissions(self, object_uri: str, permissions: Permissions) -> None:
        await self._run(lambda db: self._write_permissions(db, object_uri, permissions))

    async def _write_permissions(
        self, db: Executor, object_uri: str, permissions: Permissions
    ) -> None:
        rows = [(object_uri, p, who) for p, principals in permissions.items() for who in principals]
        q = self.dialect.q
        await db.run(q("DELETE FROM access_control_entries WHERE object_uri = ?"), (object_uri,))
        if rows:
            await db.many(
                q(
                    "INSERT INTO access_control_entries (object_uri, permission, principal)"
                    " VALUES (?, ?, ?)"
                ),
                rows,
            )

    async def delete_permissions(self, object_uri_prefix: str) -> None:
        below = self.dialect.prefix("object_uri", object_uri_prefix + "/")
        stmt = Frag(
            "DELETE FROM access_control_entries WHERE object_uri = ? OR ", (object_uri_prefix,)
        )
        stmt = stmt + below

        async def work(db: Executor) -> None:
            await db.run(self.dialect.q(stmt.sql), stmt.params)

        await self._run(work)

    async def authorized_principals(self, bound: Iterable[tuple[str, str]]) -> set[str]:
        pairs = list(bound)
        if not pairs:
            return set()
        cond = self.dialect.pairs_in(("object_uri", "permission"), pairs)
        stmt = "SELECT DISTINCT principal FROM access_control_entries WHERE " + cond

        async def work(db: Executor) -> set[str]:
            return {r[0] for r in await db.all(self.dialect.q(stmt.sql), stmt.params)}

        return await self._run(work, write=False)

    async def read_set(
        self,
        bound: Sequence[tuple[str, str]],
        keys: Sequence[tuple[str, str, str]],
        acl_uri: str | None = None,
        timestamp: tuple[str, str] | None = None,
    ) -> ReadSet:
        return await read_set_in_parts(cast(RecordStore, self), bound, keys, acl_uri, timestamp)

    async def accessible_objects(
        self, principals: Iterable[str], bound: Iterable[tuple[str, str]]
    ) -> dict[str, set[str]]:
        """Fetch the principals' grants for the wanted permissions; match ``*`` patterns here.

        Segment patterns are matched in Python with the reference `uri_matches` rather than
        translated to SQL: the principal/permission filter already narrows the rows to few.
        """
        patterns = list(bound)
        wanted = list(dict.fromkeys(principals))
        if not patterns or not wanted:
            return {}
        d = self.dialect
        perms = sorted({p for _, p in patterns})
        cond = all_of([d.in_list("principal", wanted), d.in_list("permission", perms)])
        stmt = "SELECT DISTINCT object_uri, permission FROM access_control_entries WHERE " + cond

        async def work(db: Executor) -> list[Row]:
            return await db.all(d.q(stmt.sql), stmt.params)

        result: dict[str, set[str]] = {}
        for uri, perm in await self._run(work, write=False):
            if any(p == perm and uri_matches(pattern, uri) for pattern, p in patterns):
                result.setdefault(uri, set()).add(perm)
        return result

    # --- group membership ----------------------------------------------------------------------
    async def user_principals(self, user_id: str) -> set[str]:
        sql = self.dialect.q("SELECT principal FROM user_principals WHERE user_id = ?")

        async def work(db: Executor) -> set[str]:
            return {r[0] for r in await db.all(sql, (user_id,))}

        return await self._run(work, write=False)

    async def add_user_principal(self, user_id: str, principal: str) -> None:
        sql = self.dialect.q(
            "INSERT INTO user_principals (user_id, principal) VALUES (?, ?) ON CONFLICT DO NOTHING"
        )
        await self._run(lambda db: db.run(sql, (user_id, principal)))

    async def remove_user_principal(self, user_id: str, principal: str) -> None:
        sql = self.dialect.q("DELETE FROM user_principals WHERE user_id = ? AND principal = ?")
        await self._run(lambda db: db.run(sql, (user_id, principal)))

    async def remove_principal(self, principal: str) -> None:
        sql = self.dialect.q("DELETE FROM user_principals WHERE principal = ?")
        await self._run(lambda db: db.run(sql, (principal,)))

    async def flush(self) -> None:
        async def work(db: Executor) -> None:
            tables = ("objects", "timestamps", "deletion_horizons")
            for table in (*tables, "access_control_entries", "user_principals"):
                await db.run(f"DELETE FROM {table}")

        await self._run(work)
