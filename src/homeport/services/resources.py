"""Buckets, collections, groups, records and accounts: Kinto's object tree with its rules.

Each function checks permissions, validates, writes through the store and returns plain values;
HTTP concerns (headers, preconditions, paging tokens) stay in the API layer.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from homeport.core import permissions as perms
from homeport.core.errors import (
    Errno,
    Forbidden,
    HomeportError,
    InvalidParameters,
    ObjectNotFound,
    Unauthorized,
    not_a_mapping,
)
from homeport.core.ids import ACCOUNT_ID_PATTERN, ID_PATTERN, RECORD_ID_PATTERN
from homeport.core.query import Filter, Op, Sort
from homeport.services import accounts
from homeport.services.context import Context, User
from homeport.store.protocols import JSONObject, Permissions


@dataclass(frozen=True)
class Resource:
    name: str
    plural: str
    id_pattern: re.Pattern[str]
    parent: str | None

    def uri(self, parent_uri: str, object_id: str) -> str:
        return f"{parent_uri}/{self.plural}/{object_id}"


BUCKET = Resource("bucket", "buckets", ID_PATTERN, None)
COLLECTION = Resource("collection", "collections", ID_PATTERN, "bucket")
GROUP = Resource("group", "groups", ID_PATTERN, "bucket")
RECORD = Resource("record", "records", RECORD_ID_PATTERN, "collection")
ACCOUNT = Resource("account", "accounts", ACCOUNT_ID_PATTERN, None)

RESOURCES = {r.name: r for r in (BUCKET, COLLECTION, GROUP, RECORD, ACCOUNT)}

_touched: ContextVar[set[tuple[str, str]] | None] = ContextVar("touched", default=None)


@asynccontextmanager
async def unit_of_work(ctx: Context) -> AsyncIterator[None]:
    """One transaction; listeners of what it changed are woken only once it has committed."""
    if _touched.get() is not None:
        async with ctx.store.transaction():
            yield
        return
    touched: set[tuple[str, str]] = set()
    token = _touched.set(touched)
    try:
        async with ctx.store.transaction():
            yield
    finally:
        _touched.reset(token)
    if any(resource in ("group", "bucket") for resource, _ in touched):
        accounts.forget_principals(ctx)  # again after commit: no stale read can outlive it
    for key in touched:
        ctx.changes.notify(key)


def _touch(resource: str, parent_uri: str) -> None:
    touched = _touched.get()
    if touched is not None:
        touched.add((resource, parent_uri))


# --- permissions --------------------------------------------------------------------------
async def is_allowed(ctx: Context, user: User, resource: str, uri: str, permission: str) -> bool:
    if resource == "root":
        granted = set(_root_principals(ctx, permission))
    else:
        bound = perms.bound_permissions(uri, resource, permission)
        granted = await ctx.store.authorized_principals(bound)
    return grants(ctx, user, resource, granted)


def grants(ctx: Context, user: User, resource: str, granted: set[str]) -> bool:
    """Whether the principals holding a permission on a ``resource`` (as the store said)
    include the user: `is_allowed` once the store has answered."""
    if resource == "account":
        granted = granted | set(ctx.settings.account_write_principals)
    return perms.allowed(granted, user.principals)


def _root_principals(ctx: Context, permission: str) -> tuple[str, ...]:
    if permission == "bucket:create":
        return ctx.settings.bucket_create_principals
    if permission == "account:create":
        return ctx.settings.account_create_principals + ctx.settings.account_write_principals
    return ()


def deny(user: User) -> Exception:
    if not user.authenticated:
        return Unauthorized("Please authenticate yourself to use this endpoint.")
    return Forbidden("This user cannot access this resource.")


async def require(ctx: Context, user: User, resource: str, uri: str, permission: str) -> None:
    if not await is_allowed(ctx, user, resource, uri, permission):
        raise deny(user)


def path_objects(parent_uri: str) -> list[tuple[str, str, str]]:
    """``/buckets/b/collections/c`` → ``[(bucket, "", b), (collection, /buckets/b, c)]``."""
    parts = parent_uri.strip("/").split("/") if parent_uri else []
    found = []
    for i in range(0, len(parts) - 1, 2):
        parent = "/" + "/".join(parts[:i]) if i else ""
        found.append((parts[i][:-1], parent, parts[i + 1]))
    return found


@dataclass
class Parents:
    """The ancestors of a path as read from the store (None where missing)."""

    found: list[tuple[str, str, JSONObject | None]]

    def require(self) -> dict[str, JSONObject]:
        """Every ancestor must exist: the 404 (errno 111) names the first one missing."""
        present: dict[str, JSONObject] = {}
        for resource, object_id, obj in self.found:
            if obj is None:
                raise ObjectNotFound(resource, object_id, parent=True)
            present[resource] = obj
        return present


async def fetch_path(
    ctx: Context, parent_uri: str, resource: Resource | None = None, object_id: str = ""
) -> tuple[JSONObject | None, Parents]:
    """The object (when named) and all its ancestors in one read of the store."""
    keys = path_objects(parent_uri)
    if resource is not None:
        keys = [*keys, (resource.name, parent_uri, object_id)]
    objects = await ctx.store.get_many(keys)
    target = objects.pop() if resource is not None else None
    parents = Parents([(key[0], key[2], obj) for key, obj in zip(keys, objects, strict=False)])
    return target, parents


async def ensure_parents(ctx: Context, parent_uri: str) -> dict[str, JSONObject]:
    """Every ancestor of a path must exist; returns them by resource name, so a caller that
    needs one (a record's collection and its schema) does not read it twice."""
    return (await fetch_path(ctx, parent_uri))[1].require()


def visible_permissions(
    user: User, permissions: Permissions, resource: Resource | None = None
) -> dict[str, list[str]]:
    """Kinto shows an object's permissions only to principals among its own writers; an
    account's own principal always counts as the writer of its responses."""
    if resource is not ACCOUNT and user.principals.isdisjoint(permissions.get("write", set())):
        return {}
    return {p: sorted(s) for p, s in permissions.items() if s}


def validate_permissions(resource: Resource, raw: Any) -> Permissions:
    """Check a ``permissions`` body, worded as Kinto words its refusals.

    A permission given as ``null`` is left out (checked for nothing, as in Kinto): it means
    "unchanged", except in a merge-patch, where the caller reads it as "remove"."""
    if not isinstance(raw, dict):
        raise InvalidParameters.at("body", "permissions", not_a_mapping(raw))
    allowed = perms.OBJECT_PERMISSIONS[resource.name]
    cleaned: Permissions = {}
    for name, principals in raw.items():
        if principals is None:
            continue
        if name not in allowed:
            raise InvalidParameters.at(
                "body", "permissions", f'"{name}" is not one of ' + ", ".join(allowed)
            )
        if not isinstance(principals, list):
            raise InvalidParameters.at(
                "body", f"permissions.{name}", f'"{principals}" is not iterable'
            )
        for i, principal in enumerate(principals):
            if not isinstance(principal, str):
                raise InvalidParameters.at(
                    "body", f"permissions.{name}.{i}", f"{principal} is not a string: {{'': ''}}"
                )
        cleaned[name] = set(principals)
    return cleaned


# --- reading -----------------------------------------------------------------------------
@dataclass
class Found:
    obj: JSONObject
    permissions: Permissions
    uri: str


async def get_object(
    ctx: Context, user: User, resource: Resource, parent_uri: str, object_id: str
) -> Found:
    """The object and its permissions, if the user may read it: one read of the store (the
    permission check, the object and its permissions together)."""
    uri = resource.uri(parent_uri, object_id)
    bound = perms.bound_permissions(uri, resource.name, READ_PERMISSION[resource.name])
    key = (resource.name, parent_uri, object_id)
    found = await ctx.store.read_set(bound, [key], acl_uri=uri)
    if not grants(ctx, user, resource.name, found.principals):
        raise deny(user)
    obj = found.objects[0]
    if obj is None:
        await ensure_parents(ctx, parent_uri)
        raise ObjectNotFound(resource.name, object_id)
    return Found(obj, found.permissions or {}, uri)


async def get_existing(
    ctx: Context, resource: Resource, parent_uri: str, object_id: str
) -> JSONObject:
    """The object, or the right 404: an object exists only under existing parents (deletes
    cascade), so the parents are looked up only to word the error when it is missing."""
    try:
        return await ctx.store.get(resource.name, parent_uri, object_id)
    except ObjectNotFound:
        await ensure_parents(ctx, parent_uri)
        raise


READ_PERMISSION = {
    "bucket": "read:attributes",
    "collection": "read:attributes",
    "group": "read",
    "record": "read",
    "account": "read",
}
"""Reading a bucket's or collection's own attributes needs less than reading its content."""


async def find_object(
    ctx: Context, resource: Resource, parent_uri: str, object_id: str
) -> JSONObject | None:
    try:
        return await ctx.store.get(resource.name, parent_uri, object_id)
    except ObjectNotFound:
        return None


@dataclass
class Listing:
    """What a list request may see: everything under the parent, or only shared ids."""

    everything: bool
    shared_ids: set[str]
    parents: dict[str, JSONObject] | None = None
    """The ancestors, when they were read to check them (a list's collection and schema)."""
    timestamp: int | None = None
    """The list's timestamp, when it was read with the permission check."""


async def list_scope(ctx: Context, user: User, resource: Resource, parent_uri: str) -> Listing:
    """Kinto's rule: read on the parent shows all; otherwise only objects shared with you."""
    if resource is ACCOUNT:
        if user.user_id is None:
            raise HomeportError(
                None, code=401, errno=Errno.UNDEFINED, title="Cannot read accounts."
            )
        return Listing(False, {user.user_id.removeprefix("account:")})
    if resource.parent is not None:
        # the common case in one read of the store: read on the parent, the ancestors that
        # must exist, and the list's timestamp
        parent_name = resource.parent
        bound = perms.bound_permissions(parent_uri, parent_name, "read")
        pair = (resource.name, parent_uri)
        keys = path_objects(parent_uri)
        found = await ctx.store.read_set(bound, keys, timestamp=pair)
        if grants(ctx, user, parent_name, found.principals):
            ancestors = Parents([(k[0], k[2], o) for k, o in zip(keys, found.objects, strict=True)])
            return Listing(True, set(), ancestors.require(), found.timestamp)
    pattern = resource.uri(parent_uri, "*")
    shared = await ctx.store.accessible_objects(
        user.principals, [(pattern, "read"), (pattern, "write")]
    )
    ids = {uri.rsplit("/", 1)[1] for uri in shared}
    if not ids and resource.parent is not None:
        if not await _can_see_parent(ctx, user, resource, parent_uri):
            raise deny(user)
        return Listing(False, ids, await ensure_parents(ctx, parent_uri))
    if resource is BUCKET and not ids and not user.authenticated:
        raise deny(user)
    return Listing(False, ids)


async def _can_see_parent(ctx: Context, user: User, resource: Resource, parent_uri: str) -> bool:
    create = f"{resource.name}:create"
    assert resource.parent is not None
    return await is_allowed(ctx, user, resource.parent, parent_uri, create)


async def list_objects(
    ctx: Context,
    scope: Listing,
    resource: Resource,
    parent_uri: str,
    filters: Sequence[Filter],
    sorting: Sequence[Sort],
    rules: Sequence[Sequence[Filter]],
    limit: int | None,
    include_deleted: bool,
) -> list[JSONObject]:
    if not scope.everything:
        if not scope.shared_ids:
            return []
        filters = [*filters, Filter("id", Op.IN, sorted(scope.shared_ids))]
    return await ctx.store.list_all(
        resource.name, parent_uri, filters, sorting, rules, limit, include_deleted
    )


async def count_objects(
    ctx: Context, scope: Listing, resource: Resource, parent_uri: str, filters: Sequence[Filter]
) -> int:
    if not scope.everything:
        if not scope.shared_ids:
            return 0
        filters = [*filters, Filter("id", Op.IN, sorted(scope.shared_ids))]
    return await ctx.store.count_all(resource.name, parent_uri, filters)
