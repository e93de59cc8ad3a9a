"""``POST /v1/batch``: many requests in one round trip, answered one by one, as Kinto does.

Sub-requests run in order inside one transaction. A sub-request refused with a 4xx keeps its
place in ``responses`` and the others go on; an unexpected failure aborts and rolls back the whole
batch, so either every successful sub-request is stored or none is.
"""

from __future__ import annotations

import copy
from typing import Any
from urllib.parse import urlsplit

from homeport.api.messages import ApiRequest, ApiResponse, parse_query, timestamp_headers
from homeport.api.routes import resolve
from homeport.core.errors import HomeportError, InvalidParameters, not_a_mapping
from homeport.services.context import Context
from homeport.services.resources import unit_of_work
from homeport.store.sql.settle import collecting, final, settle_json
from homeport.web.errors import error_body, error_headers

METHODS = ("GET", "HEAD", "DELETE", "TRACE", "POST", "PUT", "PATCH")
REQUEST_KEYS = ("method", "path", "headers", "body")


def _merge(defaults: Any, value: Any) -> Any:
    """Kinto's rule: what the request gives wins, ``null`` included (a null is a value, not a
    hole for the default to fill); mappings on both sides merge key by key."""
    if isinstance(defaults, dict) and isinstance(value, dict):
        merged = copy.deepcopy(defaults)
        for key, item in value.items():
            merged[key] = _merge(merged[key], item) if key in merged else copy.deepcopy(item)
        return merged
    return copy.deepcopy(value)


def _invalid(name: str, description: str) -> InvalidParameters:
    return InvalidParameters.at("body", name, description)


def _validate_one(i: int, sub: Any) -> dict[str, Any]:
    where = f"requests.{i}"
    if not isinstance(sub, dict):
        raise _invalid(where, not_a_mapping(sub))
    unknown = {k: v for k, v in sub.items() if k not in REQUEST_KEYS}
    if unknown:
        raise _invalid(where, f'Unrecognized keys in mapping: "{unknown}"')
    method = sub.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise _invalid(f"{where}.method", f'"{method}" is not one of ' + ", ".join(METHODS))
    path = sub.get("path")
    if path is None:
        raise _invalid(f"{where}.path", "Required")
    if not isinstance(path, str) or not path.startswith("/"):
        raise _invalid(f"{where}.path", "String does not match expected pattern")
    if urlsplit(path).path.rstrip("/") in ("/batch", "/v1/batch"):
        raise _invalid("requests", "Recursive call on /batch endpoint is forbidden.")
    for key in ("headers", "body"):
        if key in sub and not isinstance(sub[key], dict):
            raise _invalid(f"{where}.{key}", not_a_mapping(sub[key]))
    return {**sub, "method": method.upper()}


def _validate(ctx: Context, body: Any) -> list[dict[str, Any]]:
    """Every sub-request is checked before any runs: one bad entry refuses the whole batch."""
    if not isinstance(body, dict):
        raise InvalidParameters.at("body", "", not_a_mapping(body))
    requests = body.get("requests")
    if requests is None:
        raise _invalid("requests", "Required")
    if not isinstance(requests, list):
        raise _invalid("requests", f'"{requests}" is not iterable')
    limit = ctx.settings.batch_max_requests
    if limit and len(requests) > limit:
        raise _invalid("requests", f"Number of requests is limited to {limit}")
    defaults = body.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise _invalid("defaults", not_a_mapping(defaults))
    return [_validate_one(i, _merge(defaults, sub)) for i, sub in enumerate(requests)]


def _settle_headers(headers: dict[str, str], mapping: dict[int, int]) -> dict[str, str]:
    """A sub-response's ETag and Last-Modified with the timestamp assigned at commit."""
    etag = headers.get("ETag", "").strip('"')
    if not etag.isdigit() or final(int(etag), mapping) == int(etag):
        return headers
    return {**headers, **timestamp_headers(final(int(etag), mapping))}


async def batch(ctx: Context, req: ApiRequest) -> ApiResponse:
    subrequests = _validate(ctx, req.json(required=True))
    responses = []
    # The store may assign the batch's record timestamps at commit (PostgreSQL: the collection's
    # timestamp row is then locked for one statement, not for the whole batch); what the
    # sub-responses said before the commit is rewritten with the final values.
    with collecting() as settled:
        async with unit_of_work(ctx):
            for sub in subrequests:
                responses.append(await _run(ctx, req, sub))
    if settled:
        for answer in responses:
            answer["body"] = settle_json(answer["body"], settled)
            answer["headers"] = _settle_headers(answer["headers"], settled)
    return ApiResponse(200, {"responses": responses})


async def _run(ctx: Context, parent: ApiRequest, sub: dict[str, Any]) -> dict[str, Any]:
    split = urlsplit(sub["path"])
    path = split.path
    if path.startswith("/v1/") or path == "/v1":
        path = path[3:] or "/"
    headers = {"content-type": "application/json", **parent.headers}
    headers.update({k.lower(): str(v) for k, v in (sub.get("headers") or {}).items()})
    body = sub.get("body")
    if body is not None:
        # Kinto sends every sub-request body as plain JSON, whatever Content-Type it names.
        headers["content-type"] = "application/json"
    request = ApiRequest(
        method=sub["method"],
        path=path.rstrip("/") or "/",
        query=parse_query(split.query),
        headers=headers,
        user=parent.user,
        origin=parent.origin,
        parsed_body=body if body is not None else {},
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
        "path": "/v1" + request.path if request.path != "/" else "/v1/",
        "body": "" if response.body is None else response.body,
        "headers": {**response.headers, "Content-Type": "application/json"},
    }
