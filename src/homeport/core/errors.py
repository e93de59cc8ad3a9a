"""Domain errors with Kinto's stable error numbers.

Every layer raises these; the web layer maps them once to Kinto's JSON error shape and the CLI to
one line on stderr. The numbers are Kinto's (``kinto.core.errors.ERRORS``) so clients that switch on
``errno`` keep working.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class Errno(IntEnum):
    MISSING_AUTH_TOKEN = 104
    INVALID_AUTH_TOKEN = 105
    BADJSON = 106
    INVALID_PARAMETERS = 107
    MISSING_PARAMETERS = 108
    INVALID_POSTED_DATA = 109
    INVALID_RESOURCE_ID = 110
    MISSING_RESOURCE = 111
    MISSING_CONTENT_LENGTH = 112
    REQUEST_TOO_LARGE = 113
    MODIFIED_MEANWHILE = 114
    METHOD_NOT_ALLOWED = 115
    VERSION_NOT_AVAILABLE = 116
    CLIENT_REACHED_CAPACITY = 117
    FORBIDDEN = 121
    CONSTRAINT_VIOLATED = 122
    BACKEND = 201
    SERVICE_DEPRECATED = 202
    UNDEFINED = 999


class HomeportError(Exception):
    """An error a client can act on: HTTP status, Kinto errno, message and optional details.

    ``title`` overrides the ``error`` field, which is otherwise the HTTP reason phrase; a
    ``message`` of None leaves the field out, as Kinto does for some 404s.
    """

    code: int = 500
    errno: Errno = Errno.UNDEFINED
    title: str | None = None

    def __init__(
        self,
        message: str | None,
        *,
        details: Any = None,
        code: int | None = None,
        errno: Errno | None = None,
        headers: dict[str, str] | None = None,
        title: str | None = None,
    ) -> None:
        super().__init__(message or type(self).__name__)
        self.message = message
        self.details = details
        self.headers = headers or {}
        if code is not None:
            self.code = code
        if errno is not None:
            self.errno = errno
        if title is not None:
            self.title = title


class InvalidParameters(HomeportError):
    code = 400
    errno = Errno.INVALID_PARAMETERS
    title = "Invalid parameters"

    @classmethod
    def at(cls, location: str, name: str | None, description: str) -> InvalidParameters:
        """One invalid field, worded as Kinto words it (see ``invalid_message``)."""
        return cls(
            invalid_message(location, name, description),
            details=[{"location": location, "name": name, "description": description}],
        )


def invalid_message(location: str, name: str | None, description: str) -> str:
    """Kinto's rule: no name gives ``"<location>: <description>"``; a name already in the
    description gives the description alone; otherwise ``"<name> in <location>: <description>"``."""
    if name is None:
        return f"{location}: {description}"
    if name in description:
        return description
    return f"{name} in {location}: {description}"


def not_a_mapping(value: object) -> str:
    return f'"{value}" is not a mapping type: Does not implement dict-like functionality.'


def invalid_id() -> InvalidParameters:
    return InvalidParameters.at("path", None, "Invalid object id")


class InvalidPostedData(HomeportError):
    code = 400
    errno = Errno.INVALID_POSTED_DATA


class ObjectNotFound(HomeportError):
    """A bucket, collection, group, record or account that does not exist.

    Kinto answers errno 110 when the object asked for is missing and 111 when one of its
    parents is; neither body has a ``message``.
    """

    code = 404
    errno = Errno.INVALID_RESOURCE_ID

    def __init__(self, resource_name: str, object_id: str, *, parent: bool = False) -> None:
        super().__init__(
            None,
            details={"id": object_id, "resource_name": resource_name},
            errno=Errno.MISSING_RESOURCE if parent else None,
        )
        self.resource_name = resource_name
        self.object_id = object_id


class MissingResource(HomeportError):
    code = 404
    errno = Errno.MISSING_RESOURCE


class MethodNotAllowed(HomeportError):
    code = 405
    errno = Errno.METHOD_NOT_ALLOWED


class Unauthorized(HomeportError):
    code = 401
    errno = Errno.MISSING_AUTH_TOKEN


class Forbidden(HomeportError):
    code = 403
    errno = Errno.FORBIDDEN


class UnicityError(HomeportError):
    """An object with this id (or unique field) already exists."""

    code = 409
    errno = Errno.CONSTRAINT_VIOLATED


class ModifiedMeanwhile(HomeportError):
    """A precondition (If-Match / If-None-Match) failed."""

    code = 412
    errno = Errno.MODIFIED_MEANWHILE


class RequestTooLarge(HomeportError):
    code = 413
    errno = Errno.REQUEST_TOO_LARGE


class UnsupportedMediaType(HomeportError):
    code = 415
    errno = Errno.INVALID_PARAMETERS
    title = "Invalid parameters"


class NotAcceptable(HomeportError):
    code = 406
    errno = Errno.INVALID_PARAMETERS
    title = "Invalid parameters"


class HistoryGone(HomeportError):
    """A ``_since`` older than the compacted tombstones: the changes since then are incomplete."""

    code = 410
    errno = Errno.INVALID_PARAMETERS


class BackendUnavailable(HomeportError):
    """The storage backend cannot be reached; the client may retry."""

    code = 503
    errno = Errno.BACKEND
