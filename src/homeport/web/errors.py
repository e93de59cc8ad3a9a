"""The one mapping from domain errors to Kinto's JSON error shape."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from starlette.requests import ClientDisconnect

from homeport.core.errors import BackendUnavailable, Errno, HomeportError

log = logging.getLogger("homeport.web")


def reason(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


def error_body(exc: HomeportError) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": exc.code,
        "errno": int(exc.errno),
        "error": exc.title or reason(exc.code),
    }
    if exc.message is not None:
        body["message"] = exc.message
    if exc.details is not None:
        body["details"] = exc.details
    return body


def error_headers(exc: HomeportError) -> dict[str, str]:
    headers = dict(exc.headers)
    if exc.code == 401:
        headers.setdefault("WWW-Authenticate", 'Basic realm="Realm"')
    if exc.code == 503:
        headers.setdefault("Retry-After", "3")
    return headers


def unexpected(exc: BaseException) -> HomeportError:
    """Turn anything unforeseen into a clean error; the traceback goes to the log only."""
    if isinstance(exc, HomeportError):
        return exc
    if isinstance(exc, ClientDisconnect):  # a cut (or too slow) body: nothing was done
        log.info("the client went away before its request's body arrived")
        return HomeportError(
            "the request was cut before its body arrived", code=400, errno=Errno.BADJSON
        )
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return BackendUnavailable(
            "Service temporary unavailable due to overloading or maintenance, please retry later."
        )
    log.exception("unexpected error", exc_info=exc)
    return HomeportError(
        "A programmatic error occured, developers have been informed.",
        code=500,
        errno=Errno.UNDEFINED,
    )
