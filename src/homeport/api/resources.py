"""Handlers for every object and list endpoint of the tree (buckets → collections → records)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeport import jsonio
from homeport.api.messages import (
    ApiRequest,
    ApiResponse,
    check_preconditions,
    not_modified,
    timestamp_headers,
)
from homeport.api.querystring import ListQuery, encode_token, parse_list_query
from homeport.core.errors import (
    HistoryGone,
    HomeportError,
    InvalidParameters,
    ModifiedMeanwhile,
    ObjectNotFound,
    invalid_id,
    not_a_mapping,
)
from homeport.core.patch import PatchError, json_patch, merge_patch
from homeport.core.query import MISSING, Filter, Op, Sort, extract, pagination_rules
from homeport.services import resources as res
from homeport.services import writes
from homeport.services.context import Context
from homeport.services.resources import RESOURCES, Resource, unit_of_work
from homeport.store.protocols import JSONObject, Permissions

HIDDEN_FIELDS: dict[str, tuple[str, ...]] = {}
"""Fields never shown. Empty: Kinto shows an account its own password *hash*, and so do we."""


def locate(path: str) -> tuple[Resource, str, str | None]:
    """``/buckets/b/collections`` → (COLLECTION, "/buckets/b", None); object paths give the id."""
    parts = path.strip("/").split("/")
    if len(parts) % 2 == 1:
        return RESOURCES[parts[-1][:-1]], "/" + "/".join(parts[:-1]) if len(parts) > 1 else "", None
    resource = RESOURCES[parts[-2][:-1]]
    parent = "/" + "/".join(parts[:-2]) if len(parts) > 2 else ""
    return resource, parent, parts[-1]


def check_path_ids(path: str) -> None:
    parts = path.strip("/").split("/")
    for i in range(1, len(parts), 2):
        if not writes.valid_object_id(RESOURCES[parts[i - 1][:-1]], parts[i]):
            raise invalid_id()


def public(resource: Resource, obj: JSONObject) -> JSONObject:
    hidden = HIDDEN_FIELDS.get(resource.name)
    return {k: v for k, v in obj.items() if k not in hidden} if hidden else obj


def read_headers(timestamp: int) -> dict[str, str]:
    """What Kinto sends with every read: the ETag, its date, and no caching."""
    return {**timestamp_headers(timestamp), "Cache-Control": "no-cache, no-store"}


async def check_absent(ctx: Context, req: ApiRequest, resource: Resource, parent: str) -> None:
    """Preconditions on an object that does not exist (or is a tombstone): a 412 then carries
    the list's timestamp, as Kinto's does (read only when the condition fails)."""
    try:
        check_preconditions(req, None)
    except ModifiedMeanwhile as exc:
        timestamp = await ctx.store.resource_timestamp(resource.name, parent)
        exc.headers.update(timestamp_headers(timestamp))
        raise


def object_response(
    status: int,
    resource: Resource,
    obj: JSONObject,
    permissions: Permissions,
    req: ApiRequest,
    fields: list[str] | None = None,
) -> ApiResponse:
    visible = res.visible_permissions(req.user, permissions, resource)
    data = _project(public(resource, obj), fields)
    body = {"data": data, "permissions": visible}
    return ApiResponse(status, body, read_headers(obj["last_modified"]))


TOP_LEVEL = ("data", "permissions")


@dataclass
class Body:
    """A write's body. A field left out is ``None`` here and means "unchanged", never "empty"."""

    data: JSONObject | None
    permissions: Permissions
    """The permissions given, those given as ``null`` left out."""
    nulls: set[str]
    """Permissions given as ``null``: a merge-patch removes them, other writes ignore them."""
    empty: bool
    """Neither ``data`` nor ``permissions`` was given."""


