"""Requests and responses as plain values, so HTTP routes and batch sub-requests share handlers."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl, urlencode

from homeport import jsonio
from homeport.core.errors import InvalidParameters, ModifiedMeanwhile, UnsupportedMediaType
from homeport.services.context import User

NO_BODY: Any = object()

JSON_TYPES = ("application/json", "application/merge-patch+json", "application/json-patch+json")


def parse_query(raw: str) -> list[tuple[str, str]]:
    """The querystring's pairs; percent-escapes that are not UTF-8 (a lone surrogate) are a 400,
    as in Kinto, rather than replacement characters that would match nothing."""
    try:
        return parse_qsl(raw, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidParameters.at(
            "querystring", None, "The querystring is not valid UTF-8 once percent-decoded"
        ) from None


@dataclass
class ApiRequest:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    user: User
    origin: str
    raw_body: bytes = b""
    parsed_body: Any = NO_BODY

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def content_type(self) -> str:
        return (self.header("content-type") or "application/json").split(";")[0].strip().lower()

    def json(self, *, required: bool = False) -> Any:
        """The JSON body; an empty body is ``{}`` unless required."""
        if self.parsed_body is not NO_BODY:
            return self.parsed_body
        if not self.raw_body.strip():
            if required:
                raise InvalidParameters.at("body", "body", "Required")
            self.parsed_body = {}
            return self.parsed_body
        if self.content_type not in self.accepted_types:
            description = f"Content-Type header should be one of {list(self.accepted_types)}"
            raise UnsupportedMediaType(
                description,
                details=[{"location": "header", "name": "Content-Type",
                          "description": description}],
            )
        try:
            parsed = jsonio.loads_untrusted(self.raw_body)
        except ValueError as exc:
            raise _body_error(f"Invalid JSON: {exc}") from None
        if not isinstance(parsed, (dict, list)):
            raise _body_error("Should be a JSON object or an array")
        self.parsed_body = parsed
        return parsed

    @property
    def accepted_types(self) -> tuple[str, ...]:
        return JSON_TYPES if self.method == "PATCH" else JSON_TYPES[:1]

    def url(self, **override: str) -> str:
        params = [(k, v) for k, v in self.query if k not in override]
        params += list(override.items())
        base = f"{self.origin}/v1{self.path}"
        return f"{base}?{urlencode(params)}" if params else base


@dataclass
class ApiResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        return jsonio.dumps(self.body)


def _body_error(message: str) -> InvalidParameters:
    """Kinto reports an unreadable body twice: what is wrong, and that a body is required."""
    return InvalidParameters(
        message,
        details=[
            {"location": "body", "name": "", "description": message},
            {"location": "body", "name": "", "description": "Required"},
        ],
    )


def quoted(timestamp: int) -> str:
    return f'"{timestamp}"'


def http_date(timestamp_ms: int) -> str:
    return formatdate(timestamp_ms / 1000, usegmt=True)


def timestamp_headers(timestamp: int) -> dict[str, str]:
    """The ETag and its date: on every read, and on a 412 (what the condition was checked
    against, so a client such as kinto.js can resolve the conflict)."""
    return {"ETag": quoted(timestamp), "Last-Modified": http_date(timestamp)}


ETAG_FORMAT = "The value should be integer between double quotes."


def _etag_value(name: str, raw: str) -> int | None:
    """``"123"`` → 123; ``*`` → None; anything else is refused as Kinto refuses it."""
    value = raw.strip()
    if value == "*":
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"' and value[1:-1].lstrip("-").isdigit():
        return int(value[1:-1])
    raise InvalidParameters.at("header", name, ETAG_FORMAT)


def check_preconditions(req: ApiRequest, current: int | None, existing: Any = None) -> None:
    """If-Match / If-None-Match against a timestamp (``None`` when the object is absent).

    As in Kinto, a quoted timestamp in If-None-Match is only a precondition for reads (it
    gives 304 there); ``*`` is one for every method.
    """
    if_match = req.header("if-match")
    if if_match is not None:
        wanted = _etag_value("If-Match", if_match)
        if current is None or (wanted is not None and wanted != current):
            raise _modified(existing, current)
    if_none_match = req.header("if-none-match")
    if if_none_match is not None:
        wanted = _etag_value("If-None-Match", if_none_match)
        if wanted is None and current is not None:
            raise _modified(existing, current)


def _modified(existing: Any, current: int | None) -> ModifiedMeanwhile:
    details = {"existing": existing} if existing is not None else None
    headers = timestamp_headers(current) if current is not None else None
    return ModifiedMeanwhile("Resource was modified meanwhile", details=details, headers=headers)


def not_modified(req: ApiRequest, current: int) -> bool:
    raw = req.header("if-none-match")
    if req.method not in ("GET", "HEAD") or raw is None:
        return False
    return _etag_value("If-None-Match", raw) == current


__all__ = [
    "NO_BODY",
    "ApiRequest",
    "ApiResponse",
    "check_preconditions",
    "http_date",
    "quoted",
    "timestamp_headers",
]
