"""Translate `core.query` filters and sorts into SQL, with the reference semantics of `matches`.

The SQL must agree with `homeport.core.query.matches` / `sort_objects` on every object, which is
checked by the conformance suite against both dialects. The rules that shape the SQL:

* a field is a JSON value, JSON ``null`` or MISSING, and MISSING is not ``null``;
* equality is JSON equality: numbers compare by value across int/float, booleans are not numbers;
* ``gt``/``lt``/``min``/``max`` only hold between a string and a string or a number and a number;
* ``not``/``exclude`` hold for missing fields (hence ``NOT COALESCE(…, FALSE)``, never bare NOT);
* ``like`` is a case-insensitive substring match with ``*`` as wildcard, on strings only;
* sort order by type rank (string, number, boolean, array, object), null/missing last ascending.

``id``, ``last_modified`` and ``deleted`` are columns, not part of the stored JSON, so they are
virtual fields here. SQL is built as `Frag` values (text + bound parameters) so parameters always
line up with their placeholders; placeholders are written ``?`` and a dialect may rewrite them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from homeport import jsonio
from homeport.core.query import Filter, Op, Sort, field_path

COLUMN_FIELDS = frozenset({"id", "last_modified", "deleted"})
_INT64 = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Frag:
    """A piece of SQL and the parameters its ``?`` placeholders bind, in order."""

    sql: str
    params: tuple[Any, ...] = ()

    def __add__(self, other: Frag | str) -> Frag:
        if isinstance(other, str):
            return Frag(self.sql + other, self.params)
        return Frag(self.sql + other.sql, self.params + other.params)

    def __radd__(self, other: str) -> Frag:
        return Frag(other + self.sql, self.params)


TRUE = Frag("(1=1)")
FALSE = Frag("(1=0)")


def join(sep: str, frags: Iterable[Frag]) -> Frag:
    parts = list(frags)
    return Frag(sep.join(f.sql for f in parts), tuple(p for f in parts for p in f.params))


def any_of(frags: Iterable[Frag]) -> Frag:
    parts = list(frags)
    return "(" + join(" OR ", parts) + ")" if parts else FALSE


def all_of(frags: Iterable[Frag]) -> Frag:
    parts = list(frags)
    return "(" + join(" AND ", parts) + ")" if parts else TRUE


def negate(cond: Frag) -> Frag:
    """NOT that treats an unknown (NULL) condition as false first, so MISSING stays included."""
    return "(NOT COALESCE(" + cond + ", FALSE))"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def sql_number(value: int | float) -> int | float:
    """Drivers bind 64-bit integers; a larger one compares like its float approximation."""
    if isinstance(value, int) and not -_INT64 <= value <= _INT64:
        return float(value)
    return value


def like_parts(pattern: str) -> list[str]:
    return pattern.split("*")


@dataclass(frozen=True, slots=True)
class Field:
    """Where a filter or sort field lives: a column (``kind``) or a JSON path in ``data``."""

    kind: str  # "json", "id", "last_modified", "deleted" or "missing"
    path: tuple[str, ...] = ()


def resolve(field: str) -> Field:
    path = tuple(field_path(field))
    if path[0] in COLUMN_FIELDS:
        return Field(path[0]) if len(path) == 1 else Field("missing")
    return Field("json", path)


class Dialect:
    """What differs between SQL engines: JSON access, a few functions, placeholders."""

    name = "abstract"
    greatest = "MAX"
    json_cast = ""
    for_update = ""

    def q(self, sql: str) -> str:
        """The statement text as the driver wants it (placeholder style)."""
        return sql

    def dump(self, obj: Any) -> str:
        return jsonio.dumps_text(obj)

    def load(self, raw: Any) -> Any:
        return jsonio.loads(raw) if isinstance(raw, (str, bytes)) else raw

    def in_list(self, column: str, values: Sequence[Any]) -> Frag:
        raise NotImplementedError

    def pairs_in(self, columns: tuple[str, str], pairs: Sequence[tuple[str, str]]) -> Frag:
        raise NotImplementedError

    def prefix(self, column: str, prefix: str) -> Frag:
        raise NotImplementedError

    # JSON field predicates; `f.kind` is always "json" here.
    def is_missing(self, f: Field) -> Frag:
        raise NotImplementedError

    def eq(self, f: Field, value: Any) -> Frag:
        raise NotImplementedError

    def compare(self, f: Field, sql_op: str, value: str | int | float) -> Frag:
        raise NotImplementedError

    def like(self, f: Field, pattern: str) -> Frag:
        raise NotImplementedError

    def like_column(self, column: str, pattern: str) -> Frag:
        raise NotImplementedError

    def contains(self, f: Field, values: Sequence[Any], any_: bool) -> Frag:
        raise NotImplementedError

    def sort_keys(self, f: Field) -> list[Frag]:
        raise NotImplementedError

    # --- shared compilation ------------------------------------------------------------------
    def filter(self, flt: Filter) -> Frag:
        f = resolve(flt.field)
        op, target = flt.op, flt.value
        if op is Op.EQ:
            return self._eq(f, target)
        if op is Op.NOT:
            return negate(self._eq(f, target))
        if op is Op.IN:
            return self._in(f, target)
        if op is Op.EXCLUDE:
            return negate(self._in(f, target))
        if op in (Op.GT, Op.LT, Op.MIN, Op.MAX):
            return self._compare(f, op, target)
        if op is Op.LIKE:
            return self._like(f, str(target))
        if op is Op.HAS:
            missing = self._missing(f)
            return negate(missing) if bool(target) else missing
        if op in (Op.CONTAINS, Op.CONTAINS_ANY):
            if f.kind != "json":
                return FALSE
            return self.contains(f, list(target), any_=op is Op.CONTAINS_ANY)
        raise ValueError(f"unknown operator {op}")

    def where(self, filters: Sequence[Filter]) -> Frag:
        return all_of(self.filter(f) for f in filters)

    def rules(self, rules: Sequence[Sequence[Filter]]) -> Frag:
        if not rules:
            return TRUE
        return any_of(self.where(group) for group in rules)

    def order_by(self, sorting: Sequence[Sort], one_parent: bool) -> Frag:
        """ORDER BY keys, then a tie-break so pages are deterministic.

        Within one parent ``last_modified`` is unique (every change takes a new timestamp), so a
        sort on it needs no tie-break and the ``(resource, parent, last_modified)`` index serves
        the default order without sorting.
        """
        keys: list[Frag] = []
        for sort in sorting:
            direction = " DESC" if sort.descending else ""
            keys.extend(k + direction for k in self._sort_keys(resolve(sort.field)))
        if not one_parent:
            keys.append(Frag("parent_id"))
        if not (one_parent and any(s.field == "last_modified" for s in sorting)):
            keys.append(Frag("id"))
        return join(", ", keys)

    def _missing(self, f: Field) -> Frag:
        if f.kind == "json":
            return self.is_missing(f)
        if f.kind == "deleted":
            return Frag("(NOT deleted)")
        return TRUE if f.kind == "missing" else FALSE

    def _eq(self, f: Field, target: Any) -> Frag:
        if f.kind == "json":
            return self.eq(f, target)
        if f.kind == "id":
            return Frag("(id = ?)", (target,)) if isinstance(target, str) else FALSE
        if f.kind == "last_modified":
            return (
                Frag("(last_modified = ?)", (sql_number(target),)) if is_number(target) else FALSE
            )
        if f.kind == "deleted":
            return Frag("deleted") if target is True else FALSE
        return FALSE

    def _in(self, f: Field, targets: Iterable[Any]) -> Frag:
        return any_of(self._eq(f, t) for t in targets)

    def _compare(self, f: Field, op: Op, target: Any) -> Frag:
        sql_op = {Op.GT: ">", Op.LT: "<", Op.MIN: ">=", Op.MAX: "<="}[op]
        if not (isinstance(target, str) or is_number(target)):
            return FALSE
        if is_number(target):
            target = sql_number(target)
        if f.kind == "json":
            return self.compare(f, sql_op, target)
        if f.kind == "id" and isinstance(target, str):
            return Frag(f"(id {sql_op} ?)", (target,))
        if f.kind == "last_modified" and is_number(target):
            return Frag(f"(last_modified {sql_op} ?)", (target,))
        return FALSE

    def _like(self, f: Field, pattern: str) -> Frag:
        if f.kind == "json":
            return self.like(f, pattern)
        if f.kind == "id":
            return self.like_column("id", pattern)
        return FALSE

    def _sort_keys(self, f: Field) -> list[Frag]:
        if f.kind == "json":
            return self.sort_keys(f)
        if f.kind in ("id", "last_modified"):
            return [Frag(f.kind)]
        if f.kind == "deleted":
            return [Frag("(CASE WHEN deleted THEN 3 ELSE 9 END)")]
        return []
