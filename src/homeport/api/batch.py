"""``POST /v1/batch``: many requests in one round trip, answered one by one, as Kinto does.

Sub-requests run in order inside one transaction. A sub-request refused with a 4xx keeps its
place in ``responses`` and the others go on; an unexpected failure aborts and rolls back the whole
batch, so either every successful sub-request is stored or none is.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from homeport.api.messages import ApiRequest, ApiResponse
from homeport.api.routes import resolve
from homeport.core.errors import HomeportError, InvalidParameters
from homeport.services.context import Context
from homeport.services.resources import unit_of_work
from homeport.web.errors import error_body, error_headers

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _merge(defaults: Any, value: Any) -> Any:
    if isinstance(defaults, dict) and isinstance(value, dict):
        merged = copy.deepcopy(defaults)
        for key, item in value.items():
            merged[key] = _merge(merged.get(key), item)
        return merged
    return copy.deepcopy(value) if value is not None else copy.deepcopy(defaults)


def _validate(ctx: Context, body: Any) -> list[dict[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
        raise InvalidParameters.at("body", "requests", "Required")
    requests = body["requests"]
    limit = ctx.settings.batch_max_requests
    if limit and len(requests) > limit:
        raise InvalidParameters.at(
            "body", "requests", f"Number of requests is limited to {limit}"
        )
    defaults = body.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise InvalidParameters.at("body", "defaults", "Should be an object")
    merged = []
    for i, sub in enumerate(requests):
        if not isinstance(sub, dict):
            raise InvalidParameters.at("body", f"requests.{i}", "Should be an object")
        sub = _merge(defaults, sub)
        method = str(sub.get("method", "GET")).upper()
        path = sub.get("path")
        if method not in METHODS:
            raise InvalidParameters.at("body", f"requests.{i}.method", f"{method} is not one of "
                                       + ", ".join(METHODS))
        if not isinstance(path, str) or not path.startswith("/"):
            raise InvalidParameters.at("body", f"requests.{i}.path", "Required")
        if urlsplit(path).path.rstrip("/") in ("/batch", "/v1/batch"):
            raise InvalidParameters.at("body", f"requests.{i}.path", "Recursive call on /batch "
                                       "endpoint is forbidden.")
        sub["method"] = method
        merged.append(sub)
    return merged


async def batch(ctx: Context, req: ApiRequest) -> ApiResponse:
    subrequests = _validate(ctx, req.json(required=True))
    responses = []
    async with unit_of_work(ctx):
        for sub in subrequests:
            responses.append(await _run(ctx, req, sub))
    return ApiResponse(200, {"responses": responses})


async def _run(ctx: Context, parent: ApiRequest, sub: dict[str, Any]) -> dict[str, Any]:
    split = urlsplit(sub["path"])
    path = split.path
    if path.startswith("/v1/") or path == "/v1":
        path = path[3:] or "/"
    headers = {k.lower(): str(v) for k, v in (sub.get("headers") or {}).items()}
    body = sub.get("body")
    request = ApiRequest(
        method=sub["method"],
        path=path.rstrip("/") or "/",
        query=parse_qsl(split.query, keep_blank_values=True),
        headers={**parent.headers, "content-type": "application/json", **headers},
        user=parent.user,
        origin=parent.origin,
        parsed_body=body if body is not None else {},
        in_batch=True,
    )
    try:
        handler = resolve(request.method, request.path)
        response = await handler(ctx, request)
    except HomeportError as exc:
        if exc.code >= 500:
            raise
        response = ApiResponse(exc.code, error_body(exc), error_headers(exc))
    return {
        "status": response.status,
        "path": sub["path"],
        "body": response.body,
        "headers": response.headers,
    }
