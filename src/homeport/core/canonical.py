"""Canonical JSON (RFC 8785, JCS): equal data gives equal bytes, so equal data gets equal ids.

Keys sorted by UTF-16 code units, no whitespace, strings escaped minimally, numbers written as
ECMAScript writes them (integers plainly; other floats in the shortest round-trip form).
"""

from __future__ import annotations

import json
import math
from typing import Any

_escape = json.JSONEncoder(ensure_ascii=False).encode


class CanonicalError(ValueError):
    """A value JSON cannot represent canonically (NaN, infinity, non-string keys…)."""


def _number(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise CanonicalError("NaN and infinity are not JSON")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    digits, _, exponent = repr(value).partition("e")
    mantissa = digits.replace(".", "").lstrip("-").lstrip("0") or "0"
    sign = "-" if value < 0 else ""
    # decimal exponent of the first significant digit
    whole, _, frac = digits.lstrip("-").partition(".")
    leading_zeros = len(frac) - len(frac.lstrip("0"))
    point = len(whole.lstrip("0")) if whole.strip("0") else -leading_zeros
    point += int(exponent) if exponent else 0
    mantissa = mantissa.rstrip("0") or "0"
    n = len(mantissa)
    if -6 < point <= 21:
        if point <= 0:
            return f"{sign}0.{'0' * -point}{mantissa}"
        if point >= n:
            return f"{sign}{mantissa}{'0' * (point - n)}"
        return f"{sign}{mantissa[:point]}.{mantissa[point:]}"
    exp = point - 1
    head = mantissa[0] + ("." + mantissa[1:] if n > 1 else "")
    return f"{sign}{head}e{'+' if exp > 0 else '-'}{abs(exp)}"


def _encode(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        out.append(_number(value))
    elif isinstance(value, str):
        out.append(_escape(value))
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise CanonicalError("object keys must be strings")
        out.append("{")
        for i, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            if i:
                out.append(",")
            out.append(_escape(key))
            out.append(":")
            _encode(value[key], out)
        out.append("}")
    else:
        raise CanonicalError(f"not a JSON value: {type(value).__name__}")


def canonical(value: Any) -> bytes:
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode("utf-8")
