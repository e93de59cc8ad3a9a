"""Creating, replacing and deleting objects, with cascades, group membership and schemas."""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from homeport.core.errors import InvalidParameters, ObjectNotFound, invalid_message, not_a_mapping
from homeport.core.ids import new_record_id, valid_id
from homeport.core.permissions import EVERYONE, bound_permissions
from homeport.core.records import strip_meta
from homeport.services import accounts
from homeport.services.context import Context, User
from homeport.services.handoff import require_primary
from homeport.services.resources import (
    ACCOUNT,
    BUCKET,
    COLLECTION,
    GROUP,
    RECORD,
    Parents,
    Resource,
    _touch,
    deny,
    fetch_path,
    find_object,
    get_existing,
    grants,
    is_allowed,
    path_objects,
    require,
)
from homeport.store.protocols import JSONObject, Permissions

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

    from homeport.services.schemas import Checker

SCHEMA_IGNORED = ("id", "last_modified", "schema", "attachment")


@dataclass
class Written:
    obj: JSONObject
    permissions: Permissions
    created: bool
    old: JSONObject | None


def generate_id(resource: Resource) -> str:
    if resource is RECORD:
        return new_record_id()
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


def valid_object_id(resource: Resource, object_id: Any) -> bool:
    return isinstance(object_id, str) and valid_id(object_id, resource.id_pattern)


async def may_create(ctx: Context, user: User, resource: Resource, parent_uri: str) -> bool:
    if resource is BUCKET:
        return await is_allowed(ctx, user, "root", "", "bucket:create")
    if resource is ACCOUNT:
        return await is_allowed(ctx, user, "root", "", "account:create")
    assert resource.parent is not None
    return await is_allowed(ctx, user, resource.parent, parent_uri, f"{resource.name}:create")


async def fetch_creatable(
    ctx: Context, user: User, resource: Resource, parent_uri: str, object_id: str
) -> tuple[JSONObject | None, Parents, bool]:
    """`fetch_path` with the object, and whether ``user`` may create it, in one read of the
    store: the object, its ancestors and the holders of the create permission on the parent
    or of write on the object (`require_writable` when the object does not exist). For a POST,
    where the object is new but for a retried one. Whether the user may create is meaningless
    when the object exists: check what that case needs."""
    if resource.parent is None:  # buckets and accounts: created by root permissions
        existing, parents = await fetch_path(ctx, parent_uri, resource, object_id)
        uri = resource.uri(parent_uri, object_id)
        creatable = existing is None and (
            await may_create(ctx, user, resource, parent_uri)
            or await is_allowed(ctx, user, resource.name, uri, "write")
        )
        return existing, parents, creatable
    uri = resource.uri(parent_uri, object_id)
    bound = bound_permissions(parent_uri, resource.parent, f"{resource.name}:create")
    bound += bound_permissions(uri, resource.name, "write")
    keys = [*path_objects(parent_uri), (resource.name, parent_uri, object_id)]
    found = await ctx.store.read_set(list(dict.fromkeys(bound)), keys)
    *ancestors, existing = found.objects
    parents = Parents([(k[0], k[2], o) for k, o in zip(keys, ancestors, strict=False)])
    return existing, parents, grants(ctx, user, resource.name, found.principals)


async def require_writable(
    ctx: Context, user: User, resource: Resource, parent_uri: str, object_id: str, *, exists: bool
) -> None:
    """Whether ``user`` may write this object (create it, when it does not exist).

    Checked before anything that depends on the object's content, preconditions included: a
    412 carries the current object, so answering it first let anyone read any record."""
    uri = resource.uri(parent_uri, object_id)
    if exists:
        await require(ctx, user, resource.name, uri, "write")
    elif not await may_create(ctx, user, resource, parent_uri) and not await is_allowed(
        ctx, user, resource.name, uri, "write"
    ):
        raise deny(user)


