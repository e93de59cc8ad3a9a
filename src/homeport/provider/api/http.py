"""The protocol's HTTP plumbing: request bodies (bounded, JSON through ``jsonio``) and the one
mapping from what a handler raises to its JSON answer."""

from __future__ import annotations

import errno
import logging
import sqlite3
from collections.abc import Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from homeport import jsonio
from homeport.provider.api.context import Provider, provider_of
from homeport.provider.errors import ProviderError
from homeport.store.connection import DatabaseError
from homeport.store.protocols import ObjectStoreError, ObjectStoreFull
from homeport.web.bodies import BodyTooLarge, read_limited

log = logging.getLogger("homeport.provider")

MAX_JSON = 32 * 1024 * 1024


def error(exc: ProviderError) -> JSONResponse:
    return JSONResponse(exc.body(), exc.status)


async def read_body(request: Request, limit: int) -> bytes:
    try:
        return await read_limited(request, limit)
    except BodyTooLarge as exc:
        raise ProviderError(413, "too-large", str(exc)) from None


def json_of(body: bytes) -> dict[str, Any]:
    """A request body as a JSON object, parsed as every client's is (``jsonio.loads_untrusted``:
    no NaN, no nesting past its depth, no integer that would not be kept exactly)."""
    try:
        doc = jsonio.loads_untrusted(body or b"{}")
    except ValueError as exc:
        raise ProviderError(400, "bad-request", f"the body is not JSON we take: {exc}") from None
    if not isinstance(doc, dict):
        raise ProviderError(400, "bad-request", "the body must be a JSON object")
    return doc


def endpoint(
    handler: Callable[[Request, Provider], Any],
) -> Callable[[Request], Any]:
    """Map ProviderError to its JSON answer, and storage faults (a full disk) to theirs."""

    async def run(request: Request) -> Response:
        try:
            response: Response = await handler(request, provider_of(request))
            return response
        except ProviderError as exc:
            return error(exc)
        except ClientDisconnect:  # a cut connection: what arrived whole was kept
            log.info("%s %s: the client went away mid-request", request.method, request.url.path)
            return error(ProviderError(400, "bad-request", "the request was cut"))
        except (OSError, sqlite3.Error, DatabaseError, ObjectStoreError) as exc:
            return error(storage_error(exc))

    return run


async def storage_fault(request: Request, exc: Exception) -> Response:
    """The app's handler for storage faults raised outside ``endpoint`` (the live web's
    routes, the operator's page): the same answer as the protocol's."""
    assert isinstance(exc, (OSError, sqlite3.Error, DatabaseError, ObjectStoreError))
    return error(storage_error(exc))


def storage_error(exc: OSError | sqlite3.Error | DatabaseError | ObjectStoreError) -> ProviderError:
    """A full disk (or bucket) is the operator's problem and says so; other storage faults
    (PostgreSQL or S3 unreachable included) are 503 so the home retries later. Either way
    nothing was half-applied (see ``receive.publish``)."""
    full = (
        isinstance(exc, ObjectStoreFull)
        or (isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT))
        or (isinstance(exc, sqlite3.Error) and "full" in str(exc))
        or (isinstance(exc, DatabaseError) and exc.full)
    )
    log.error("storage fault: %s", exc)
    if full:
        return ProviderError(
            507, "provider-full", "the provider's disk is full: try again later or elsewhere"
        )
    return ProviderError(503, "storage-error", f"the provider could not store this: {exc}")