def _body(req: ApiRequest, resource: Resource) -> Body:
    body = req.json()
    if not isinstance(body, dict):
        raise InvalidParameters.at("body", "", not_a_mapping(body))
    unknown = {k: v for k, v in body.items() if k not in TOP_LEVEL}
    if unknown:
        raise InvalidParameters.at("body", "", f'Unrecognized keys in mapping: "{unknown}"')
    data = body.get("data")
    if "data" in body and not isinstance(data, dict):
        raise InvalidParameters.at("body", "data", not_a_mapping(data))
    permissions: Permissions = {}
    nulls: set[str] = set()
    if "permissions" in body:
        raw = body["permissions"]
        permissions = res.validate_permissions(resource, raw)
        nulls = {name for name, value in raw.items() if value is None}
    return Body(data, permissions, nulls, not body)


def _written_data(resource: Resource, body: Body, existing: JSONObject | None) -> JSONObject:
    """What a PUT or POST stores: its ``data``; left out, the existing data (as Kinto does:
    ``setPermissions()`` must not wipe a group's members or a collection's schema)."""
    if body.data is None:
        if resource is res.ACCOUNT:
            raise InvalidParameters.at("body", "data", "Required")
        if existing is None:
            return {}
        return {k: v for k, v in existing.items() if k != "last_modified"}
    if resource is res.GROUP:
        body.data.setdefault("members", [])
        writes.check_members(body.data["members"], "data.members")
    return body.data


def _check_attachment(resource: Resource, existing: JSONObject | None, data: JSONObject) -> None:
    """kinto-attachment's rule: only its own endpoint changes a record's attachment; a write
    may keep it or drop it. (A client with a stale copy would otherwise point the record back
    at a file a re-upload replaced.)"""
    before = existing.get("attachment") if existing else None
    after = data.get("attachment")
    if resource is res.RECORD and before and after and before != after:
        raise HomeportError("Attachment metadata cannot be modified.", code=400)


def _check_same_id(data: JSONObject, object_id: str) -> None:
    if "id" in data and data["id"] != object_id:
        raise InvalidParameters.at("body", "id", "Object id does not match existing object")


# --- objects ------------------------------------------------------------------------------
async def get_object(ctx: Context, req: ApiRequest) -> ApiResponse:
    check_path_ids(req.path)
    resource, parent, object_id = locate(req.path)
    assert object_id is not None
    found = await res.get_object(ctx, req.user, resource, parent, object_id)
    timestamp = found.obj["last_modified"]
    if not_modified(req, timestamp):
        return ApiResponse(304, None, read_headers(timestamp))
    check_preconditions(req, timestamp, found.obj)
    fields = parse_list_query(req.query).fields
    return object_response(200, resource, found.obj, found.permissions, req, fields)


async def put_object(ctx: Context, req: ApiRequest) -> ApiResponse:
    check_path_ids(req.path)
    resource, parent, object_id = locate(req.path)
    assert object_id is not None
    body = _body(req, resource)
    if body.data is not None:
        _check_same_id(body.data, object_id)
    async with unit_of_work(ctx):
        existing, parents = await res.fetch_path(ctx, parent, resource, object_id)
        await writes.require_writable(
            ctx, req.user, resource, parent, object_id, exists=existing is not None
        )
        if existing is None:
            await check_absent(ctx, req, resource, parent)
        else:
            check_preconditions(req, existing["last_modified"], existing)
        data = _written_data(resource, body, existing)
        _check_attachment(resource, existing, data)
        written = await writes.save(
            ctx,
            req.user,
            resource,
            parent,
            object_id,
            data,
            # Kinto: given permissions replace them all; none given (or ``{}``) keeps them.
            body.permissions or None,
            existing=existing,
            replace_permissions=True,
            parents=parents,
            writable_checked=True,
        )
    status = 201 if written.created else 200
    return object_response(status, resource, written.obj, written.permissions, req)