async def save(
    ctx: Context,
    user: User,
    resource: Resource,
    parent_uri: str,
    object_id: str,
    data: JSONObject,
    new_permissions: Permissions | None,
    *,
    existing: JSONObject | None,
    replace_permissions: bool,
    parents: Parents | None = None,
    current_permissions: Permissions | None = None,
    writable_checked: bool = False,
) -> Written:
    """Create or replace one object; the caller has fetched ``existing`` (None when absent)
    and may have checked `require_writable` already (``writable_checked``: one lookup less).

    The object itself is written last: on PostgreSQL that statement takes the collection's
    timestamp row lock, which concurrent writers of the collection queue on until commit (a
    batch's records take theirs at commit instead: `homeport.store.sql.settle`)."""
    require_primary(ctx)
    uri = resource.uri(parent_uri, object_id)
    ancestors: dict[str, JSONObject] = {}
    if not writable_checked:
        exists = existing is not None
        await require_writable(ctx, user, resource, parent_uri, object_id, exists=exists)
    if existing is None:
        if parents is None:
            parents = (await fetch_path(ctx, parent_uri))[1]
        ancestors = parents.require()
    else:
        if parents is not None:
            ancestors = {name: obj for name, _, obj in parents.found if obj is not None}
    body = await _prepare(ctx, user, resource, parent_uri, object_id, data, existing, ancestors)
    if current_permissions is not None:
        current = current_permissions  # the caller read them with ``existing``
    else:
        current = await ctx.store.get_permissions(uri) if existing is not None else {}
    merged = _merge_permissions(current, new_permissions, replace_permissions)
    merged.setdefault("write", set()).add(_author(ctx, user, resource, object_id))
    merged = {p: s for p, s in merged.items() if s}  # a permission emptied is no permission
    if existing is None:  # with its permissions: one statement on PostgreSQL
        stored = await ctx.store.create(resource.name, parent_uri, body, (uri, merged))
    else:
        if merged != current:
            await ctx.store.set_permissions(uri, merged)
        stored = await ctx.store.update(resource.name, parent_uri, object_id, body)
    _touch(resource.name, parent_uri)
    if resource is GROUP:
        await _sync_members(ctx, uri, stored, existing)
    return Written(stored, merged, existing is None, existing)


async def ensure_owned(
    ctx: Context, user: User, resource: Resource, parent_uri: str, object_id: str
) -> None:
    """Create an empty object owned by ``user`` unless it exists, with no permission check:
    Kinto's default bucket and its collections are made on first use this way."""
    if await find_object(ctx, resource, parent_uri, object_id) is not None:
        return
    await ctx.store.set_permissions(
        resource.uri(parent_uri, object_id), {"write": {_author(ctx, user, resource, object_id)}}
    )
    await ctx.store.create(resource.name, parent_uri, {"id": object_id})
    _touch(resource.name, parent_uri)


def _author(ctx: Context, user: User, resource: Resource, object_id: str) -> str:
    """Who gets ``write`` on what they wrote: the user; ``system.Everyone`` for anonymous
    writers; for accounts, always the account itself (as Kinto's accounts plugin does)."""
    if resource is ACCOUNT:
        return f"account:{object_id}"
    return user.user_id or EVERYONE


def _merge_permissions(
    current: Permissions, given: Permissions | None, replace: bool
) -> Permissions:
    if given is None:
        return {p: set(s) for p, s in current.items()}
    if replace:
        return {p: set(s) for p, s in given.items()}
    merged = {p: set(s) for p, s in current.items()}
    merged.update({p: set(s) for p, s in given.items()})
    return merged


