"""JSON in and out of the hot paths: orjson, with the standard library as the fallback.

Parsing and printing records dominates list pages (measured: json.loads + json.dumps were
over half of a 100-record page), and orjson does both several times faster. It refuses a few
things the standard library accepts (integers beyond 64 bits); those take the slow path, so
every valid JSON document still round-trips. NaN and Infinity are not JSON and are refused.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def loads(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw, parse_constant=_reject_constant)


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def dumps_text(obj: Any) -> str:
    return dumps(obj).decode()