async def patch_object(ctx: Context, req: ApiRequest) -> ApiResponse:
    check_path_ids(req.path)
    resource, parent, object_id = locate(req.path)
    assert object_id is not None
    async with unit_of_work(ctx):
        found = await _writable(ctx, req, resource, parent, object_id)
        check_preconditions(req, found.obj["last_modified"], found.obj)
        data, permissions, replace = _patched(req, resource, found)
        _check_same_id(data, object_id)
        _check_attachment(resource, found.obj, data)
        if resource is res.GROUP:
            data.setdefault("members", [])
            writes.check_members(data["members"], "members")
        written = await writes.save(
            ctx,
            req.user,
            resource,
            parent,
            object_id,
            data,
            permissions,
            existing=found.obj,
            replace_permissions=replace,
            current_permissions=found.permissions,
            writable_checked=True,  # by _writable
        )
    return object_response(200, resource, written.obj, written.permissions, req)


async def _writable(
    ctx: Context, req: ApiRequest, resource: Resource, parent: str, object_id: str
) -> res.Found:
    uri = resource.uri(parent, object_id)
    await res.require(ctx, req.user, resource.name, uri, "write")
    obj = await res.get_existing(ctx, resource, parent, object_id)
    return res.Found(obj, await ctx.store.get_permissions(uri), uri)


NOTHING_TO_PATCH = "Provide at least one of data or permissions"


def _patched(
    req: ApiRequest, resource: Resource, found: res.Found
) -> tuple[JSONObject, Permissions | None, bool]:
    """The patched data, the permissions to write and whether they replace all the others."""
    current = {k: v for k, v in found.obj.items() if k != "last_modified"}
    kind = req.content_type
    if kind == "application/json-patch+json":
        return (*_json_patched(req, resource, current, found.permissions), True)
    body = _body(req, resource)
    if body.empty:
        raise InvalidParameters.at("body", "data", NOTHING_TO_PATCH)
    changes = body.data or {}
    if kind == "application/merge-patch+json":
        permissions = {p: set(s) for p, s in found.permissions.items() if p not in body.nulls}
        permissions.update(body.permissions)
        return merge_patch(current, changes), permissions, True
    return {**current, **changes}, body.permissions or None, False


def _json_patched(
    req: ApiRequest, resource: Resource, current: JSONObject, permissions: Permissions
) -> tuple[JSONObject, Permissions]:
    document = {
        "data": current,
        "permissions": {p: {s: True for s in v} for p, v in permissions.items()},
    }
    operations = req.json(required=True)
    if isinstance(operations, list):
        for op in operations:
            if isinstance(op, dict) and str(op.get("path", "")).startswith("/permissions/"):
                op.setdefault("value", True)
                _ensure_permission_key(document, str(op["path"]))
    try:
        patched = json_patch(document, operations)
    except PatchError as exc:
        raise InvalidParameters.at("body", None, f"JSON Patch operation failed: {exc}") from None
    if jsonio.depth(patched) > jsonio.MAX_DEPTH:  # each patch could nest its value deeper
        raise InvalidParameters.at(
            "body", None, f"JSON Patch result nested deeper than {jsonio.MAX_DEPTH} levels"
        )
    data = patched.get("data")
    if not isinstance(data, dict):
        raise InvalidParameters.at("body", "data", not_a_mapping(data))
    raw_perms = {p: sorted(v) for p, v in (patched.get("permissions") or {}).items()}
    return data, res.validate_permissions(resource, raw_perms)


def _ensure_permission_key(document: dict[str, Any], path: str) -> None:
    parts = path.split("/")
    if len(parts) >= 3:
        document["permissions"].setdefault(parts[2], {})


async def delete_object(ctx: Context, req: ApiRequest) -> ApiResponse:
    check_path_ids(req.path)
    resource, parent, object_id = locate(req.path)
    assert object_id is not None

    def precondition(existing: JSONObject) -> None:
        check_preconditions(req, existing["last_modified"], existing)

    async with unit_of_work(ctx):
        dead = await writes.delete(ctx, req.user, resource, parent, object_id, precondition)
    return ApiResponse(200, {"data": dead}, read_headers(dead["last_modified"]))