async def _prepare(
    ctx: Context,
    user: User,
    resource: Resource,
    parent_uri: str,
    object_id: str,
    data: JSONObject,
    existing: JSONObject | None,
    parents: dict[str, JSONObject],
) -> JSONObject:
    body: JSONObject = {**strip_meta(data), "id": object_id}
    if "last_modified" in data:
        body["last_modified"] = data["last_modified"]
    if resource is COLLECTION and "schema" in body:
        _check_schema(body["schema"])
    if resource is GROUP and "members" in body:
        members = body["members"]
        if not isinstance(members, list):
            raise InvalidParameters.at("body", "data.members", f'"{members}" is not iterable')
        for i, member in enumerate(members):
            if not isinstance(member, str):
                raise InvalidParameters.at(
                    "body", f"data.members.{i}", f"{member} is not a string: {{'': ''}}"
                )
    if resource is RECORD:
        await _validate_record(ctx, parent_uri, body, parents.get("collection"))
    if resource is ACCOUNT:
        body = _account_body(ctx, user, body, existing)
    return body


def check_members(members: Any, name: str) -> None:
    """A group lists users: Kinto refuses ``system.Everyone`` and other groups as members, and
    names every bad one. ``name`` is where Kinto reports it: ``data.members`` from a PUT or
    POST body, ``members`` from a PATCH (checked on the patched group)."""
    if not isinstance(members, list):
        return  # the type is checked when the group is saved
    bad = [
        {"location": "body", "name": f"{name}.{i}", "description": f"'{m}' is not a valid user ID."}
        for i, m in enumerate(members)
        if isinstance(m, str) and (m.startswith("/buckets/") or m == EVERYONE)
    ]
    if bad:
        first = min(bad, key=lambda d: d["name"])  # Kinto words the message from the first name
        message = invalid_message("body", first["name"], first["description"])
        raise InvalidParameters(message, details=bad)


def _check_schema(schema: Any) -> None:
    if not isinstance(schema, dict):
        raise InvalidParameters.at("body", "data.schema", not_a_mapping(schema))
    from jsonschema.exceptions import SchemaError

    from homeport.services import schemas  # jsonschema: only for collections with a schema

    try:
        schemas.check(schema)
    except SchemaError as exc:
        prefix = str(exc.path[-1]) if exc.path else ""
        raise InvalidParameters.at("body", "data.schema", prefix + exc.message) from None
    except schemas.SchemaRefused as exc:
        raise InvalidParameters.at("body", "data.schema", str(exc)) from None


async def _validate_record(
    ctx: Context, parent_uri: str, body: JSONObject, collection: JSONObject | None
) -> None:
    if collection is None:
        bucket_uri, _, collection_id = parent_uri.rpartition("/collections/")
        try:
            collection = await ctx.store.get("collection", bucket_uri, collection_id)
        except ObjectNotFound:
            return
    schema = collection.get("schema")
    if not isinstance(schema, dict):
        return
    from jsonschema.exceptions import SchemaError

    from homeport.services import schemas

    instance = {k: v for k, v in body.items() if k not in SCHEMA_IGNORED}
    try:
        validator = _validator(ctx, schema, (parent_uri, collection["last_modified"]))
        error = await schemas.first_error(validator, instance)
    except (SchemaError, schemas.SchemaRefused) as exc:  # a schema stored before the checks
        raise InvalidParameters.at("body", "schema", getattr(exc, "message", str(exc))) from None
    except RecursionError:  # a schema whose $ref leads back to itself without consuming input
        raise InvalidParameters.at(
            "body", "data", "The collection's schema refers to itself endlessly"
        ) from None
    if error is not None:
        raise InvalidParameters.at("body", _error_field(error), error.message)
    body["schema"] = collection["last_modified"]


def _error_field(error: ValidationError) -> str:
    """Kinto names the leaf of the path, else the last required property, else the keyword."""
    if error.path:
        return str(error.path[-1])
    value = error.validator_value
    if isinstance(value, list) and value:
        return str(value[-1])
    return str(error.schema_path[-1])


def _validator(ctx: Context, schema: JSONObject, key: tuple[str, int]) -> Checker:
    """Compiled validators are cached per collection version: compiling dominates small writes."""
    cache: dict[tuple[str, int], Checker] = ctx.caches.setdefault("schemas", {})
    validator = cache.get(key)
    if validator is None:
        from homeport.services import schemas

        if len(cache) > 256:
            cache.clear()
        validator = schemas.compile_validator(schema)
        cache[key] = validator
    return validator


