"""Requests and responses as plain values, so HTTP routes and batch sub-requests share handlers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from homeport.core.errors import BadJSON, InvalidParameters, ModifiedMeanwhile, UnsupportedMediaType
from homeport.services.context import User

NO_BODY: Any = object()

JSON_TYPES = ("application/json", "application/merge-patch+json", "application/json-patch+json")


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
    in_batch: bool = False

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
        if self.content_type not in JSON_TYPES:
            raise UnsupportedMediaType(
                f"Content-Type header should be one of {list(JSON_TYPES)}",
                details=[{"location": "header", "name": "Content-Type",
                          "description": f"Content-Type should be one of {list(JSON_TYPES)}"}],
            )
        try:
            self.parsed_body = json.loads(self.raw_body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidParameters.at("body", "body", f"Invalid JSON: {exc}") from None
        return self.parsed_body

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
        return json.dumps(self.body, separators=(",", ":"), ensure_ascii=False).encode()


def quoted(timestamp: int) -> str:
    return f'"{timestamp}"'


def _etag_value(raw: str) -> int | None:
    value = raw.strip().strip('"')
    return int(value) if value.lstrip("-").isdigit() else None


def check_preconditions(
    req: ApiRequest, current: int | None, existing: Any = None
) -> None:
    """If-Match / If-None-Match against a timestamp (``None`` when the object is absent)."""
    if_match = req.header("if-match")
    if if_match is not None:
        wanted = _etag_value(if_match)
        if if_match.strip() != "*" and wanted is None:
            raise InvalidParameters.at("header", "If-Match", "Invalid value for If-Match")
        if current is None or (if_match.strip() != "*" and wanted != current):
            raise _modified(existing)
    if_none_match = req.header("if-none-match")
    if if_none_match is not None and req.method not in ("GET", "HEAD"):
        if if_none_match.strip() == "*":
            if current is not None:
                raise _modified(existing)
        elif _etag_value(if_none_match) is None:
            raise InvalidParameters.at("header", "If-None-Match", "Invalid value for If-None-Match")
        elif current is not None and _etag_value(if_none_match) == current:
            raise _modified(existing)


def _modified(existing: Any) -> ModifiedMeanwhile:
    details = {"existing": existing} if existing is not None else None
    return ModifiedMeanwhile("Resource was modified meanwhile", details=details)


def not_modified(req: ApiRequest, current: int) -> bool:
    raw = req.header("if-none-match")
    return req.method in ("GET", "HEAD") and raw is not None and _etag_value(raw) == current


__all__ = ["NO_BODY", "ApiRequest", "ApiResponse", "BadJSON", "check_preconditions", "quoted"]