# --- lists --------------------------------------------------------------------------------
async def _known_fields(
    ctx: Context, resource: Resource, parent: str, scope: res.Listing | None = None
) -> set[str] | None:
    """Fields a list may filter and sort on: any, unless the collection's schema names them."""
    if resource is not res.RECORD:
        return None
    collection = (scope.parents or {}).get("collection") if scope else None
    if collection is None:
        bucket, _, collection_id = parent.rpartition("/collections/")
        try:
            collection = await ctx.store.get("collection", bucket, collection_id)
        except ObjectNotFound:
            return None
    schema = collection.get("schema")
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return None
    return {*schema["properties"], "id", "last_modified", "schema", "attachment"}


async def get_list(ctx: Context, req: ApiRequest) -> ApiResponse:
    check_path_ids(req.path)
    resource, parent, _ = locate(req.path)
    scope = await res.list_scope(ctx, req.user, resource, parent)
    query = parse_list_query(req.query, await _known_fields(ctx, resource, parent, scope))
    timestamp = scope.timestamp
    if timestamp is None:
        timestamp = await ctx.store.resource_timestamp(resource.name, parent)
    if not_modified(req, timestamp):
        return ApiResponse(304, None, read_headers(timestamp))
    check_preconditions(req, timestamp)
    if req.method == "HEAD":
        headers = read_headers(timestamp)
        total = await res.count_objects(ctx, scope, resource, parent, query.filters)
        headers["Total-Records"] = headers["Total-Objects"] = str(total)
        return ApiResponse(200, None, headers)
    bound = _bound(query, timestamp)
    headers = read_headers(timestamp if bound is None else bound)
    if query.since is not None and query.since >= timestamp and query.token is None:
        return ApiResponse(200, {"data": []}, headers)
    if query.since is not None:
        await check_history(ctx, resource, parent, query.since)
    objects, next_url = await _page(ctx, req, scope, resource, parent, query, bound)
    if next_url:
        headers["Next-Page"] = next_url
    data = [_project(public(resource, o), query.fields) for o in objects]
    return ApiResponse(200, {"data": data}, headers)


def _bound(query: ListQuery, timestamp: int) -> int | None:
    """The newest change a listing shows: the collection timestamp when its first page was read.

    Every page of one listing is cut at that bound (and carries it as its ETag), so a write
    landing while a client pages gets a later timestamp, stays out of this listing, and is
    what the client's next ``_since=<ETag>`` returns, whichever page's ETag it keeps. A token
    without a bound (Kinto's own) pages as Kinto does, unbounded.
    """
    if query.token is None:
        return timestamp
    bound = query.token.get("bound")
    return None if bound is None else min(int(bound), timestamp)


async def check_history(ctx: Context, resource: Resource, parent: str, since: int) -> None:
    """Refuse a ``_since`` from before deletions that were forgotten (tombstones compacted):
    the answer would lack them, and the client would keep records that no longer exist.
    ``_since=0`` (or less) is never refused: a client that has seen nothing holds nothing that
    a forgotten deletion could concern."""
    if since <= 0:
        return
    horizon = await ctx.store.deletion_horizon(resource.name, parent)
    if since < horizon:
        description = (
            f"_since={since} is older than the deletions this server still remembers"
            f" (tombstones up to {horizon} were compacted): discard the local copy of"
            " this list and fetch it again without _since"
        )
        raise HistoryGone(
            description,
            details=[{"location": "querystring", "name": "_since", "description": description}],
        )


def _limit(ctx: Context, query: ListQuery) -> int:
    cap = ctx.settings.storage_max_fetch_size
    limit = query.limit if query.limit is not None else cap
    if ctx.settings.paginate_by:
        limit = min(limit, ctx.settings.paginate_by)
    return max(0, min(limit, cap))