def _account_body(
    ctx: Context, user: User, body: JSONObject, existing: JSONObject | None
) -> JSONObject:
    admin = not user.principals.isdisjoint(ctx.settings.account_write_principals)
    if user.user_id is not None and not admin and user.user_id != f"account:{body['id']}":
        raise InvalidParameters.at("body", "data.id", "Username and account ID do not match.")
    password = body.get("password")
    if not isinstance(password, str) or not password:
        raise InvalidParameters.at("body", "data.password", "Required")
    if existing is None or password != existing.get("password"):
        # A PATCH without a password carries the stored hash: hashing it again would lock
        # the account out. Anything else is a new password in clear.
        body["password"] = accounts.hash_password(ctx, password)
    accounts.forget_credentials(ctx)
    return body


async def _sync_members(
    ctx: Context, group_uri: str, group: JSONObject, old: JSONObject | None
) -> None:
    accounts.forget_principals(ctx)
    before = set(old.get("members", [])) if old else set()
    after = set(group.get("members", []))
    for member in before - after:
        await ctx.store.remove_user_principal(member, group_uri)
    for member in after - before:
        await ctx.store.add_user_principal(member, group_uri)


async def delete(
    ctx: Context,
    user: User,
    resource: Resource,
    parent_uri: str,
    object_id: str,
    precondition: Callable[[JSONObject], None] | None = None,
) -> JSONObject:
    """Delete one object after the write check; ``precondition`` (the caller's If-Match, say)
    sees the object before anything changes, so it is read once."""
    require_primary(ctx)
    uri = resource.uri(parent_uri, object_id)
    await require(ctx, user, resource.name, uri, "write")
    existing = await get_existing(ctx, resource, parent_uri, object_id)
    if precondition is not None:
        precondition(existing)
    dead = await ctx.store.delete(resource.name, parent_uri, object_id)
    _touch(resource.name, parent_uri)
    await _cascade(ctx, resource, uri, existing)
    return dead


async def _cascade(ctx: Context, resource: Resource, uri: str, existing: JSONObject) -> None:
    """Children vanish with their parent (no tombstones), as in Kinto."""
    await ctx.store.delete_permissions(uri)
    accounts.forget_principals(ctx)
    if resource is BUCKET:
        for child in (COLLECTION, GROUP):
            await ctx.store.delete_all(child.name, uri)
            await ctx.store.purge_deleted(child.name, uri)
        await ctx.store.delete_all(RECORD.name, uri + "/*")
        await ctx.store.purge_deleted(RECORD.name, uri + "/*")
        for group in await ctx.store.list_all(GROUP.name, uri, include_deleted=True):
            await ctx.store.remove_principal(f"{uri}/groups/{group['id']}")
    elif resource is COLLECTION:
        await ctx.store.delete_all(RECORD.name, uri)
        await ctx.store.purge_deleted(RECORD.name, uri)
    elif resource is GROUP:
        await ctx.store.remove_principal(uri)
    elif resource is ACCOUNT:
        accounts.forget_credentials(ctx)


async def delete_many(
    ctx: Context, user: User, resource: Resource, parent_uri: str, objects: list[JSONObject]
) -> list[JSONObject]:
    """Delete the listed objects the user may write (the API already filtered what it sees)."""
    require_primary(ctx)
    deleted = []
    for obj in objects:
        uri = resource.uri(parent_uri, obj["id"])
        if not await is_allowed(ctx, user, resource.name, uri, "write"):
            continue
        existing = await find_object(ctx, resource, parent_uri, obj["id"])
        if existing is None:
            continue
        deleted.append(await ctx.store.delete(resource.name, parent_uri, obj["id"]))
        await _cascade(ctx, resource, uri, existing)
    if deleted:
        _touch(resource.name, parent_uri)
    return deleted
