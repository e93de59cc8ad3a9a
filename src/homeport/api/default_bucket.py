"""Kinto's ``default_bucket`` plugin: ``/buckets/default`` is each user's personal bucket.

kinto.js keeps its collections in the bucket ``default`` unless told otherwise. Every path under
``/buckets/default`` is served as the same path under the user's personal bucket, whose id is
derived from the user id; that bucket, and the collection the path names, are created on first
use and owned by the user, whatever ``bucket_create_principals`` says (as in Kinto).
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections.abc import Awaitable, Callable

from homeport.api.messages import ApiRequest, ApiResponse
from homeport.core.errors import HomeportError, InvalidParameters
from homeport.services import writes
from homeport.services.context import Context, User
from homeport.services.resources import BUCKET, COLLECTION, deny, unit_of_work

PREFIX = "/buckets/default"
Handler = Callable[[Context, ApiRequest], Awaitable[ApiResponse]]
Resolver = Callable[[str, str], Handler]


def is_default(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def personal_bucket_id(user_id: str) -> str:
    """A UUID made from the user id: the same after a restart or a restore. Kinto keys it with
    a server secret; it is not one here, as the bucket's permissions keep it private (another
    user gets 403 whether it exists or not)."""
    digest = hashlib.sha256(b"homeport default bucket\0" + user_id.encode()).hexdigest()
    return str(uuid.UUID(digest[:32]))


def _collection_named(req: ApiRequest) -> str | None:
    """The collection a path under the default bucket names, unless this request creates it
    itself (Kinto's test: a PUT whose path ends with the collection id)."""
    parts = req.path[len(PREFIX) :].strip("/").split("/")
    if len(parts) < 2 or parts[0] != "collections":
        return None
    collection_id = parts[1]
    if req.method == "PUT" and req.path.endswith(collection_id):
        return None
    if not writes.valid_object_id(COLLECTION, collection_id):
        raise InvalidParameters.at("path", None, "Invalid collection id")
    return collection_id


async def ensure(
    ctx: Context, user: User, bucket_id: str, collection_id: str | None, *, bucket: bool = True
) -> None:
    """Create the personal bucket (unless ``bucket`` is false: the request creates it) and
    the named collection when they are missing."""
    async with unit_of_work(ctx):
        if bucket:
            await writes.ensure_owned(ctx, user, BUCKET, "", bucket_id)
        if collection_id is not None:
            await writes.ensure_owned(ctx, user, COLLECTION, f"/buckets/{bucket_id}",
                                      collection_id)


async def bucket_for(ctx: Context, user: User, bucket_id: str, collection_id: str) -> str:
    """The bucket id of a route outside the route table (an attachment, a change stream):
    ``default`` is the user's personal bucket, made on first use as for any other path."""
    if bucket_id != "default":
        return bucket_id
    if user.user_id is None:
        raise deny(user)
    personal = personal_bucket_id(user.user_id)
    if not writes.valid_object_id(COLLECTION, collection_id):
        raise InvalidParameters.at("path", None, "Invalid collection id")
    await ensure(ctx, user, personal, collection_id)
    return personal


def _with_bucket_id(req: ApiRequest, bucket_id: str) -> None:
    """Kinto replaces ``default`` in a posted ``data.id`` with the bucket id (a PUT of
    ``/buckets/default`` with ``{"data": {"id": "default"}}`` must name the same bucket)."""
    if req.method not in ("PUT", "POST", "PATCH"):
        return
    try:
        body = req.json()
    except HomeportError:
        return  # the handler refuses the body with the same error
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        data["id"] = data["id"].replace("default", bucket_id)


async def dispatch(ctx: Context, req: ApiRequest, resolve: Resolver) -> ApiResponse:
    if req.user.user_id is None:
        raise deny(req.user)
    bucket_id = personal_bucket_id(req.user.user_id)
    path = f"/buckets/{bucket_id}{req.path[len(PREFIX):]}"
    handler = resolve(req.method, path)  # an unknown path or method creates nothing
    creates_bucket = req.method == "PUT" and req.path == PREFIX
    await ensure(ctx, req.user, bucket_id, _collection_named(req), bucket=not creates_bucket)
    _with_bucket_id(req, bucket_id)
    return await handler(ctx, dataclasses.replace(req, path=path))
