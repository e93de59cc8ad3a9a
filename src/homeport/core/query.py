"""Kinto's list query language as a small AST, with the reference evaluation in pure Python.

The API parses querystrings into `Filter` and `Sort` values; every storage backend turns the same
values into its own query. The Python evaluation here is the reference semantics that the memory
store uses and that SQL backends are checked against by the conformance suite.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

JSONObject = dict[str, Any]

MISSING: Any = object()
"""Sentinel for a field an object does not have."""


class Op(StrEnum):
    EQ = "eq"
    NOT = "not"
    IN = "in"
    EXCLUDE = "exclude"
    GT = "gt"
    LT = "lt"
    MIN = "min"
    MAX = "max"
    LIKE = "like"
    HAS = "has"
    CONTAINS = "contains"
    CONTAINS_ANY = "contains_any"


@dataclass(frozen=True, slots=True)
class Filter:
    field: str
    op: Op
    value: Any


@dataclass(frozen=True, slots=True)
class Sort:
    field: str
    descending: bool = False


PREFIXES: dict[str, Op] = {f"{op.value}_": op for op in Op}


def native_value(raw: str) -> Any:
    """Read a querystring value as Kinto does: JSON numbers, booleans and null; else the string."""
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the stack
        return raw
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    if isinstance(value, str):
        return value
    return raw


def field_path(field: str) -> list[str]:
    return field.split(".")


def extract(obj: Mapping[str, Any], field: str) -> Any:
    """The value at a dotted path, or MISSING."""
    current: Any = obj
    for part in field_path(field):
        if not isinstance(current, Mapping) or part not in current:
            return MISSING
        current = current[part]
    return current


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same_kind(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return True
    return type(a) is type(b)


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: numbers compare by value, booleans are not numbers."""
    if not _same_kind(a, b):
        return False
    return bool(a == b)


def like_regex(pattern: str) -> re.Pattern[str]:
    """Kinto's ``like_``: case-insensitive; without ``*`` a substring match, with ``*`` a
    wildcard pattern anchored at both ends (``a*`` starts with a)."""
    if "*" not in pattern:
        return re.compile(re.escape(pattern), re.IGNORECASE | re.DOTALL)
    parts = [re.escape(p) for p in pattern.split("*")]
    # \Z, not $: $ also matches before a final newline, and SQL backends' anchors do not.
    return re.compile("^" + ".*".join(parts) + r"\Z", re.IGNORECASE | re.DOTALL)


def _compare(value: Any, op: Op, target: Any) -> bool:
    if value is MISSING or value is None or not _same_kind(value, target):
        return False
    if isinstance(value, (bool, list, dict)):
        return False
    if op is Op.GT:
        return bool(value > target)
    if op is Op.LT:
        return bool(value < target)
    if op is Op.MIN:
        return bool(value >= target)
    return bool(value <= target)


def matches(obj: Mapping[str, Any], flt: Filter) -> bool:
    value = extract(obj, flt.field)
    op, target = flt.op, flt.value
    if op is Op.EQ:
        return value is not MISSING and json_equal(value, target)
    if op is Op.NOT:
        return value is MISSING or not json_equal(value, target)
    if op is Op.IN:
        return value is not MISSING and any(json_equal(value, t) for t in target)
    if op is Op.EXCLUDE:
        return value is MISSING or not any(json_equal(value, t) for t in target)
    if op in (Op.GT, Op.LT, Op.MIN, Op.MAX):
        return _compare(value, op, target)
    if op is Op.LIKE:
        return isinstance(value, str) and like_regex(str(target)).search(value) is not None
    if op is Op.HAS:
        return (value is not MISSING) == bool(target)
    if op is Op.CONTAINS:
        return isinstance(value, list) and all(any(json_equal(v, t) for v in value) for t in target)
    if op is Op.CONTAINS_ANY:
        return isinstance(value, list) and any(any(json_equal(v, t) for v in value) for t in target)
    raise ValueError(f"unknown operator {op}")


