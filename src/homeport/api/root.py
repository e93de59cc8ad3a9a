"""Server-level endpoints: hello, heartbeat, flush and the permissions listing."""

from __future__ import annotations

from typing import Any

import homeport
from homeport.api.default_bucket import personal_bucket_id
from homeport.api.messages import ApiRequest, ApiResponse
from homeport.api.querystring import parse_list_query
from homeport.core.errors import MissingResource
from homeport.core.permissions import INHERITANCE, OBJECT_PERMISSIONS
from homeport.core.query import matches_all
from homeport.services import accounts
from homeport.services.context import Context
from homeport.services.resources import is_allowed

HTTP_API_VERSION = "1.23"


def capabilities(ctx: Context, origin: str) -> dict[str, Any]:
    caps: dict[str, Any] = {
        "accounts": {
            "description": "Manage user accounts.",
            "url": "https://kinto.readthedocs.io/en/latest/api/1.x/accounts.html",
            "validation_enabled": False,
        },
        "schema": {
            "description": "Validates collection records with JSON schemas.",
            "url": "https://kinto.readthedocs.io/en/latest/api/1.x/collections.html"
            "#collection-json-schema",
        },
        "attachments": {
            "description": "Add file attachments to records",
            "url": "https://github.com/Kinto/kinto-attachment/",
            "version": "7.0.0",
            "base_url": f"{origin}/attachments/",
        },
        "permissions_endpoint": {
            "description": "The permissions endpoint can be used to list all user objects "
            "permissions.",
            "url": "https://kinto.readthedocs.io/en/latest/configuration/settings.html",
        },
        "default_bucket": {
            "description": "The default bucket is an alias for a personal bucket where "
            "collections are created implicitly.",
            "url": "https://kinto.readthedocs.io/en/latest/api/1.x/buckets.html"
            "#personal-bucket-default",
        },
        "changes_stream": {
            "description": "Server-sent events of a collection's changes "
            "(GET …/collections/<cid>/changes).",
            "url": "docs/api.md#what-homeport-adds",
        },
    }
    if ctx.settings.flush_endpoint:
        caps["flush_endpoint"] = {
            "description": "The __flush__ endpoint can be used to remove all data from all "
            "backends.",
            "url": "https://kinto.readthedocs.io/en/latest/configuration/settings.html",
        }
    return caps


async def hello(ctx: Context, req: ApiRequest) -> ApiResponse:
    body: dict[str, Any] = {
        "project_name": "homeport",
        "project_version": homeport.__version__,
        "http_api_version": HTTP_API_VERSION,
        "project_docs": "https://kinto.readthedocs.io/en/latest/api/",
        "url": f"{req.origin}/v1/",
        "settings": ctx.settings.public_settings,
        "capabilities": capabilities(ctx, req.origin),
    }
    if req.user.user_id is not None:
        body["user"] = {
            "id": req.user.user_id,
            "principals": sorted(req.user.principals),
            "bucket": personal_bucket_id(req.user.user_id),
        }
    return ApiResponse(200, body)


async def heartbeat(ctx: Context, req: ApiRequest) -> ApiResponse:
    try:
        await ctx.store.resource_timestamp("heartbeat", "")
        healthy = True
    except Exception:  # any failure of the store is what a heartbeat reports, never a 500
        healthy = False
    body = {"storage": healthy, "permission": healthy, "cache": True}
    return ApiResponse(200 if healthy else 503, body)


async def lbheartbeat(ctx: Context, req: ApiRequest) -> ApiResponse:
    return ApiResponse(200, {})


async def flush(ctx: Context) -> ApiResponse:
    if not ctx.settings.flush_endpoint:
        raise MissingResource("The resource you are looking for could not be found.")
    await ctx.store.flush()
    ctx.caches.clear()
    await accounts.ensure_admin(ctx, ctx.settings.admin_password)
    return ApiResponse(202, {})


def _implied(resource: str, granted: set[str]) -> list[str]:
    """Permissions on an object implied by those set on it (write implies read…)."""
    rules = INHERITANCE.get(resource, {})
    implied = {
        perm
        for perm, sources in rules.items()
        if any(p in granted for p in sources.get(resource, ()))
    }
    return sorted(implied | granted)


async def permissions(ctx: Context, req: ApiRequest) -> ApiResponse:
    patterns = {
        "bucket": "/buckets/*",
        "collection": "/buckets/*/collections/*",
        "group": "/buckets/*/groups/*",
        "record": "/buckets/*/collections/*/records/*",
        "account": "/accounts/*",
    }
    bound = [
        (pattern, perm) for res, pattern in patterns.items() for perm in OBJECT_PERMISSIONS[res]
    ]
    found = await ctx.store.accessible_objects(req.user.principals, bound)
    entries: list[dict[str, Any]] = []
    root_perms = [
        perm
        for perm in ("account:create", "bucket:create")
        if await is_allowed(ctx, req.user, "root", "", perm)
    ]
    if root_perms:
        entries.append({"uri": "/", "resource_name": "root", "permissions": root_perms})
    for uri, granted in sorted(found.items()):
        parts = uri.strip("/").split("/")
        resource = parts[-2][:-1]
        entry: dict[str, Any] = {
            "uri": uri,
            "resource_name": resource,
            "id": parts[-1],
            "permissions": _implied(resource, granted),
        }
        for i in range(0, len(parts), 2):
            entry[f"{parts[i][:-1]}_id"] = parts[i + 1]
        entries.append(entry)
    filters = parse_list_query(req.query).filters
    return ApiResponse(200, {"data": [e for e in entries if matches_all(e, filters)]})
