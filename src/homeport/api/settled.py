"""Answers with the timestamps a store assigned at commit (see `homeport.store.sql.settle`).

A handler runs inside `settle.collecting()`, so the store may defer record timestamps to commit;
what the handler answered with before the commit is rewritten here with the final values: the
``last_modified`` of bodies and the ETag and ``Last-Modified`` headers.
"""

from __future__ import annotations

from typing import Any

from homeport.api.messages import ApiResponse, timestamp_headers
from homeport.store.sql.settle import final, settle_json


def settle_headers(headers: dict[str, Any], mapping: dict[int, int]) -> dict[str, Any]:
    etag = headers.get("ETag")
    if not mapping or not isinstance(etag, str) or not etag.strip('"').isdigit():
        return headers
    provisional = int(etag.strip('"'))
    settled = final(provisional, mapping)
    if settled == provisional:
        return headers
    return {**headers, **timestamp_headers(settled)}


def settle_response(response: ApiResponse, mapping: dict[int, int]) -> ApiResponse:
    if not mapping:
        return response
    return ApiResponse(
        response.status,
        settle_json(response.body, mapping),
        settle_headers(response.headers, mapping),
    )
