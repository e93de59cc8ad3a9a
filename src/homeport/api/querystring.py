"""Kinto's list querystring (filters, ``_sort``, ``_limit``, ``_token``…) into query values."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from homeport import jsonio
from homeport.core.errors import InvalidParameters
from homeport.core.query import PREFIXES, Filter, Op, Sort, native_value

LIST_OPS = (Op.IN, Op.EXCLUDE, Op.CONTAINS, Op.CONTAINS_ANY)
LONGEST_FIRST = sorted(PREFIXES.items(), key=lambda item: -len(item[0]))
"""``contains_any_`` must win over ``contains_``."""


MAX_FILTER_VALUES = 250
"""Values over all filters of one list request (``in_a=1,2`` counts 2); each becomes a term of
the SQL WHERE, and SQLite refuses expressions deeper than 1000."""
MAX_SORT_FIELDS = 20
"""Fields in ``_sort``; each becomes up to three ORDER BY terms and a pagination rule."""


@dataclass
class ListQuery:
    filters: list[Filter] = field(default_factory=list)
    sorting: list[Sort] = field(default_factory=list)
    limit: int | None = None
    token: dict[str, Any] | None = None
    fields: list[str] | None = None
    since: int | None = None

    @property
    def include_deleted(self) -> bool:
        """Kinto shows tombstones whenever the client filters on ``last_modified``."""
        return any(f.field == "last_modified" for f in self.filters)


def _number(name: str, raw: str) -> int:
    value = raw.strip().strip('"')
    if not value.lstrip("-").isdigit():
        raise InvalidParameters.at("querystring", name, f'"{raw}" is not a number')
    return int(value)


def _timestamp(name: str, raw: str) -> int:
    value = raw.strip().strip('"')
    if not value.lstrip("-").isdigit():
        raise InvalidParameters.at("querystring", name, f"Invalid value for {name}")
    return int(value)


def _array_value(raw: str) -> list[Any]:
    """``contains_`` and ``contains_any_`` take a JSON array, or else one value."""
    try:
        parsed = jsonio.loads_untrusted(raw)
    except ValueError:
        return [raw]
    return parsed if isinstance(parsed, list) else [parsed]


def _filter(key: str, raw: str) -> Filter:
    op, name = Op.EQ, key
    for prefix, candidate in LONGEST_FIRST:
        if key.startswith(prefix) and len(key) > len(prefix):
            op, name = candidate, key[len(prefix) :]
            break
    if name == "last_modified":
        if op in LIST_OPS:
            return Filter(name, op, [_timestamp(key, v) for v in raw.split(",")])
        return Filter(name, op, _timestamp(key, raw))
    if op in (Op.CONTAINS, Op.CONTAINS_ANY):
        return Filter(name, op, _array_value(raw))
    if op in LIST_OPS:
        return Filter(name, op, [native_value(v) for v in raw.split(",")])
    if op is Op.HAS:
        value = raw.strip().lower()
        if value not in ("true", "false", "1", "0"):
            raise InvalidParameters.at("querystring", key, "Should be a boolean")
        return Filter(name, op, value in ("true", "1"))
    if op is Op.LIKE:
        return Filter(name, op, raw)
    return Filter(name, op, native_value(raw))


def parse_list_query(
    params: Sequence[tuple[str, str]],
    known_fields: set[str] | None = None,
) -> ListQuery:
    """``known_fields`` (when the collection has a schema) restricts filter and sort fields."""
    query = ListQuery()
    for key, raw in params:
        if key == "_limit":
            limit = _number(key, raw)
            if limit < 0:
                raise InvalidParameters.at(
                    "querystring", key, f"{limit} is less than minimum value 0"
                )
            query.limit = limit or None
        elif key == "_token":
            query.token = decode_token(raw)
        elif key == "_sort":
            query.sorting = _sorting(raw, known_fields)
        elif key == "_fields":
            query.fields = [f for f in raw.split(",") if f]
        elif key == "_since":
            query.since = _number(key, raw)
            query.filters.append(Filter("last_modified", Op.GT, query.since))
        elif key in ("_before", "_to"):
            query.filters.append(Filter("last_modified", Op.LT, _number(key, raw)))
        elif key.startswith("_"):
            continue
        else:
            flt = _filter(key, raw)
            _check_known(flt.field, known_fields, "filter")
            query.filters.append(flt)
    _check_bounds(query)
    return query


def _check_bounds(query: ListQuery) -> None:
    values = sum(len(f.value) if isinstance(f.value, list) else 1 for f in query.filters)
    if values > MAX_FILTER_VALUES:
        raise InvalidParameters.at(
            "querystring", None, f"Too many filter values ({values}, at most {MAX_FILTER_VALUES})"
        )
    if len(query.sorting) > MAX_SORT_FIELDS:
        raise InvalidParameters.at(
            "querystring", "_sort", f"Too many sort fields (at most {MAX_SORT_FIELDS})"
        )


def _check_known(name: str, known: set[str] | None, what: str) -> None:
    if known is None or name.split(".")[0] in known:
        return
    location = "_sort" if what == "sort" else name
    raise InvalidParameters.at("querystring", location, f"Unknown {what} field '{name}'")


def _sorting(raw: str, known: set[str] | None) -> list[Sort]:
    sorting = []
    for part in raw.split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("-+")
        if not name:
            continue
        _check_known(name, known, "sort")
        sorting.append(Sort(name, descending))
    return sorting


def encode_token(last: dict[str, Any], offset: int, bound: int | None = None) -> str:
    """Kinto's token (``last_object``, ``offset``) plus the listing's ``bound`` when it has one.

    The bound is the collection timestamp at the first page: later pages list only what is not
    newer, so every page describes the same state and its ETag can be that bound.
    """
    token: dict[str, Any] = {"last_object": last, "offset": offset}
    if bound is not None:
        token["bound"] = bound
    payload = json.dumps(token, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def _counter(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def decode_token(raw: str) -> dict[str, Any]:
    """A token of ours or Kinto's; one without ``bound`` (Kinto's, or older) pages unbounded."""
    try:
        padded = raw + "=" * (-len(raw) % 4)
        token = jsonio.loads_untrusted(base64.urlsafe_b64decode(padded.encode()))
        if not isinstance(token, dict) or not isinstance(token.get("last_object"), dict):
            raise ValueError(raw)
        if not _counter(token.get("offset", 0)) or not _counter(token.get("bound", 0)):
            raise ValueError(raw)
        return token
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidParameters.at("querystring", None, "_token has invalid content") from None