def matches_all(obj: Mapping[str, Any], filters: Iterable[Filter]) -> bool:
    return all(matches(obj, f) for f in filters)


def matches_rules(obj: Mapping[str, Any], rules: Sequence[Sequence[Filter]]) -> bool:
    """Pagination rules are an OR of AND groups; no rules means no restriction."""
    return not rules or any(matches_all(obj, group) for group in rules)


_TYPE_RANK = {str: 1, int: 2, float: 2, bool: 3, list: 4, dict: 5}


def _sort_key(value: Any) -> tuple[int, Any]:
    """Order within a type; across types follow PostgreSQL's jsonb order; missing/null last."""
    if value is MISSING or value is None:
        return (9, 0)
    rank = _TYPE_RANK.get(type(value), 6)
    if rank in (4, 5):
        return (rank, json.dumps(value, sort_keys=True))
    return (rank, value)


def sort_objects(objects: list[JSONObject], sorting: Sequence[Sort]) -> list[JSONObject]:
    """Stable multi-key sort: missing fields sort last ascending and first descending."""
    result = list(objects)
    for sort in reversed(sorting):
        field = sort.field

        def key(obj: JSONObject, field: str = field) -> tuple[int, Any]:
            return _sort_key(extract(obj, field))

        result.sort(key=key, reverse=sort.descending)
    return result


MAX_PREFIXES = 64
"""Bounds the rules to a few hundred groups whatever ``_sort`` asks for."""


def _last_value(last: Mapping[str, Any], field: str) -> Any:
    """``last`` is a page token's ``{field: value}`` (absent when missing) or a whole object."""
    return last[field] if field in last else extract(last, field)


def _no_value(field: str) -> list[list[Filter]]:
    """Missing and ``null`` sort together (last ascending): either one, as alternatives."""
    return [[Filter(field, Op.HAS, False)], [Filter(field, Op.EQ, None)]]


def _equal(field: str, value: Any, exact: bool) -> list[list[Filter]]:
    if value is MISSING or value is None:
        return _no_value(field) if exact else [[Filter(field, Op.HAS, False)]]
    return [[Filter(field, Op.EQ, value)]]


def _after(sort: Sort, value: Any) -> list[list[Filter]]:
    """Alternatives for "strictly after ``value``" on one key, missing/``null`` included."""
    if value is MISSING or value is None:
        if not sort.descending:
            return []  # nothing sorts after no value
        return [[Filter(sort.field, Op.HAS, True), Filter(sort.field, Op.NOT, None)]]
    if sort.descending:
        return [[Filter(sort.field, Op.LT, value)]]
    return [[Filter(sort.field, Op.GT, value)], *_no_value(sort.field)]


def pagination_rules(sorting: Sequence[Sort], last: Mapping[str, Any]) -> list[list[Filter]]:
    """Filters selecting what comes after ``last`` in ``sorting`` order (Kinto's paging rules).

    An OR of AND groups: equal on the first ``i`` keys and after ``last`` on key ``i``. Unlike
    Kinto's, objects without a value for a key (tombstones, optional fields) are placed where
    the sort puts them, so a page boundary next to them neither skips nor repeats any. Values
    of different JSON types under one key are not ordered by these rules. Each key without a
    value doubles the groups after it; past `MAX_PREFIXES` an explicit ``null`` is no longer
    matched as equal to a missing value (only a ``_sort`` of many such keys gets there).
    """
    rules: list[list[Filter]] = []
    prefixes: list[list[Filter]] = [[]]
    for sort in sorting:
        value = _last_value(last, sort.field)
        exact = len(prefixes) < MAX_PREFIXES
        for prefix in prefixes:
            rules.extend([*prefix, *after] for after in _after(sort, value))
        prefixes = [
            [*prefix, *eq] for prefix in prefixes for eq in _equal(sort.field, value, exact)
        ]
    return rules
