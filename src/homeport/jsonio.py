"""JSON in and out: orjson, one parser for request bodies and stored documents alike.

Parsing and printing records dominates list pages (measured: json.loads + json.dumps were
over half of a 100-record page), and orjson does both several times faster. It refuses what is
not JSON or cannot be kept exactly: NaN and Infinity, numbers too big for a double (``1e400``),
lone surrogates (``"\\ud800"``), invalid UTF-8, nesting past 1024 levels.

`loads_untrusted` is for what a client sends. On top of that it refuses documents nested deeper
than `MAX_DEPTH` (the patch, schema and permission code walks them recursively) and integers
outside 64 bits, which orjson would silently turn into floats: refusing them writes nothing
instead of storing a value the client did not send.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

MAX_DEPTH = 64
"""Deepest nesting a request body may have (``{"data": {}}`` is 2)."""

INT_MIN, INT_MAX = -(2**63), 2**64 - 1
"""orjson keeps integers in this range exactly and turns the others into floats."""

_LONG_DIGITS = re.compile(rb"\d{19}")
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_INTEGER = re.compile(rb"(?<![\w.+-])-?\d+(?![\d.eE])")


class JSONRejected(ValueError):
    """Valid-looking JSON that the API refuses; the message says why, for the client."""


def loads(raw: bytes | str) -> Any:
    """Parse JSON; `ValueError` (orjson's ``JSONDecodeError``) when it is not JSON."""
    return orjson.loads(raw)


def loads_untrusted(raw: bytes | str) -> Any:
    """Parse a client's JSON; `ValueError` with a readable message when it is refused."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise JSONRejected(_reason(exc)) from None
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH and depth(value) > MAX_DEPTH:
        raise JSONRejected(f"JSON nested deeper than {MAX_DEPTH} levels")
    if _LONG_DIGITS.search(data):
        for literal in _INTEGER.findall(_STRING.sub(b'""', data)):
            if len(literal) > 21 or not INT_MIN <= int(literal) <= INT_MAX:
                shown = literal.decode() if len(literal) <= 30 else literal[:30].decode() + "…"
                raise JSONRejected(
                    f"Integer {shown} is outside 64 bits and cannot be kept exactly; "
                    "send it as a string"
                )
    return value


def _reason(exc: orjson.JSONDecodeError) -> str:
    message = str(exc)
    doc = exc.doc if isinstance(exc.doc, str) else ""
    for constant in ("-Infinity", "Infinity", "NaN"):
        if doc.startswith(constant, max(exc.pos - 1, 0)) or doc.startswith(constant, exc.pos):
            return f"{constant} is not valid JSON"
    if "infinity" in message:
        return f"Number too big to be stored in a double ({message})"
    if "depth limit" in message:
        return f"JSON nested deeper than {MAX_DEPTH} levels"
    return message


def depth(value: Any) -> int:
    """How deeply ``value`` nests lists and objects (a scalar is 0); iterative, so any depth."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


def dumps(obj: Any) -> bytes:
    try:
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def dumps_text(obj: Any) -> str:
    return dumps(obj).decode()
