"""In-memory RecordStore: the reference behaviour and the fast test double."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, Concatenate, ParamSpec, TypeVar

from homeport.core.errors import ObjectNotFound, UnicityError
from homeport.core.query import Filter, Sort, matches_all, matches_rules, sort_objects
from homeport.core.records import next_timestamp, strip_meta, tombstone
from homeport.store.protocols import JSONObject, Permissions, ReadSet, read_set_in_parts

DEFAULT_SORT = (Sort("last_modified", descending=True),)

Key = tuple[str, str]  # (resource_name, parent_id)
_P = ParamSpec("_P")
_T = TypeVar("_T")


def now_ms() -> int:
    return int(time.time() * 1000)


def parent_matches(pattern: str, parent_id: str) -> bool:
    if pattern.endswith("*"):
        return parent_id.startswith(pattern[:-1])
    return parent_id == pattern


def _writes(
    method: Callable[Concatenate[MemoryRecordStore, _P], Coroutine[Any, Any, _T]],
) -> Callable[Concatenate[MemoryRecordStore, _P], Coroutine[Any, Any, _T]]:
    """A write outside any transaction waits for the running one: otherwise that transaction's
    rollback (which restores its snapshot) would silently undo this write too."""

    async def wrapper(self: MemoryRecordStore, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        if self._in_tx.get():
            return await method(self, *args, **kwargs)
        async with self._lock:
            return await method(self, *args, **kwargs)

    return wrapper


class MemoryRecordStore:
    def __init__(self, clock: Callable[[], int] = now_ms) -> None:
        self._clock = clock
        self._objects: dict[Key, dict[str, JSONObject]] = {}
        self._timestamps: dict[Key, int] = {}
        self._horizons: dict[Key, int] = {}
        self._permissions: dict[str, Permissions] = {}
        self._members: dict[str, set[str]] = {}
        self._lock = asyncio.Lock()
        self._in_tx: ContextVar[bool] = ContextVar(f"memtx{id(self)}", default=False)

    async def initialize(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[None]:
        if self._in_tx.get():
            yield
            return
        async with self._lock:
            saved = copy.deepcopy(
                (self._objects, self._timestamps, self._horizons, self._permissions, self._members)
            )
            token = self._in_tx.set(True)
            try:
                yield
            except BaseException:
                (
                    self._objects,
                    self._timestamps,
                    self._horizons,
                    self._permissions,
                    self._members,
                ) = saved
                raise
            finally:
                self._in_tx.reset(token)

    def transaction(self) -> Any:
        return self._tx()

    @_writes
    async def flush(self) -> None:
        self._objects.clear()
        self._timestamps.clear()
        self._horizons.clear()
        self._permissions.clear()
        self._members.clear()

    # --- objects -------------------------------------------------------------------------
    def _bump(self, key: Key, requested: Any = None) -> int:
        current = self._timestamps.get(key, 0)
        ts = next_timestamp(current, self._clock(), requested)
        self._timestamps[key] = ts
        return ts

    async def get(self, resource_name: str, parent_id: str, object_id: str) -> JSONObject:
        stored = self._objects.get((resource_name, parent_id), {}).get(object_id)
        if stored is None or stored.get("deleted"):
            raise ObjectNotFound(resource_name, object_id)
        return copy.deepcopy(stored)

    async def get_many(self, keys: Sequence[tuple[str, str, str]]) -> list[JSONObject | None]:
        found: list[JSONObject | None] = []
        for resource_name, parent_id, object_id in keys:
            stored = self._objects.get((resource_name, parent_id), {}).get(object_id)
            alive = stored is not None and not stored.get("deleted")
            found.append(copy.deepcopy(stored) if alive else None)
        return found

    @_writes
    async def create(
        self,
        resource_name: str,
        parent_id: str,
        obj: JSONObject,
        acl: tuple[str, Permissions] | None = None,
    ) -> JSONObject:
        key = (resource_name, parent_id)
        object_id = obj["id"]
        existing = self._objects.get(key, {}).get(object_id)
        if existing is not None and not existing.get("deleted"):
            raise UnicityError(
                f"{resource_name} {object_id} already exists",
                details={"field": "id", "existing": copy.deepcopy(existing)},
            )
        if acl is not None:
            self._set_permissions(*acl)
        return self._store(key, object_id, obj)

    def _store(self, key: Key, object_id: str, obj: JSONObject) -> JSONObject:
        stored = {**strip_meta(copy.deepcopy(obj)), "id": object_id}
        stored["last_modified"] = self._bump(key, obj.get("last_modified"))
        self._objects.setdefault(key, {})[object_id] = stored
        return copy.deepcopy(stored)

    @_writes
    async def update(
        self, resource_name: str, parent_id: str, object_id: str, obj: JSONObject
    ) -> JSONObject:
        return self._store((resource_name, parent_id), object_id, obj)

    @_writes
    async def delete(self, resource_name: str, parent_id: str, object_id: str) -> JSONObject:
        key = (resource_name, parent_id)
        stored = self._objects.get(key, {}).get(object_id)
        if stored is None or stored.get("deleted"):
            raise ObjectNotFound(resource_name, object_id)
        dead = tombstone(object_id, self._bump(key))
        self._objects[key][object_id] = dead
        return dict(dead)

    def _keys(self, resource_name: str, parent_id: str) -> list[Key]:
        return [
            k for k in self._objects if k[0] == resource_name and parent_matches(parent_id, k[1])
        ]

    @_writes
    async def delete_all(
        self, resource_name: str, parent_id: str, filters: Sequence[Filter] = ()
    ) -> list[JSONObject]:
        deleted: list[JSONObject] = []
        for key in self._keys(resource_name, parent_id):
            for object_id, stored in list(self._objects[key].items()):
                if stored.get("deleted") or not matches_all(stored, filters):
                    continue
                dead = tombstone(object_id, self._bump(key))
                self._objects[key][object_id] = dead
                deleted.append(dict(dead))
        return deleted

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
        found = [
            stored
            for key in self._keys(resource_name, parent_id)
            for stored in self._objects[key].values()
            if (include_deleted or not stored.get("deleted"))
            and matches_all(stored, filters)
            and matches_rules(stored, pagination_rules)
        ]
        ordered = sort_objects(found, sorting or DEFAULT_SORT)
        if limit is not None:
            ordered = ordered[:limit]
        return copy.deepcopy(ordered)

    async def count_all(
        self, resource_name: str, parent_id: str, filters: Sequence[Filter] = ()
    ) -> int:
        return sum(
            1
            for key in self._keys(resource_name, parent_id)
            for stored in self._objects[key].values()
            if not stored.get("deleted") and matches_all(stored, filters)
        )

    @_writes
    async def resource_timestamp(self, resource_name: str, parent_id: str) -> int:
        key = (resource_name, parent_id)
        if key not in self._timestamps:
            self._timestamps[key] = self._clock()
        return self._timestamps[key]

    async def timestamps(self) -> dict[tuple[str, str], int]:
        return dict(self._timestamps)

    @_writes
    async def purge_deleted(
        self, resource_name: str, parent_id: str, before: int | None = None
    ) -> int:
        purged = 0
        for key in self._keys(resource_name, parent_id):
            bucket = self._objects[key]
            for object_id, stored in list(bucket.items()):
                if stored.get("deleted") and (before is None or stored["last_modified"] < before):
                    del bucket[object_id]
                    purged += 1
                    horizon = max(self._horizons.get(key, 0), stored["last_modified"])
                    self._horizons[key] = horizon
        return purged

    async def deletion_horizon(self, resource_name: str, parent_id: str) -> int:
        return self._horizons.get((resource_name, parent_id), 0)

    # --- permissions ---------------------------------------------------------------------
    async def get_permissions(self, object_uri: str) -> Permissions:
        return {p: set(s) for p, s in self._permissions.get(object_uri, {}).items()}

    async def get_permissions_many(self, object_uris: Iterable[str]) -> dict[str, Permissions]:
        return {uri: await self.get_permissions(uri) for uri in object_uris}

    @_writes
    async def set_permissions(self, object_uri: str, permissions: Permissions) -> None:
        self._set_permissions(object_uri, permissions)

    def _set_permissions(self, object_uri: str, permissions: Permissions) -> None:
        cleaned = {p: set(s) for p, s in permissions.items() if s}
        if cleaned:
            self._permissions[object_uri] = cleaned
        else:
            self._permissions.pop(object_uri, None)

    @_writes
    async def delete_permissions(self, object_uri_prefix: str) -> None:
        for uri in list(self._permissions):
            if uri == object_uri_prefix or uri.startswith(object_uri_prefix + "/"):
                del self._permissions[uri]

    async def authorized_principals(self, bound: Iterable[tuple[str, str]]) -> set[str]:
        found: set[str] = set()
        for uri, perm in bound:
            found |= self._permissions.get(uri, {}).get(perm, set())
        return found

    async def read_set(
        self,
        bound: Sequence[tuple[str, str]],
        keys: Sequence[tuple[str, str, str]],
        acl_uri: str | None = None,
        timestamp: tuple[str, str] | None = None,
    ) -> ReadSet:
        return await read_set_in_parts(self, bound, keys, acl_uri, timestamp)

    async def accessible_objects(
        self, principals: Iterable[str], bound: Iterable[tuple[str, str]]
    ) -> dict[str, set[str]]:
        wanted = set(principals)
        bound = list(bound)
        result: dict[str, set[str]] = {}
        for uri, perms in self._permissions.items():
            for pattern, perm in bound:
                if uri_matches(pattern, uri) and perms.get(perm, set()) & wanted:
                    result.setdefault(uri, set()).add(perm)
        return result

    # --- group membership ----------------------------------------------------------------
    async def user_principals(self, user_id: str) -> set[str]:
        return set(self._members.get(user_id, set()))

    @_writes
    async def add_user_principal(self, user_id: str, principal: str) -> None:
        self._members.setdefault(user_id, set()).add(principal)

    @_writes
    async def remove_user_principal(self, user_id: str, principal: str) -> None:
        self._members.get(user_id, set()).discard(principal)

    @_writes
    async def remove_principal(self, principal: str) -> None:
        for members in self._members.values():
            members.discard(principal)


def uri_matches(pattern: str, uri: str) -> bool:
    """``*`` matches exactly one path segment."""
    want, have = pattern.split("/"), uri.split("/")
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=True))