async def _page(
    ctx: Context,
    req: ApiRequest,
    scope: res.Listing,
    resource: Resource,
    parent: str,
    query: ListQuery,
    bound: int | None,
) -> tuple[list[JSONObject], str | None]:
    sorting = list(query.sorting) or [Sort("last_modified", descending=True)]
    if not any(s.field == "last_modified" for s in sorting):
        sorting.append(Sort("last_modified", descending=True))
    if not any(s.field == "id" for s in sorting):
        sorting.append(Sort("id"))
    limit = _limit(ctx, query)
    rules: list[Any] = []
    offset = 0
    if query.token is not None:
        rules = pagination_rules(sorting, query.token["last_object"])
        offset = int(query.token.get("offset", 0))
    filters = list(query.filters)
    if bound is not None:
        filters.append(Filter("last_modified", Op.MAX, bound))
    objects = await res.list_objects(
        ctx,
        scope,
        resource,
        parent,
        filters,
        sorting,
        rules,
        limit + 1,
        query.include_deleted,
    )
    more = len(objects) > limit
    objects = objects[:limit]
    next_url = None
    if more and objects:
        last = {s.field: extract(objects[-1], s.field) for s in sorting}
        last = {k: v for k, v in last.items() if v is not MISSING}
        token = encode_token(last, offset + len(objects), bound)
        next_url = req.url(_token=token, _limit=str(limit))
    return objects, next_url


def _project(obj: JSONObject, fields: list[str] | None) -> JSONObject:
    if not fields or obj.get("deleted"):
        return obj
    out: JSONObject = {"id": obj["id"], "last_modified": obj["last_modified"]}
    for name in fields:
        top = name.split(".")[0]
        if top in obj:
            out[top] = obj[top]
    return out


async def post_list(ctx: Context, req: ApiRequest) -> ApiResponse:
    check_path_ids(req.path)
    resource, parent, _ = locate(req.path)
    body = _body(req, resource)
    data = _written_data(resource, body, None) if body.data is not None else {}
    if resource is res.ACCOUNT and "id" not in data:
        raise InvalidParameters.at("body", "data.id", "data.id in body: Required")
    object_id = data.get("id") or writes.generate_id(resource)
    if not writes.valid_object_id(resource, object_id):
        raise invalid_id()
    async with unit_of_work(ctx):
        existing, parents, creatable = await writes.fetch_creatable(
            ctx, req.user, resource, parent, object_id
        )
        if existing is not None:
            found = await res.get_object(ctx, req.user, resource, parent, object_id)
            check_preconditions(req, existing["last_modified"], existing)
            return object_response(200, resource, found.obj, found.permissions, req)
        if not creatable:
            raise res.deny(req.user)
        await check_absent(ctx, req, resource, parent)
        written = await writes.save(
            ctx,
            req.user,
            resource,
            parent,
            object_id,
            data,
            body.permissions or None,
            existing=None,
            replace_permissions=True,
            parents=parents,
            writable_checked=True,
        )
    return object_response(201, resource, written.obj, written.permissions, req)


async def delete_list(ctx: Context, req: ApiRequest) -> ApiResponse:
    check_path_ids(req.path)
    resource, parent, _ = locate(req.path)
    async with unit_of_work(ctx):
        scope = await res.list_scope(ctx, req.user, resource, parent)
        query = parse_list_query(req.query, await _known_fields(ctx, resource, parent))
        timestamp = await ctx.store.resource_timestamp(resource.name, parent)
        check_preconditions(req, timestamp)
        objects = await res.list_objects(
            ctx,
            scope,
            resource,
            parent,
            query.filters,
            query.sorting,
            [],
            _limit(ctx, query),
            False,
        )
        deleted = await writes.delete_many(ctx, req.user, resource, parent, objects)
        timestamp = await ctx.store.resource_timestamp(resource.name, parent)
    return ApiResponse(200, {"data": deleted}, read_headers(timestamp))
